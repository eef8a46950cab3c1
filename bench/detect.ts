/**
 * `yarn bench detect`: suspicious detection on a realistic day written through the pipeline's own
 * storage path. `--influencers` (2,000) influencers get a sample every minute of the last 25 hours
 * from the mock API's counts, stored by the result-handler's `storeResults` in its batch size;
 * then one detection pass, compared with the mock's truth (`suspiciousIds`): precision, recall,
 * the pass's time. (`yarn bench queries` measures the pass over 1,000,000 influencers.)
 */
import { suspiciousIds } from '@mockstagram/mock-api';
import { createPool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { freshSchema, idRange, writeHistory } from '@mockstagram/testkit';

const HOUR = 3_600_000;
const FIRST_ID = 1_000_000;

export async function detect(o: { influencers: number }): Promise<void> {
  const db = await freshSchema('bench_detect');
  const pool = createPool({ connectionString: db.url, max: 2 });
  try {
    await migrate({ pool });
    const end = Math.floor(Date.now() / HOUR) * HOUR;
    const t0 = Date.now();
    const stored = await writeHistory(pool, {
      ids: idRange(FIRST_ID, o.influencers),
      from: end - 25 * HOUR,
      to: end,
      stepMs: 60_000,
    });
    const seconds = (Date.now() - t0) / 1000;
    console.log(
      `stored ${stored} samples through storeResults in ${seconds.toFixed(0)} s (${Math.round(stored / seconds)} rows/s)`,
    );
    await pool.query(`CALL refresh_continuous_aggregate('follower_counts_hourly', NULL, NULL)`);
    const { rows } = await pool.query('SELECT * FROM detect_suspicious()');
    const truth = new Set(suspiciousIds(FIRST_ID, FIRST_ID + o.influencers - 1));
    const flagged = (
      await pool.query<{ id: number }>('SELECT influencer_id AS id FROM suspicious_influencers')
    ).rows.map((r) => r.id);
    const tp = flagged.filter((id) => truth.has(id)).length;
    console.log(
      `detection: ${Math.round(rows[0].duration_ms)} ms for ${rows[0].evaluated} influencers; flagged ${flagged.length}, truly suspicious ${truth.size}, ` +
        `true positives ${tp}: precision ${(tp / flagged.length).toFixed(4)}, recall ${(tp / truth.size).toFixed(4)}`,
    );
  } finally {
    await pool.end();
    await db.drop();
  }
}

/**
 * Cost of the statement of a flush (writeNewResults in sql/writeResults.ts), alone (no Kafka): rows of `--rows` each, `--rounds`
 * transactions on a fresh (migrated) schema, the same influencers every round so that from the
 * second round on every `influencer_latest` row is updated (the steady state).
 *
 *   yarn workspace @mockstagram/result-handler bench:statements --rows 5000 --rounds 10
 *   ... --fillfactor 50     # first ALTER TABLE influencer_latest SET (fillfactor = 50)
 *
 * Prints per round the time of the statement (= the transaction), parameters built included.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createPool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { freshSchema } from '../../../test/support/engines';
import { writeNewResults } from '../src/sql/writeResults';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '10' },
    fillfactor: { type: 'string', default: '' },
  },
});

async function main(): Promise<void> {
  const n = Number(args.rows);
  console.log(
    `command: yarn workspace @mockstagram/result-handler bench:statements ${process.argv.slice(2).join(' ')}`.trim(),
  );
  const db = await freshSchema('rh_stmt');
  const pool = createPool({ connectionString: db.url, max: 2 });
  try {
    await migrate({ pool });
    if (args.fillfactor)
      await pool.query(`ALTER TABLE influencer_latest SET (fillfactor = ${Number(args.fillfactor)})`);
    const start = Date.now() - 3600_000;
    for (let round = 0; round < Number(args.rounds); round++) {
      const rows = Array.from({ length: n }, (_, i) => ({
        jobId: randomUUID(),
        influencerId: 1_000_000 + i,
        username: `user_${i}`,
        followerCount: i * 3 + round,
        followingCount: i,
        observedAt: new Date(start + round * 60_000 + i).toISOString(),
      }));
      const t0 = performance.now();
      await writeNewResults(pool, rows);
      const total = performance.now() - t0;
      console.log(
        `round ${round}: ${n} rows  writeNewResults ${total.toFixed(0)} ms  (${Math.round((n / total) * 1000)} rows/s)`,
      );
    }
  } finally {
    await pool.end();
    await db.drop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

import { randomUUID } from 'node:crypto';
import { createPool, migrate, withTransaction } from '@mockstagram/shared';
import { freshSchema } from '../../../test/support/engines';
import { toColumns } from '../src/store';
import { insertFollowerCounts } from '../src/sql/insertFollowerCounts';
import { upsertInfluencerLatest } from '../src/sql/upsertInfluencerLatest';

async function main() {
  const db = await freshSchema('rh_tmp');
  const pool = createPool({ connectionString: db.url, max: 2 });
  await migrate({ pool });
  const n = Number(process.argv[2] ?? 5000);
  const start = Date.now() - 3600_000;
  for (let round = 0; round < 6; round++) {
    const rows = Array.from({ length: n }, (_, i) => ({
      jobId: randomUUID(), influencerId: 1_000_000 + i, username: `user_${i}`, followerCount: i * 3 + round, followingCount: i,
      observedAt: new Date(start + round * 60_000 + i).toISOString(),
    }));
    const t0 = performance.now();
    const cols = toColumns(rows);
    const t1 = performance.now();
    let t2 = 0, t3 = 0;
    await withTransaction(pool, async (c) => {
      const a = performance.now();
      await insertFollowerCounts(c, cols);
      t2 = performance.now() - a;
      const b = performance.now();
      await upsertInfluencerLatest(c, cols);
      t3 = performance.now() - b;
    });
    const t4 = performance.now();
    console.log(`n=${n} columns ${(t1 - t0).toFixed(1)} ms, insert ${t2.toFixed(0)} ms, upsert ${t3.toFixed(0)} ms, total ${(t4 - t0).toFixed(0)} ms`);
  }
  await pool.end();
  await db.drop();
}
main();

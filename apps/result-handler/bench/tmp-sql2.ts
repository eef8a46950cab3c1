import { randomUUID } from 'node:crypto';
import { createPool, migrate, withTransaction } from '@mockstagram/shared';
import { freshSchema } from '../../../test/support/engines';
import { toColumns } from '../src/store';

async function main() {
  const db = await freshSchema('rh_tmp');
  const pool = createPool({ connectionString: db.url, max: 2 });
  await migrate({ pool });
  const n = 5000;
  const start = Date.now() - 3600_000;
  const variants: Record<string, string> = {
    distinct: `INSERT INTO influencer_latest (influencer_id, username, follower_count, following_count, observed_at, updated_at)
     SELECT DISTINCT ON (r.influencer_id) r.influencer_id, r.username, r.follower_count, r.following_count, r.observed_at, now()
       FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[]) AS r (influencer_id, username, follower_count, following_count, observed_at)
      ORDER BY r.influencer_id, r.observed_at DESC
     ON CONFLICT (influencer_id) DO UPDATE SET username = EXCLUDED.username, follower_count = EXCLUDED.follower_count, following_count = EXCLUDED.following_count, observed_at = EXCLUDED.observed_at, updated_at = EXCLUDED.updated_at
      WHERE influencer_latest.observed_at < EXCLUDED.observed_at`,
    plain: `INSERT INTO influencer_latest (influencer_id, username, follower_count, following_count, observed_at, updated_at)
     SELECT r.influencer_id, r.username, r.follower_count, r.following_count, r.observed_at, now()
       FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[]) AS r (influencer_id, username, follower_count, following_count, observed_at)
     ON CONFLICT (influencer_id) DO UPDATE SET username = EXCLUDED.username, follower_count = EXCLUDED.follower_count, following_count = EXCLUDED.following_count, observed_at = EXCLUDED.observed_at, updated_at = EXCLUDED.updated_at
      WHERE influencer_latest.observed_at < EXCLUDED.observed_at`,
    selectonly: `SELECT count(*) FROM (SELECT DISTINCT ON (r.influencer_id) * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[]) AS r (influencer_id, username, follower_count, following_count, observed_at) ORDER BY r.influencer_id, r.observed_at DESC) x`,
    parseonly: `SELECT count(*) FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[])`,
  };
  for (let round = 0; round < 12; round++) {
    const rows = Array.from({ length: n }, (_, i) => ({
      jobId: randomUUID(), influencerId: 1_000_000 + i, username: `user_${i}`, followerCount: i * 3 + round, followingCount: i,
      observedAt: new Date(start + round * 60_000 + i).toISOString(),
    }));
    const c = toColumns(rows);
    const name = Object.keys(variants)[round % 4]!;
    const t = performance.now();
    await withTransaction(pool, (cl) => cl.query(variants[name]!, [c.influencerIds, c.usernames, c.followerCounts, c.followingCounts, c.observedAts]));
    console.log(name, (performance.now() - t).toFixed(0), 'ms');
  }
  await pool.end();
  await db.drop();
}
main();

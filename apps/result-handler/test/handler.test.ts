/**
 * ResultHandler in this process against the real Kafka broker and the real TimescaleDB:
 * rows and their values, influencer_latest, redelivery, poison messages, rows the database refuses.
 */
import { readDlqHeaders } from '@mockstagram/shared';
import {
  committedTotal,
  count,
  metricValue,
  produce,
  readTopic,
  result,
  resultMessage,
  setupEnv,
  startHandler,
  waitFor,
  type Env,
  type RunningHandler,
  SAMPLES_FROM,
} from './support';

let env: Env;
let rh: RunningHandler;
let groupId: string;

beforeAll(async () => {
  env = await setupEnv('rh_handler');
  groupId = `rh-handler-${Date.now()}`;
  rh = await startHandler(env, { groupId });
});

afterAll(async () => {
  await rh?.stop();
  await env?.close();
});

const rowsOf = (pool: Env['db']['pool'], from: number, to: number) =>
  count(pool, 'SELECT count(*) AS n FROM follower_counts WHERE influencer_id >= $1 AND influencer_id < $2', [from, to]);

describe('valid results', () => {
  // 100 influencers (1000000..1000099) × 20 samples each, one second apart.
  const results = Array.from({ length: 2000 }, (_, i) => result(i));

  it('stores 2,000 results as 2,000 rows with exactly the values sent', async () => {
    const written0 = await metricValue(rh.handler.metrics.rowsWritten);
    await produce(
      env.resultsTopic,
      results.map((r) => resultMessage(r)),
    );
    await waitFor('2000 rows', async () => (await rowsOf(env.db.pool, 1_000_000, 1_000_100)) === 2000);

    const { rows } = await env.db.pool.query(
      `SELECT influencer_id, observed_at, follower_count, following_count, job_id
         FROM follower_counts WHERE influencer_id < 1000100 ORDER BY influencer_id, observed_at`,
    );
    const actual = rows.map((r) => ({
      influencerId: Number(r.influencer_id),
      observedAt: (r.observed_at as Date).toISOString(),
      followerCount: Number(r.follower_count),
      followingCount: Number(r.following_count),
      jobId: r.job_id as string,
    }));
    const expected = results
      .map(({ influencerId, observedAt, followerCount, followingCount, jobId }) => ({
        influencerId,
        observedAt,
        followerCount,
        followingCount,
        jobId,
      }))
      .sort((a, b) => a.influencerId - b.influencerId || a.observedAt.localeCompare(b.observedAt));
    expect(actual).toEqual(expected);
    await waitFor(
      'rows_written metric',
      async () => (await metricValue(rh.handler.metrics.rowsWritten)) - written0 === 2000,
    );
    // Every offset is committed once the rows are stored.
    await waitFor('offsets committed', async () => (await committedTotal(groupId, env.resultsTopic)) === 2000);
  });

  it('keeps the newest sample per influencer in influencer_latest', async () => {
    const newest = new Map<number, (typeof results)[number]>();
    for (const r of results) {
      const seen = newest.get(r.influencerId);
      if (!seen || seen.observedAt < r.observedAt) newest.set(r.influencerId, r);
    }
    const { rows } = await env.db.pool.query(
      'SELECT influencer_id, username, follower_count, following_count, observed_at FROM influencer_latest WHERE influencer_id < 1000100 ORDER BY influencer_id',
    );
    expect(
      rows.map((r) => ({
        influencerId: Number(r.influencer_id),
        username: r.username as string,
        followerCount: Number(r.follower_count),
        followingCount: Number(r.following_count),
        observedAt: (r.observed_at as Date).toISOString(),
      })),
    ).toEqual(
      [...newest.values()]
        .sort((a, b) => a.influencerId - b.influencerId)
        .map(({ influencerId, username, followerCount, followingCount, observedAt }) => ({
          influencerId,
          username,
          followerCount,
          followingCount,
          observedAt,
        })),
    );
  });

  it('does not move influencer_latest back when an older result arrives later', async () => {
    const before = (await env.db.pool.query('SELECT * FROM influencer_latest WHERE influencer_id = 1000007')).rows[0];
    const older = result(7, {
      observedAt: new Date(SAMPLES_FROM - 3_600_000).toISOString(),
      followerCount: 1,
      username: 'renamed_long_ago',
    });
    await produce(env.resultsTopic, [resultMessage(older)]);
    await waitFor(
      'the older sample stored',
      async () =>
        (await count(
          env.db.pool,
          'SELECT count(*) AS n FROM follower_counts WHERE influencer_id = 1000007 AND observed_at = $1',
          [older.observedAt],
        )) === 1,
    );
    const after = (await env.db.pool.query('SELECT * FROM influencer_latest WHERE influencer_id = 1000007')).rows[0];
    expect(after).toEqual(before);
  });
});

describe('redelivery', () => {
  it('stores a result produced twice once, and counts one row written and one duplicate', async () => {
    const written0 = await metricValue(rh.handler.metrics.rowsWritten);
    const dup0 = await metricValue(rh.handler.metrics.rowsDuplicate);
    const r = result(0, { influencerId: 1_100_000, username: 'twice' });
    await produce(env.resultsTopic, [resultMessage(r)]);
    await produce(env.resultsTopic, [resultMessage(r)]);
    await waitFor(
      'both copies processed',
      async () => (await metricValue(rh.handler.metrics.rowsDuplicate)) - dup0 === 1,
    );
    expect(await rowsOf(env.db.pool, 1_100_000, 1_100_001)).toBe(1);
    expect((await metricValue(rh.handler.metrics.rowsWritten)) - written0).toBe(1);
  });
});

describe('poison messages', () => {
  it('dead-letters each with its reason and source, stores every valid one, and keeps running', async () => {
    const valid = Array.from({ length: 50 }, (_, i) => result(i, { influencerId: 1_200_000 + i, username: `ok_${i}` }));
    const base = result(0, { influencerId: 1_200_999, username: 'poison' });
    const poison = [
      { reason: 'not-json', why: 'not json', value: Buffer.from('this is {not json') },
      { reason: 'not-json', why: 'empty', value: Buffer.alloc(0) },
      {
        reason: 'invalid',
        why: 'wrong types',
        value: Buffer.from(JSON.stringify({ ...base, followerCount: '12' })),
        error: 'followerCount',
      },
      {
        reason: 'invalid',
        why: 'negative count',
        value: Buffer.from(JSON.stringify({ ...base, followingCount: -1 })),
        error: 'followingCount',
      },
      {
        reason: 'invalid',
        why: 'missing field',
        value: Buffer.from(JSON.stringify({ ...base, username: undefined })),
        error: 'username',
      },
      // Valid for the schema, refused by PostgreSQL: year 0 does not exist; text cannot hold NUL.
      {
        reason: 'db-rejected',
        why: 'year 0',
        value: Buffer.from(JSON.stringify({ ...base, observedAt: '0000-01-01T00:00:00.000Z' })),
        error: '22',
      },
      {
        reason: 'db-rejected',
        why: 'NUL in username',
        value: Buffer.from(JSON.stringify({ ...base, username: 'a\u0000b' })),
        error: '22',
      },
    ];
    const messages = valid.map((r) => resultMessage(r));
    poison.forEach((p, i) =>
      messages.splice(i * 7 + 3, 0, {
        key: `poison-${i}`,
        value: p.value,
        headers: { traceparent: `00-${'a'.repeat(31)}${i}-${'b'.repeat(16)}-01`, why: p.why },
      }),
    );
    const dlq0 = await metricValue(rh.handler.metrics.dlqMessages);
    await produce(env.resultsTopic, messages);

    const letters = await readTopic(env.dlqTopic, poison.length);
    await waitFor('valid rows', async () => (await rowsOf(env.db.pool, 1_200_000, 1_200_050)) === 50);
    expect(await rowsOf(env.db.pool, 1_200_999, 1_201_000)).toBe(0);
    expect((await metricValue(rh.handler.metrics.dlqMessages)) - dlq0).toBe(poison.length);
    expect(await metricValue(rh.handler.metrics.dlqMessages, { reason: 'db-rejected' })).toBe(2);

    expect(letters).toHaveLength(poison.length);
    for (const [i, p] of poison.entries()) {
      const letter = letters.find((l) => l.key === `poison-${i}`);
      expect(letter).toBeDefined();
      const info = readDlqHeaders(letter!.headers);
      expect({ why: p.why, reason: info.reason }).toEqual({ why: p.why, reason: p.reason });
      expect(info.stage).toBe('result-handler');
      expect(info.attempts).toBe(1);
      expect(info.sourceTopic).toBe(env.resultsTopic);
      expect(info.sourcePartition).toBeGreaterThanOrEqual(0);
      expect(Number(info.sourceOffset)).toBeGreaterThanOrEqual(0);
      if (p.error) expect(info.error).toContain(p.error);
      expect(letter!.value?.equals(p.value) ?? p.value.length === 0).toBe(true);
      expect(letter!.headers.traceparent?.toString()).toBe(`00-${'a'.repeat(31)}${i}-${'b'.repeat(16)}-01`);
    }

    // The source headers point at the original message.
    const all = await readTopic(env.resultsTopic, 2000 + 1 + 2 + messages.length);
    for (const letter of letters) {
      const info = readDlqHeaders(letter.headers);
      const original = all.find((m) => m.partition === info.sourcePartition && m.offset === info.sourceOffset);
      expect(original?.key).toBe(letter.key);
    }

    // Still consuming.
    const later = result(0, { influencerId: 1_200_500, username: 'after_poison' });
    await produce(env.resultsTopic, [resultMessage(later)]);
    await waitFor('a result after the poison', async () => (await rowsOf(env.db.pool, 1_200_500, 1_200_501)) === 1);
    expect(await rh.handler.isReady()).toBe(true);
  });
});

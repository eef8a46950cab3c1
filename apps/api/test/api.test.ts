/**
 * The api against a real TimescaleDB: every endpoint's answers (checked against the OpenAPI
 * document it serves), its errors, pagination, cache headers, rank / average without the
 * suspicious influencers, and the ratio without a division by zero.
 */
import { randomUUID } from 'node:crypto';
import { countsAt, profileOf } from '@mockstagram/mock-api';
import { storeResults } from '@mockstagram/result-handler';
import { idRange, writeHistory } from '@mockstagram/testkit';
import { detectSuspicious } from '../src/sql/detectSuspicious';
import { refreshRankings } from '../src/sql/refreshRankings';
import { ContractChecker, getJson, rawStatus, startApiEnv, type Answer, type ApiEnv } from './support';

const HOUR = 3_600_000;
const COUNTS = { suspiciousShare: 0.1 };
const IDS = idRange(1_000_000, 150);
const ZERO_FOLLOWING = 3_000_001;
const TIE_A = 3_000_002;
const TIE_B = 3_000_003;

let env: ApiEnv;
let contract: ContractChecker;
let end: number;
let suspicious: Set<number>;

/** Every item of a paged list, following nextCursor from the first page. */
async function allPages(path: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const answer: Answer = await get(`${path}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(answer.status).toBe(200);
    items.push(...answer.body.items);
    cursor = answer.body.nextCursor;
  } while (cursor);
  return items;
}

async function get(path: string): Promise<Answer> {
  const answer = await getJson(env.base, path);
  contract.check(path, answer);
  return answer;
}

beforeAll(async () => {
  env = await startApiEnv('api');
  end = Math.floor(Date.now() / HOUR) * HOUR;
  await writeHistory(env.pool, { ids: IDS, from: end - 26 * HOUR, to: end, stepMs: 5 * 60_000, counts: COUNTS });
  const observedAt = new Date(end - 60_000).toISOString();
  const extra = [
    { influencerId: ZERO_FOLLOWING, followerCount: 500, followingCount: 0 },
    { influencerId: TIE_A, followerCount: 77_777, followingCount: 10 },
    { influencerId: TIE_B, followerCount: 77_777, followingCount: 20 },
  ];
  await storeResults(
    env.pool,
    extra.map((e) => ({ ...e, jobId: randomUUID(), username: `extra_${e.influencerId}`, observedAt })),
  );
  await detectSuspicious(env.pool, {});
  await refreshRankings(env.pool);
  suspicious = new Set(
    (await env.pool.query<{ id: number }>('SELECT influencer_id AS id FROM suspicious_influencers')).rows.map(
      (r) => r.id,
    ),
  );
  contract = new ContractChecker((await getJson(env.base, '/api/v1/openapi.json')).body);
});

afterAll(async () => {
  await env?.close();
});

describe('GET /api/v1/influencers/:id', () => {
  it('answers the newest sample, ratio, rank and flag', async () => {
    const id = IDS.find((i) => !suspicious.has(i))!;
    const { status, body } = await get(`/api/v1/influencers/${id}`);
    expect(status).toBe(200);
    const last = countsAt(id, end - 5 * 60_000, COUNTS);
    expect(body).toMatchObject({
      id,
      username: last.username,
      followerCount: last.followerCount,
      followingCount: last.followingCount,
      suspicious: null,
    });
    expect(body.ratio).toBeCloseTo(last.followerCount / last.followingCount, 9);
    expect(body.lastSeenAt).toBe(new Date(end - 5 * 60_000).toISOString());
    const { rows } = await env.pool.query<{ rank: number }>(
      'SELECT rank FROM follower_rankings WHERE influencer_id = $1',
      [id],
    );
    expect(body.rank).toBe(rows[0].rank);
    expect(body.rankedAt).not.toBeNull();
  });

  it('a suspicious influencer has no rank, its flag and its history', async () => {
    const id = [...suspicious][0];
    const { body } = await get(`/api/v1/influencers/${id}`);
    expect(body.rank).toBeNull();
    expect(body.suspicious).toMatchObject({ reason: expect.stringMatching(/^(spike|erratic)$/) });
    expect(body.history).toEqual([expect.objectContaining({ event: 'flagged' })]);
  });

  it('history: the newest 20 flags and clears, newest first, times as ISO 8601', async () => {
    const id = IDS.find((i) => !suspicious.has(i))!;
    const { rows } = await env.pool.query<{ id: number }>(
      `INSERT INTO suspicious_detection_runs (started_at, finished_at, duration_ms, window_start, window_end, triggered_by, settings)
       VALUES (now(), now(), 1, now() - interval '1 day', now(), 'manual', '{}') RETURNING id`,
    );
    const at = (k: number) => new Date(end - (30 - k) * HOUR + 123);
    for (let k = 0; k < 25; k++) {
      await env.pool.query(
        'INSERT INTO suspicious_events (run_id, influencer_id, event, at, score, reason) VALUES ($1, $2, $3, $4, $5, $6)',
        [
          rows[0].id,
          id,
          k % 2 === 0 ? 'flagged' : 'cleared',
          at(k),
          k % 2 === 0 ? 6.5 + k : null,
          k % 2 === 0 ? 'spike' : null,
        ],
      );
    }
    try {
      const { body } = await get(`/api/v1/influencers/${id}`);
      expect(body.history).toHaveLength(20);
      expect(body.history[0]).toEqual({ event: 'flagged', at: at(24).toISOString(), score: 30.5, reason: 'spike' });
      expect(body.history[1]).toEqual({ event: 'cleared', at: at(23).toISOString(), score: null, reason: null });
      expect(body.history.map((e: { at: string }) => e.at)).toEqual(
        Array.from({ length: 20 }, (_, i) => at(24 - i).toISOString()),
      );
    } finally {
      await env.pool.query('DELETE FROM suspicious_events WHERE influencer_id = $1', [id]);
    }
  });

  it('ratio is null when following is 0', async () => {
    const { body } = await get(`/api/v1/influencers/${ZERO_FOLLOWING}`);
    expect(body).toMatchObject({ followingCount: 0, ratio: null });
  });

  it('404 for an id with nothing stored, 400 for a malformed one', async () => {
    const missing = await get('/api/v1/influencers/1999999');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toMatch(/no influencer 1999999/);
    for (const bad of ['abc', '0', '-5', '1e6', '99999999999999999']) {
      const answer = await get(`/api/v1/influencers/${bad}`);
      expect(answer.status).toBe(400);
      expect(answer.body.issues[0].parameter).toBe('id');
    }
    expect((await get('/api/v1/influencers/abc')).headers.get('cache-control')).toBe('no-store');
  });
});

describe('GET /api/v1/influencers/:id/series', () => {
  const id = IDS[3];

  it('raw by default for a day: every sample in the range, oldest first', async () => {
    const from = new Date(end - 2 * HOUR).toISOString();
    const to = new Date(end).toISOString();
    const { status, body } = await get(`/api/v1/influencers/${id}/series?from=${from}&to=${to}`);
    expect(status).toBe(200);
    expect(body.resolution).toBe('raw');
    expect(body.points).toHaveLength(24);
    const t0 = end - 2 * HOUR;
    expect(body.points[0]).toEqual({
      t: new Date(t0).toISOString(),
      followers: countsAt(id, t0, COUNTS).followerCount,
      following: countsAt(id, t0, COUNTS).followingCount,
      ratio: countsAt(id, t0, COUNTS).followerCount / countsAt(id, t0, COUNTS).followingCount,
    });
  });

  it.each([
    ['1m', 2 * HOUR, 24],
    ['1h', 24 * HOUR, 24],
    ['1d', 26 * HOUR, 2],
  ])(
    'resolution=%s: one point per bucket with a sample, the last sample of the bucket',
    async (resolution, span, points) => {
      const from = new Date(end - span).toISOString();
      const { body } = await get(
        `/api/v1/influencers/${id}/series?from=${from}&to=${new Date(end).toISOString()}&resolution=${resolution}`,
      );
      expect(body.resolution).toBe(resolution);
      expect(body.points.length).toBeGreaterThanOrEqual(points);
      if (resolution === '1h') {
        const bucket = end - 3 * HOUR;
        const point = body.points.find((p: { t: string }) => p.t === new Date(bucket).toISOString());
        expect(point.followers).toBe(countsAt(id, bucket + HOUR - 5 * 60_000, COUNTS).followerCount);
      }
    },
  );

  it('a known influencer with nothing in the range: no points (not a 404)', async () => {
    const from = new Date(end - 50 * 24 * HOUR).toISOString();
    const to = new Date(end - 50 * 24 * HOUR + 12 * HOUR).toISOString();
    for (const resolution of ['raw', '1m', '1h', '1d']) {
      const { status, body } = await get(
        `/api/v1/influencers/${id}/series?from=${from}&to=${to}&resolution=${resolution}`,
      );
      expect([resolution, status, body.points]).toEqual([resolution, 200, []]);
    }
  });

  it('refuses a resolution too fine for the range, saying which to use', async () => {
    const { status, body } = await get(
      `/api/v1/influencers/${id}/series?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&resolution=1m`,
    );
    expect(status).toBe(400);
    expect(body.message).toMatch(/resolution=1m serves ranges up to 7 days.*use resolution=1h/);
    expect(body.issues).toEqual([expect.objectContaining({ parameter: 'resolution' })]);
  });

  it('400 for bad dates, an empty range, unknown parameters; 404 for an unknown id', async () => {
    expect((await get(`/api/v1/influencers/${id}/series?from=yesterday`)).body.issues[0]).toMatchObject({
      parameter: 'from',
      message: expect.stringMatching(/ISO 8601/),
    });
    expect(
      (await get(`/api/v1/influencers/${id}/series?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`)).body.message,
    ).toMatch(/must be before to/);
    expect((await get(`/api/v1/influencers/${id}/series?resolution=5m`)).body.issues[0].parameter).toBe('resolution');
    expect((await get(`/api/v1/influencers/${id}/series?form=2026-01-01T00:00:00Z`)).body.message).toMatch(
      /unknown parameter\(s\) form/,
    );
    expect((await get('/api/v1/influencers/1999998/series')).status).toBe(404);
  });
});

describe('GET /api/v1/stats', () => {
  it('averages the influencers not suspicious and counts the rest', async () => {
    const { body } = await get('/api/v1/stats');
    const { rows } = await env.pool.query<{ avg: number; n: number; all: number }>(`
      SELECT avg(follower_count)::float8 AS avg, count(*)::int AS n, (SELECT count(*)::int FROM influencer_latest) AS all
        FROM influencer_latest l WHERE NOT EXISTS (SELECT 1 FROM suspicious_influencers s WHERE s.influencer_id = l.influencer_id)`);
    expect(suspicious.size).toBeGreaterThan(0);
    expect(body.averageFollowers).toBeCloseTo(rows[0].avg, 6);
    expect(body).toMatchObject({
      tracked: rows[0].all,
      ranked: rows[0].n,
      suspicious: suspicious.size,
      newestSampleAt: new Date(end - 60_000).toISOString(),
    });
  });
});

describe('GET /api/v1/rankings', () => {
  it('by followers: every ranked influencer once over the pages, rank 1..n, ties to the smaller id, no suspicious', async () => {
    const items = await allPages('/api/v1/rankings?limit=7');
    expect(items.length).toBe(IDS.length + 3 - suspicious.size);
    expect(items.map((i) => i.rank)).toEqual(items.map((_, k) => k + 1));
    for (let k = 1; k < items.length; k++) {
      const [a, b] = [items[k - 1], items[k]];
      expect(a.followerCount > b.followerCount || (a.followerCount === b.followerCount && a.id < b.id)).toBe(true);
    }
    expect(items.filter((i) => suspicious.has(i.id))).toEqual([]);
    const tie = items.filter((i) => i.followerCount === 77_777).map((i) => i.id);
    expect(tie).toEqual([TIE_A, TIE_B]);
  });

  it('by growth: highest first over the window, no suspicious, stable pages', async () => {
    const items = await allPages('/api/v1/rankings?by=growth&window=24h&limit=40');
    expect(items.length).toBeGreaterThan(100);
    expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
    expect(items.map((i) => i.position)).toEqual(items.map((_, k) => k + 1));
    for (let k = 1; k < items.length; k++) expect(items[k - 1].growth).toBeGreaterThanOrEqual(items[k].growth);
    expect(items.filter((i) => suspicious.has(i.id))).toEqual([]);
  });

  it('400 for a bad by, limit, window or cursor', async () => {
    expect((await get('/api/v1/rankings?by=likes')).body.issues[0].parameter).toBe('by');
    expect((await get('/api/v1/rankings?limit=0')).body.message).toMatch(/limit: must be a whole number from 1 to 500/);
    expect((await get('/api/v1/rankings?limit=5000')).status).toBe(400);
    expect((await get('/api/v1/rankings?window=24h')).body.message).toMatch(/window applies to by=growth only/);
    expect((await get('/api/v1/rankings?cursor=garbage')).body.issues[0].parameter).toBe('cursor');
    const other = (await get('/api/v1/suspicious?limit=1')).body.nextCursor;
    expect((await get(`/api/v1/rankings?cursor=${other}`)).body.message).toMatch(/not a cursor of this list/);
  });
});

describe('GET /api/v1/suspicious', () => {
  it('lists every flagged influencer once, most suspicious first', async () => {
    const items = await allPages('/api/v1/suspicious?limit=4');
    expect(new Set(items.map((i) => i.id))).toEqual(suspicious);
    expect(items).toHaveLength(suspicious.size);
    for (let k = 1; k < items.length; k++) expect(items[k - 1].score).toBeGreaterThanOrEqual(items[k].score);
    // The mock's suspicious accounts among these ids are the ones flagged.
    expect(suspicious).toEqual(new Set(IDS.filter((id) => profileOf(id, COUNTS).suspicious)));
  });
});

describe('HTTP', () => {
  it('sets Cache-Control and answers a matching If-None-Match with 304', async () => {
    expect((await get('/api/v1/stats')).headers.get('cache-control')).toBe('public, max-age=15');
    expect((await get('/api/v1/suspicious')).headers.get('cache-control')).toBe('public, max-age=60');
    // A range that ended hours ago: its body no longer changes (stats' computedAt moves with every refresh).
    const pastPath = `/api/v1/influencers/${IDS[0]}/series?from=${new Date(end - 6 * HOUR).toISOString()}&to=${new Date(end - 3 * HOUR).toISOString()}`;
    const past = await get(pastPath);
    expect(past.headers.get('cache-control')).toBe('public, max-age=300');
    const etag = past.headers.get('etag')!;
    expect(etag).toMatch(/^W\//);
    expect(await rawStatus(env.base, pastPath, { 'if-none-match': etag })).toBe(304);
    expect(await rawStatus(env.base, pastPath, { 'if-none-match': 'W/"other"' })).toBe(200);
  });

  it('404 with a pointer to the document for an unknown route; /healthz, /readyz, /metrics', async () => {
    const res = await fetch(`${env.base}/api/v1/nope`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toMatch(/openapi\.json/);
    expect((await fetch(`${env.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${env.base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${env.base}/metrics`)).text();
    expect(metrics).toMatch(/api_http_requests_total\{[^}]*route="\/api\/v1\/stats",status="200"[^}]*\} [1-9]/);
    expect(metrics).toMatch(
      /api_http_requests_total\{[^}]*route="\/api\/v1\/influencers\/:id",status="400"[^}]*\} [1-9]/,
    );
  });

  it('every documented path was answered (and checked against the document) by the tests above', () => {
    const templates = new Set([...contract.seen].map((s) => s.split(' ')[0]));
    for (const path of Object.keys(contract.doc.paths))
      if (path !== '/api/v1/openapi.json') expect(templates).toContain(path);
  });
});

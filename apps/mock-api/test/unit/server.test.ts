import { Registry } from '@mockstagram/shared';
import { bucketOf, countsAtBucket, profileOf, suspiciousIds, type CountsOptions } from '../../src/counts';
import { Faults, NO_FAULTS } from '../../src/faults';
import { createMockApiMetrics } from '../../src/metrics';
import { MockApiServer, PortInUseError } from '../../src/server';

const counts: CountsOptions = { seed: 42, bucketSeconds: 1, suspiciousShare: 0.02 };
const envDefaults = { ...NO_FAULTS, retryAfterSeconds: 3 };

let api: MockApiServer;
let base: string;

beforeAll(async () => {
  const registry = new Registry();
  api = new MockApiServer({
    idMin: 1_000_000,
    idMax: 1_999_999,
    counts,
    faults: new Faults(envDefaults),
    registry,
    metrics: createMockApiMetrics(registry),
  });
  const { port } = await api.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
});

afterAll(() => api.close(1000));
afterEach(() => api.faults.reset());

const get = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init);
const json = (res: Response) => res.json() as Promise<Record<string, unknown>>;
const setFaults = async (patch: object) => {
  const res = await get('/admin/faults', {
    method: 'PUT',
    body: JSON.stringify(patch),
    headers: { 'content-type': 'application/json' },
  });
  expect(res.status).toBe(200);
};

describe('GET /api/v1/influencers/:id', () => {
  test('200 with the deterministic counts of the request time bucket', async () => {
    for (const id of [1_000_000, 1_234_567, 1_999_999]) {
      const before = Date.now();
      const res = await get(`/api/v1/influencers/${id}`);
      const after = Date.now();
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = await json(res);
      // the request may straddle a bucket boundary: any bucket between start and end is right
      const candidates = [];
      for (let b = bucketOf(before, 1); b <= bucketOf(after, 1); b++)
        candidates.push({ pk: id, ...countsAtBucket(id, b, counts) });
      expect(candidates).toContainEqual(body);
      expect(Object.keys(body)).toEqual(['pk', 'username', 'followerCount', 'followingCount']);
    }
  });

  test('the Date header is a time whose bucket gives exactly the returned counts', async () => {
    for (let i = 0; i < 20; i++) {
      const id = 1_000_000 + i * 37_123;
      const res = await get(`/api/v1/influencers/${id}`);
      const date = Date.parse(res.headers.get('date') ?? '');
      expect(Number.isFinite(date)).toBe(true);
      expect(await json(res)).toEqual({ pk: id, ...countsAtBucket(id, bucketOf(date, 1), counts) });
    }
  });

  test('ignores a query string', async () => {
    const res = await get('/api/v1/influencers/1234567?fields=all');
    expect(res.status).toBe(200);
    expect((await json(res)).pk).toBe(1_234_567);
  });

  test('404 outside the id range', async () => {
    for (const id of [1, 999_999, 2_000_000]) {
      const res = await get(`/api/v1/influencers/${id}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: 'not_found' });
    }
  });

  test('400 for a malformed id', async () => {
    for (const id of ['abc', '-5', '1.5', '0', '1e6', '', '1234567/x', '99999999999999999999']) {
      const res = await get(`/api/v1/influencers/${id}`);
      expect([id, res.status]).toEqual([id, 400]);
      expect(await res.json()).toMatchObject({ error: 'invalid_id' });
    }
  });

  test('405 for other methods', async () => {
    const res = await get('/api/v1/influencers/1234567', { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    await res.text();
  });
});

describe('faults', () => {
  test('error rate 1 → 500', async () => {
    await setFaults({ errorRate: 1 });
    const res = await get('/api/v1/influencers/1234567');
    expect(res.status).toBe(500);
    await res.text();
  });

  test('rate-limit rate 1 → 429 with Retry-After', async () => {
    await setFaults({ rateLimitRate: 1, retryAfterSeconds: 2 });
    const res = await get('/api/v1/influencers/1234567');
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('2');
    await res.text();
  });

  test('malformed rate 1 → 200 with a body that is not JSON', async () => {
    await setFaults({ malformedRate: 1 });
    const res = await get('/api/v1/influencers/1234567');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.startsWith('{"pk":1234567')).toBe(true);
    expect(() => JSON.parse(text)).toThrow();
  });

  test('hang rate 1 → no answer before the client gives up', async () => {
    await setFaults({ hangRate: 1 });
    const started = Date.now();
    await expect(get('/api/v1/influencers/1234567', { signal: AbortSignal.timeout(300) })).rejects.toThrow(
      /abort|timeout/i,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    api.faults.reset();
    expect((await get('/api/v1/influencers/1234567')).status).toBe(200);
  });

  test('latency adds at least the configured milliseconds', async () => {
    await setFaults({ latencyMs: 150 });
    const started = performance.now();
    const res = await get('/api/v1/influencers/1234567');
    expect(performance.now() - started).toBeGreaterThanOrEqual(149);
    expect(res.status).toBe(200);
    await res.json();
  });

  test('a 50% error rate is roughly 50%', async () => {
    await setFaults({ errorRate: 0.5 });
    let errors = 0;
    for (let i = 0; i < 200; i++) {
      const res = await get('/api/v1/influencers/1234567');
      await res.text();
      if (res.status === 500) errors++;
    }
    expect(errors).toBeGreaterThan(60);
    expect(errors).toBeLessThan(140);
  });

  test('faults do not touch /healthz, /metrics or /admin', async () => {
    await setFaults({ errorRate: 1, hangRate: 1 });
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/metrics')).status).toBe(200);
    expect((await get('/admin/faults')).status).toBe(200);
  });
});

describe('/admin/faults', () => {
  test('GET shows the current settings (the environment defaults at first)', async () => {
    const res = await get('/admin/faults');
    expect(await res.json()).toEqual(envDefaults);
  });

  test('PUT validates and names the bad field; nothing changes', async () => {
    for (const [body, field] of [
      [{ errorRate: 2 }, 'errorRate'],
      [{ latencyMs: 'slow' }, 'latencyMs'],
      [{ retryAfterSeconds: -1 }, 'retryAfterSeconds'],
      [{ bogus: 1 }, 'bogus'],
    ] as const) {
      const res = await get('/admin/faults', { method: 'PUT', body: JSON.stringify(body) });
      expect(res.status).toBe(400);
      expect((await json(res)).message).toContain(field);
    }
    const notJson = await get('/admin/faults', { method: 'PUT', body: '{nope' });
    expect(notJson.status).toBe(400);
    expect((await json(notJson)).message).toMatch(/JSON/);
    expect(await (await get('/admin/faults')).json()).toEqual(envDefaults);
  });

  test('PUT is a partial update that changes behaviour; DELETE resets to the environment defaults', async () => {
    const put = await get('/admin/faults', { method: 'PUT', body: JSON.stringify({ errorRate: 1 }) });
    expect(await put.json()).toEqual({ ...envDefaults, errorRate: 1 });
    expect((await get('/api/v1/influencers/1234567')).status).toBe(500);

    const del = await get('/admin/faults', { method: 'DELETE' });
    expect(await del.json()).toEqual(envDefaults);
    expect((await get('/api/v1/influencers/1234567')).status).toBe(200);
  });

  test('405 for other methods, 404 for other admin paths', async () => {
    expect((await get('/admin/faults', { method: 'POST', body: '{}' })).status).toBe(405);
    expect((await get('/admin/other')).status).toBe(404);
  });
});

describe('service routes', () => {
  test('/healthz, /readyz, /metrics', async () => {
    expect(await (await get('/healthz')).json()).toEqual({ status: 'ok' });
    expect(await (await get('/readyz')).json()).toEqual({ status: 'ready' });
    await (await get('/api/v1/influencers/1234567')).text();
    const metrics = await (await get('/metrics')).text();
    expect(metrics).toMatch(/mock_api_requests_total\{status="200"\} \d+/);
    expect(metrics).toMatch(/mock_api_request_duration_seconds_count \d+/);
    expect(metrics).toMatch(/mock_api_faults_injected_total\{fault="error"\} \d+/);
  });

  test('unknown path → 404 JSON', async () => {
    const res = await get('/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not_found' });
  });
});

describe('lifecycle', () => {
  test('a taken port is a PortInUseError naming the port', async () => {
    const port = Number(new URL(base).port);
    const other = new MockApiServer({ idMin: 1, idMax: 2 });
    await expect(other.listen(port, '127.0.0.1')).rejects.toThrow(PortInUseError);
    await expect(other.listen(port, '127.0.0.1')).rejects.toThrow(`port ${port} is already in use`);
  });

  test('close() ends keep-alive and hung connections promptly', async () => {
    const server = new MockApiServer({ idMin: 1, idMax: 10, faults: new Faults({ ...NO_FAULTS, hangRate: 1 }) });
    const { port } = await server.listen(0, '127.0.0.1');
    const hung = fetch(`http://127.0.0.1:${port}/api/v1/influencers/1`).then(
      () => 'answered',
      () => 'dropped',
    );
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    await ready.text(); // leaves an idle keep-alive connection
    const started = Date.now();
    await server.close(10_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await hung).toBe('dropped');
    expect(server.ready).toBe(false);
  });
});

describe('/admin/suspicious', () => {
  it('lists the ids that buy followers in a range: the same as profileOf, about the configured share', async () => {
    const res = await get('/admin/suspicious?from=1000000&to=1009999');
    expect(res.status).toBe(200);
    const body = (await json(res)) as {
      from: number;
      to: number;
      ids: number[];
      suspiciousShare: number;
      seed: number;
    };
    const expected: number[] = [];
    for (let id = 1_000_000; id <= 1_009_999; id++) if (profileOf(id, counts).suspicious) expected.push(id);
    expect(body).toMatchObject({
      from: 1_000_000,
      to: 1_009_999,
      seed: counts.seed,
      suspiciousShare: counts.suspiciousShare ?? 0.02,
    });
    expect(body.ids).toEqual(expected);
    expect(body.ids).toEqual(suspiciousIds(1_000_000, 1_009_999, counts));
    expect(body.ids.length / 10_000).toBeGreaterThan(0.015);
    expect(body.ids.length / 10_000).toBeLessThan(0.025);
  });

  it('400 for a bound outside the id range or reversed; 405 for other methods', async () => {
    expect((await json(await get('/admin/suspicious?from=5'))).message).toMatch(
      /from must be an id within 1000000..1999999/,
    );
    expect((await json(await get('/admin/suspicious?from=1000010&to=1000000'))).message).toMatch(/must not be above/);
    expect((await get('/admin/suspicious', { method: 'DELETE' })).status).toBe(405);
  });
});

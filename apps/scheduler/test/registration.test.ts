import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createRegistry, startServiceHttp, type ServiceHttp } from '@mockstagram/shared';
import { parseCommand, UsageError } from '../src/commands';
import { influencerRoutes } from '../src/http';
import { InfluencerRegistry } from '../src/registry';
import { migratedSchema, quietLogger, type RegistryDb } from './support';

const run = promisify(execFile);

let db: RegistryDb;
let registry: InfluencerRegistry;

beforeAll(async () => {
  db = await migratedSchema('sched_reg');
  registry = new InfluencerRegistry({
    pool: db.pool,
    defaultIntervalSeconds: 60,
    rangeChunkSize: 1000,
    idsChunkSize: 100,
  });
});
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  await db.pool.query('TRUNCATE influencers');
});

async function rows() {
  const { rows } = await db.pool.query<{ id: number; active: boolean; every: number; offset: number }>(
    `SELECT id, active, fetch_interval_seconds AS every,
            extract(epoch FROM next_fetch_at - created_at)::float8 AS "offset"
     FROM influencers ORDER BY id`,
  );
  return rows;
}

describe('InfluencerRegistry', () => {
  test('registers a range in chunks, active, with the default interval, first fetch spread over one interval', async () => {
    const result = await registry.register({ range: { from: 1_000_000, to: 1_002_499 } });
    expect(result).toMatchObject({ requested: 2500, inserted: 2500, updated: 0, unchanged: 0 });
    const all = await rows();
    expect(all).toHaveLength(2500);
    expect(all[0].id).toBe(1_000_000);
    expect(all.at(-1)!.id).toBe(1_002_499);
    expect(all.every((r) => r.active && r.every === 60)).toBe(true);
    // Spread: offsets within [0, 60) s, and not bunched (each 6 s tenth of the interval gets a share).
    expect(all.every((r) => r.offset >= 0 && r.offset < 60)).toBe(true);
    const tenths = new Array<number>(10).fill(0);
    for (const r of all) tenths[Math.floor(r.offset / 6)] += 1;
    for (const n of tenths) expect(n).toBeGreaterThan(150); // 250 expected each
  });

  test('the spread is a deterministic function of the id', async () => {
    await registry.register({ ids: [7, 8, 9] });
    const first = (await rows()).map((r) => Math.round(r.offset * 1000));
    await db.pool.query('TRUNCATE influencers');
    await registry.register({ ids: [9, 8, 7] });
    expect((await rows()).map((r) => Math.round(r.offset * 1000))).toEqual(first);
  });

  test('registers a list (duplicates counted once) with an interval; spread: false makes them due now', async () => {
    const result = await registry.register({ ids: [5, 3, 5, 4] }, { intervalSeconds: 10, spread: false });
    expect(result).toMatchObject({ requested: 3, inserted: 3, updated: 0, unchanged: 0 });
    const all = await rows();
    expect(all.map((r) => [r.id, r.every])).toEqual([
      [3, 10],
      [4, 10],
      [5, 10],
    ]);
    expect(all.every((r) => r.offset === 0)).toBe(true);
    const { rows: due } = await db.pool.query('SELECT id FROM influencers WHERE next_fetch_at <= now()');
    expect(due).toHaveLength(3);
  });

  test('lists longer than a chunk are registered in several statements', async () => {
    const ids = Array.from({ length: 350 }, (_, i) => 2_000_000 + i * 3);
    expect(await registry.register({ ids })).toMatchObject({ requested: 350, inserted: 350 });
    expect(await rows()).toHaveLength(350);
  });

  test('re-registering re-activates inactive ones, keeps active ones on schedule, changes an interval only when given', async () => {
    await registry.register({ range: { from: 1, to: 10 } }, { spread: false });
    await db.pool.query(`UPDATE influencers SET next_fetch_at = now() + interval '1 hour' WHERE id <= 5`);
    expect(await registry.deactivate({ ids: [1, 2, 3] })).toMatchObject({ requested: 3, found: 3, changed: 3 });

    const again = await registry.register({ range: { from: 1, to: 12 } }, { spread: false });
    expect(again).toMatchObject({ requested: 12, inserted: 2, updated: 3, unchanged: 7 });
    const byId = new Map((await rows()).map((r) => [r.id, r]));
    expect([...byId.values()].every((r) => r.active)).toBe(true);
    expect(byId.get(1)!.offset).toBeLessThan(3600); // re-activated: fresh slot (now), not the old one
    expect(byId.get(4)!.offset).toBeGreaterThan(3500); // active: its schedule is kept

    const retimed = await registry.register({ ids: [4, 11] }, { intervalSeconds: 30 });
    expect(retimed).toMatchObject({ requested: 2, inserted: 0, updated: 2, unchanged: 0 });
    expect((await registry.get(4))!.fetchIntervalSeconds).toBe(30);
    expect((await registry.get(5))!.fetchIntervalSeconds).toBe(60);
  });

  test('deactivate and activate report found / changed; unknown ids are not created', async () => {
    await registry.register({ range: { from: 100, to: 109 } });
    expect(await registry.deactivate({ range: { from: 105, to: 120 } })).toMatchObject({
      requested: 16,
      found: 5,
      changed: 5,
    });
    expect(await registry.deactivate({ ids: [105, 106, 999] })).toMatchObject({ requested: 3, found: 2, changed: 0 });
    expect(await registry.activate({ ids: [105, 999] }, { spread: false })).toMatchObject({
      requested: 2,
      found: 1,
      changed: 1,
    });
    expect(await registry.get(999)).toBeUndefined();
    const row = await registry.get(105);
    expect(row).toMatchObject({ id: 105, active: true, fetchIntervalSeconds: 60, username: null });
    expect(row!.nextFetchAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    expect((await registry.get(106))!.active).toBe(false);
  });
});

describe('CLI arguments', () => {
  test('ranges, lists and a mix', () => {
    expect(parseCommand(['register', '1000000-1099999'])).toEqual({
      command: 'register',
      selections: [{ range: { from: 1_000_000, to: 1_099_999 } }],
      intervalSeconds: undefined,
      spread: true,
    });
    expect(parseCommand(['register', '1000001', '1000002', '--interval', '30', '--no-spread'])).toEqual({
      command: 'register',
      selections: [{ ids: [1_000_001, 1_000_002] }],
      intervalSeconds: 30,
      spread: false,
    });
    expect(parseCommand(['deactivate', '5,6', '10-20'])).toEqual({
      command: 'deactivate',
      selections: [{ ids: [5, 6] }, { range: { from: 10, to: 20 } }],
      spread: true,
    });
  });

  test.each([
    [['register'], 'register needs ids or ranges'],
    [['register', 'abc'], '"abc" is neither an id'],
    [['register', '20-10'], 'range.from must be <= range.to'],
    [['register', '0'], 'ids.0: an influencer id must be a positive integer'],
    [['register', '1-100000000'], 'at most 10,000,000 ids'],
    [['register', '1', '--interval', 'soon'], '--interval must be a whole number of seconds'],
    [['register', '1', '--interval', '0'], 'intervalSeconds must be > 0'],
    [['deactivate', '1', '--interval', '5'], '--interval is for register only'],
    [['frobnicate', '1'], 'unknown command "frobnicate"'],
    [['register', '1', '--fast'], 'unknown option "--fast"'],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });

  test('the CLI script registers through DATABASE_URL and says what it did; bad input exits 2 naming the problem', async () => {
    const cli = path.join(__dirname, '..', 'src', 'cli.ts');
    const env = { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
    const ok = await run(process.execPath, ['--import', 'tsx', cli, 'register', '300-399', '401'], { env });
    expect(ok.stdout).toContain('registered 300-399 (100 ids): 100 new');
    expect(ok.stdout).toContain('registered id 401: 1 new');
    const off = await run(process.execPath, ['--import', 'tsx', cli, 'deactivate', '300-309', '5000'], { env });
    expect(off.stdout).toContain('deactivated id 5000: 0 changed, 0 already deactivated, 1 not registered');
    expect(off.stdout).toContain('deactivated 300-309 (10 ids): 10 changed');
    const { rows: counts } = await db.pool.query<{ active: number; total: number }>(
      'SELECT count(*) FILTER (WHERE active)::int AS active, count(*)::int AS total FROM influencers',
    );
    expect(counts[0]).toEqual({ active: 91, total: 101 });

    const bad = await run(process.execPath, ['--import', 'tsx', cli, 'register', '10-1'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain('range.from must be <= range.to');
  });
});

describe('HTTP API', () => {
  let http: ServiceHttp;
  let base: string;
  beforeAll(async () => {
    http = await startServiceHttp({
      port: 0,
      portVariable: 'SCHEDULER_HTTP_PORT',
      host: '127.0.0.1',
      registry: createRegistry('scheduler-test'),
      logger: quietLogger,
      ready: () => true,
      routes: influencerRoutes(registry, quietLogger),
    });
    base = `http://127.0.0.1:${http.port}`;
  });
  afterAll(async () => {
    await http?.close();
  });

  async function call(
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${base}${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  test('POST /influencers with a range or ids; GET and DELETE one', async () => {
    expect(
      await call('POST', '/influencers', { range: { from: 10, to: 19 }, intervalSeconds: 15, spread: false }),
    ).toMatchObject({
      status: 200,
      body: { requested: 10, inserted: 10, updated: 0, unchanged: 0 },
    });
    expect(await call('POST', '/influencers', { ids: [19, 20] })).toMatchObject({
      status: 200,
      body: { requested: 2, inserted: 1, updated: 0, unchanged: 1 },
    });
    const one = await call('GET', '/influencers/12');
    expect(one).toMatchObject({
      status: 200,
      body: { id: 12, active: true, fetchIntervalSeconds: 15, username: null },
    });
    expect(typeof one.body.nextFetchAt).toBe('string');

    expect(await call('DELETE', '/influencers/12')).toMatchObject({ status: 200, body: { id: 12, active: false } });
    expect(await call('POST', '/influencers/deactivate', { range: { from: 13, to: 14 } })).toMatchObject({
      status: 200,
      body: { requested: 2, found: 2, changed: 2 },
    });
    expect(await call('POST', '/influencers/activate', { ids: [12, 13, 77] })).toMatchObject({
      status: 200,
      body: { requested: 3, found: 2, changed: 2 },
    });
    expect(await call('POST', '/influencers', { ids: [14] })).toMatchObject({ status: 200, body: { updated: 1 } });
    const { rows: inactive } = await db.pool.query('SELECT id FROM influencers WHERE NOT active');
    expect(inactive).toEqual([]);
  });

  test('unknown ids → 404', async () => {
    expect(await call('GET', '/influencers/424242')).toEqual({
      status: 404,
      body: { error: 'influencer 424242 is not registered' },
    });
    expect(await call('DELETE', '/influencers/424242')).toMatchObject({ status: 404 });
  });

  test.each([
    [{}, 'give either "ids" (a list) or "range" ({ from, to }), not both and not neither'],
    [{ ids: [1], range: { from: 1, to: 2 } }, 'not both and not neither'],
    [{ ids: [] }, 'ids: ids must not be empty'],
    [{ ids: [1, 'two'] }, 'ids.1: an influencer id must be a positive integer'],
    [{ ids: [1.5] }, 'ids.0: an influencer id must be a positive integer'],
    [{ ids: 'all' }, 'ids: ids must be an array of influencer ids'],
    [{ range: { from: 9, to: 3 } }, 'range: range.from must be <= range.to'],
    [{ range: { from: 1 } }, 'range.to: an influencer id must be a positive integer'],
    [{ range: { from: 1, to: 2 }, intervalSeconds: -5 }, 'intervalSeconds: intervalSeconds must be > 0'],
    [{ range: { from: 1, to: 2 }, spread: 'no' }, 'spread: spread must be true or false'],
    [{ ids: [1], every: 5 }, 'Unrecognized key: "every"'],
    [[1, 2, 3], 'the body must be a JSON object'],
  ])('POST /influencers %j → 400 naming the problem', async (body, message) => {
    const res = await call('POST', '/influencers', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toContain(message);
  });

  test('malformed JSON and bad ids in the URL → 400', async () => {
    const bad = await call('POST', '/influencers', '{"ids": [1,');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain('the body is not valid JSON');
    expect(await call('GET', '/influencers/abc')).toEqual({
      status: 400,
      body: { error: 'the id must be a positive integer' },
    });
    expect(await call('DELETE', '/influencers/-3')).toMatchObject({ status: 400 });
    expect((await call('POST', '/influencers/deactivate', { range: { from: 1, to: 0 } })).status).toBe(400);
  });
});

/**
 * Property-based fuzzing (fast-check) of the HTTP endpoints that take input, each service running
 * as it ships (its built process) on the real engines: the scheduler's registration API, the
 * mock API's admin and lookup routes, and the read api. Malformed JSON, huge bodies, wrong types, negative and
 * overflowing ids, SQL metacharacters and unusual unicode. Every answer is a 4xx with a message
 * (never a 5xx), the process stays up, and nothing is written: the registry stays empty and the
 * fault settings stay as they were.
 */
import fc from 'fast-check';
import { createPool, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import {
  createTopics,
  freshSchema,
  kafkaBrokers,
  uniqueName,
  type TestSchema,
  pipelineEnvironments,
  ServiceProcess,
} from '@mockstagram/testkit';

/** Cases per property; the totals are printed at the end. */
const RUNS = 300;
const tried = new Map<string, number>();

let db: TestSchema;
let pool: Pool;
let topics: { names: string[]; remove: () => Promise<void> };
let scheduler: ServiceProcess;
let mockApi: ServiceProcess;
let api: ServiceProcess;

beforeAll(async () => {
  db = await freshSchema('fuzz_http');
  pool = createPool({ connectionString: db.url, max: 2 });
  await migrate({ pool });
  topics = await createTopics(['fuzz.jobs', 'fuzz.results', 'fuzz.dlq']);
  const [jobs, results, dlq] = topics.names as [string, string, string];
  const { ports, envs } = await pipelineEnvironments({
    kafkaBrokers: kafkaBrokers().join(','),
    databaseUrl: db.url,
    topics: { jobs, results, dlq },
    groups: { fetchers: uniqueName('fuzz-f'), handlers: uniqueName('fuzz-h') },
  });
  [scheduler, mockApi, api] = await Promise.all([
    ServiceProcess.start('scheduler', ports.scheduler, envs.scheduler),
    ServiceProcess.start('mock-api', ports['mock-api'], envs['mock-api']),
    ServiceProcess.start('api', ports.api, envs.api),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([scheduler?.stop(), mockApi?.stop(), api?.stop()]);
  await pool?.end();
  await db?.drop();
  await topics?.remove();
  console.log(
    `fuzzed HTTP cases: ${[...tried].map(([k, n]) => `${k} ${n}`).join(', ')}; total ${[...tried.values()].reduce((a, b) => a + b, 0)}`,
  );
});

interface Answer {
  status: number;
  body: unknown;
}

async function send(service: ServiceProcess, method: string, path: string, body?: string): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${service.httpPort}${path}`, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: checked below
  }
  return { status: res.status, body: parsed };
}

/** A 4xx whose JSON body says what was wrong. */
function isClientErrorWithMessage(a: Answer): boolean {
  if (a.status < 400 || a.status >= 500 || typeof a.body !== 'object' || a.body === null) return false;
  const b = a.body as Record<string, unknown>;
  const message = b.error ?? b.message;
  return typeof message === 'string' && message.length > 0;
}

async function property(
  name: string,
  arb: fc.Arbitrary<unknown>,
  check: (value: never) => Promise<void>,
  runs = RUNS,
): Promise<void> {
  let n = 0;
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      n += 1;
      await check(value as never);
    }),
    { numRuns: runs },
  );
  tried.set(name, n);
}

// --- what the fuzz is made of ----------------------------------------------------------------------

const nastyString = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    "'; DROP TABLE influencers; --",
    '1 OR 1=1',
    '1; DELETE FROM influencers',
    '$1',
    '\\x00',
    '%00',
    '\u0000',
    '\u202e1000000',
    '１０００００１', // full-width digits
    '1e3',
    '0x10',
    'NaN',
    'Infinity',
    '',
    ' ',
    '../../etc/passwd',
  ),
);

/** Numbers no id may be: negative, zero, fractional, past 2^53 or 2^63, not finite as JSON allows. */
const badId = fc.oneof(
  fc.integer({ min: -1_000_000_000, max: 0 }),
  fc.double({ noInteger: true, noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e308, -1e308, Number.MAX_VALUE),
);

/** Any JSON value at all, as text. */
const anyJsonText = fc.json({ maxDepth: 3 });

/** Text that is not JSON. */
const notJson = fc.oneof(
  fc.constantFrom('{', '{"ids": [1,2', '[1,,2]', "{'ids': [1]}", 'ids=1', 'undefined', '{"ids": [1]}}', '\u0000'),
  // `{` + `}` is the valid body `{}`, and `{` + `"a":1}` is JSON too: only text that does not parse
  fc
    .string({ maxLength: 30 })
    .map((s) => `{${s}`)
    .filter((body) => !parsesAsJson(body)),
);

function parsesAsJson(body: string): boolean {
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}

/** Register/activate bodies of the right outer shape with wrong insides. */
const wrongSelection = fc.oneof(
  fc.record({
    ids: fc.array(fc.oneof(badId, nastyString, fc.constant(null), fc.boolean()), { minLength: 1, maxLength: 5 }),
  }),
  fc.record({ ids: fc.oneof(nastyString, badId, fc.constant(null), fc.dictionary(fc.string(), fc.integer())) }),
  fc.record({ range: fc.record({ from: fc.oneof(badId, nastyString), to: fc.oneof(badId, nastyString) }) }),
  fc.record({ range: fc.oneof(nastyString, fc.array(fc.integer())) }),
  fc.record({
    ids: fc.constant([1_000_000]),
    intervalSeconds: fc.oneof(fc.integer({ max: 0 }), nastyString, fc.double({ noInteger: true })),
  }),
  fc.record({ ids: fc.constant([1_000_000]), spread: fc.oneof(nastyString, fc.integer()) }),
  fc.record({ ids: fc.constant([]) }),
);

/** Fault patches that are not valid settings. */
const wrongFaults = fc.oneof(
  fc.record({
    errorRate: fc.oneof(
      fc.double({ min: 1.0001, max: 1e9, noNaN: true }),
      fc.double({ max: -0.0001, noNaN: true }),
      nastyString,
    ),
  }),
  fc.record({ latencyMs: fc.oneof(fc.integer({ max: -1 }), nastyString, fc.constant(null)) }),
  fc.record({ [uniqueName('unknown')]: fc.integer() }),
  fc.oneof(fc.array(fc.integer()), nastyString, fc.integer(), fc.constant(null)),
);

async function registryRows(): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM influencers');
  return rows[0].n;
}

// --- the properties ------------------------------------------------------------------------------------

describe('scheduler: /influencers', () => {
  test('register, activate and deactivate with bodies that are not JSON or not a valid selection → 400 with a message', async () => {
    const paths = fc.constantFrom('/influencers', '/influencers/activate', '/influencers/deactivate');
    await property(
      'scheduler bodies',
      fc.tuple(
        paths,
        fc.oneof(
          notJson,
          wrongSelection.map((v) => JSON.stringify(v)),
        ),
      ),
      async ([path, body]: [string, string]) => {
        const answer = await send(scheduler, 'POST', path, body);
        expect({ path, body, status: answer.status, ok: isClientErrorWithMessage(answer) }).toEqual({
          path,
          body,
          status: 400,
          ok: true,
        });
      },
    );
    // Any JSON at all: a valid registration is possible only by accident; refuse or accept, never fail.
    await property('scheduler any JSON', anyJsonText, async (body: string) => {
      const answer = await send(scheduler, 'POST', '/influencers/deactivate', body);
      expect({ body, serverError: answer.status >= 500 }).toEqual({ body, serverError: false });
    });
    expect(await registryRows()).toBe(0);
  });

  test('GET and DELETE /influencers/:id with ids that are not ids → 400; unknown valid ids → 404; nothing written', async () => {
    const segment = fc.oneof(nastyString, badId.map(String));
    await property(
      'scheduler ids',
      fc.tuple(fc.constantFrom('GET', 'DELETE'), segment),
      async ([method, raw]: [string, string]) => {
        const answer = await send(scheduler, method, `/influencers/${encodeURIComponent(raw)}`);
        expect({
          raw,
          status: answer.status >= 400 && answer.status < 500,
          message: isClientErrorWithMessage(answer) || answer.status === 404,
        }).toEqual({
          raw,
          status: true,
          message: true,
        });
      },
    );
    expect(await registryRows()).toBe(0);
  });

  test('a body over the 16 MB limit → 413 with a message, and the service still answers', async () => {
    const huge = JSON.stringify({ ids: Array.from({ length: 2_000_000 }, (_, i) => 1_000_000_000 + i) });
    expect(huge.length).toBeGreaterThan(16 * 1024 * 1024);
    const answer = await send(scheduler, 'POST', '/influencers', huge);
    expect({ status: answer.status, ok: isClientErrorWithMessage(answer) }).toEqual({ status: 413, ok: true });
    tried.set('scheduler huge body', 1);
    expect((await send(scheduler, 'GET', '/healthz')).status).toBe(200);
    expect(await registryRows()).toBe(0);
  });
});

describe('mock API: /admin/faults and /api/v1/influencers/:id', () => {
  test('PUT /admin/faults with invalid patches or not JSON → 400 with a message; the settings stay as they were', async () => {
    const before = await send(mockApi, 'GET', '/admin/faults');
    expect(before.status).toBe(200);
    await property(
      'mock-api faults',
      fc.oneof(
        notJson,
        wrongFaults.map((v) => JSON.stringify(v)),
      ),
      async (body: string) => {
        const answer = await send(mockApi, 'PUT', '/admin/faults', body);
        expect({ body, status: answer.status, ok: isClientErrorWithMessage(answer) }).toEqual({
          body,
          status: 400,
          ok: true,
        });
      },
    );
    const huge = await send(
      mockApi,
      'PUT',
      '/admin/faults',
      JSON.stringify({ errorRate: 0.5, pad: 'x'.repeat(200_000) }),
    );
    expect({ status: huge.status, ok: isClientErrorWithMessage(huge) }).toEqual({ status: 413, ok: true });
    tried.set('mock-api huge body', 1);
    expect((await send(mockApi, 'GET', '/admin/faults')).body).toEqual(before.body);
  });

  test('lookups of ids that are not ids → 400, never a 5xx', async () => {
    await property('mock-api ids', fc.oneof(nastyString, badId.map(String)), async (raw: string) => {
      const answer = await send(mockApi, 'GET', `/api/v1/influencers/${encodeURIComponent(raw)}`);
      expect({
        raw,
        clientError: answer.status >= 400 && answer.status < 500,
        message: isClientErrorWithMessage(answer),
      }).toEqual({
        raw,
        clientError: true,
        message: true,
      });
    });
    expect((await send(mockApi, 'GET', '/healthz')).status).toBe(200);
  });
});

describe('api: /api/v1', () => {
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
  const text = fc.oneof(nastyString, badId.map(String));

  test('influencer, series, rankings and suspicious with parameters that are not valid → 4xx with a message, never a 5xx', async () => {
    const requests = fc.oneof(
      text.map((id) => `/api/v1/influencers/${encodeURIComponent(id)}`),
      fc
        .record({ id: fc.oneof(fc.constant('1000000'), text), from: text, to: text, resolution: text })
        .map(({ id, ...params }) => `/api/v1/influencers/${encodeURIComponent(id)}/series?${q(params)}`),
      fc
        .record({ by: nastyString, window: text, limit: text, cursor: text }, { requiredKeys: ['by'] })
        .map((params) => `/api/v1/rankings?${q(params)}`),
      fc
        .record({ cursor: nastyString.filter((c) => c !== ''), limit: fc.constantFrom('0', '501', '-1', '1.5', 'x') })
        .map((params) => `/api/v1/suspicious?${q(params)}`),
      fc.record({ [uniqueName('unknown')]: text }).map((params) => `/api/v1/stats?${q(params)}&limit=1`),
    );
    await property('api parameters', requests, async (path: string) => {
      const answer = await send(api, 'GET', path);
      expect({
        path,
        clientError: answer.status >= 400 && answer.status < 500,
        message: isClientErrorWithMessage(answer),
      }).toEqual({
        path,
        clientError: true,
        message: true,
      });
    });
    expect((await send(api, 'GET', '/healthz')).status).toBe(200);
  });
});

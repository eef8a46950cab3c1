/**
 * The pipeline (each service its own process, built as it ships) exporting to a real Jaeger and
 * scraped by a real Prometheus, both the devstack's, built from their sources: Jaeger's query API
 * holds one job's trace across the four services with the batch insert's link, and a dead-lettered
 * job's trace marked as an error; Prometheus has every service's target up, and its
 * rate(result_handler_rows_written_total[1m]) is the rate at which rows appear in the table.
 *
 * Jaeger is the devstack's (started here if `yarn devstack up --observability` did not); the
 * Prometheus is a private one of the devstack's, in a temporary directory on a free port,
 * scraping this test's services.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InfluencerRegistry, REGISTRY_DEFAULTS } from '@mockstagram/scheduler';
import { createLogger, createPool, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { devstackSettings, startJaeger, startPrometheus, stopPrometheus } from '@mockstagram/devstack';
import {
  createTopics,
  freshSchema,
  kafkaBrokers,
  uniqueName,
  type TestSchema,
  eventually,
  freePort,
  pipelineEnvironments,
  ServiceProcess,
  type ServiceName,
} from '@mockstagram/testkit';

const FIRST_ID = 1_000_000;
const INFLUENCERS = 200;
const INTERVAL_SECONDS = 5;
const MISSING = 2_500_000; // above MOCK_API_ID_MAX: 404, dead-lettered
/** How far Prometheus' rate may be from the table's, relative. */
const RATE_TOLERANCE = 0.1;

const settings = devstackSettings();
const log = (message: string) => console.log(`[devstack] ${message}`);
const logger = createLogger('observability-test', 'silent');
let db: TestSchema;
let pool: Pool;
let topics: { names: string[]; remove: () => Promise<void> };
let prometheusDir: string;
let prometheusUrl: string;
const services = new Map<ServiceName, ServiceProcess>();
/** Rows in follower_counts, counted every second while the pipeline runs. */
const rowCounts: Array<{ at: number; rows: number }> = [];
let counting = true;
let counter: Promise<void>;
let flowStarted: number;

beforeAll(async () => {
  await startJaeger({ dataDir: settings.dir, host: settings.host, ports: settings.jaeger, log });

  db = await freshSchema('observability');
  pool = createPool({ connectionString: db.url, max: 2, logger });
  await migrate({ pool, logger });
  topics = await createTopics(['obs.jobs', 'obs.results', 'obs.dlq'], 3);
  const [jobs, results, dlq] = topics.names;
  const { ports, envs } = await pipelineEnvironments({
    kafkaBrokers: kafkaBrokers().join(','),
    databaseUrl: db.url,
    topics: { jobs, results, dlq },
    groups: { fetchers: uniqueName('obs-fetchers'), handlers: uniqueName('obs-handlers') },
    common: { OTEL_EXPORTER_OTLP_ENDPOINT: settings.otlpEndpoint, OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
    only: { scheduler: { SCHEDULER_TICK_CRON: '* * * * * *' } },
  });

  prometheusDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mockstagram-prometheus-'));
  const prometheusPort = await freePort();
  prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
  const targets = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, [`127.0.0.1:${port}`]]));
  await startPrometheus({ dataDir: prometheusDir, host: '127.0.0.1', port: prometheusPort, log, targets });

  const names: ServiceName[] = ['mock-api', 'result-handler', 'fetcher', 'scheduler', 'api'];
  for (const s of await Promise.all(names.map((name) => ServiceProcess.start(name, ports[name], envs[name]))))
    services.set(s.name, s);

  const registry = new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool });
  await registry.register(
    { range: { from: FIRST_ID, to: FIRST_ID + INFLUENCERS - 1 } },
    { intervalSeconds: INTERVAL_SECONDS },
  );
  await registry.register({ ids: [MISSING] }, { intervalSeconds: INTERVAL_SECONDS, spread: false });
  flowStarted = Date.now();
  counter = (async () => {
    while (counting) {
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM follower_counts');
      rowCounts.push({ at: Date.now(), rows: rows[0].n });
      await sleep(1_000);
    }
  })();
}, 40 * 60_000);

afterAll(async () => {
  counting = false;
  await counter;
  await Promise.all([...services.values()].map((s) => s.stop()));
  if (prometheusDir) {
    await stopPrometheus(prometheusDir);
    fs.rmSync(prometheusDir, { recursive: true, force: true });
  }
  await pool?.end();
  await db?.drop();
  await topics?.remove().catch(() => undefined);
});

// ---------------------------------------------------------------------------------------------
// Jaeger's query API (the JSON the UI reads)

interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }>;
  processID: string;
  tags: Array<{ key: string; value: unknown }>;
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

async function jaeger<T>(pathAndQuery: string): Promise<T> {
  const res = await fetch(`${settings.jaegerUrl}${pathAndQuery}`);
  const body = (await res.json()) as { data: T; errors?: unknown };
  if (!res.ok) throw new Error(`Jaeger ${pathAndQuery}: ${res.status} ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Traces whose root is the scheduler's publish of a job for `influencer` on this test's jobs topic. */
function jobTraces(influencer: number): Promise<JaegerTrace[]> {
  const tags = JSON.stringify({
    'mockstagram.influencer_id': String(influencer),
    'messaging.destination.name': topics.names[0],
  });
  const q = new URLSearchParams({
    service: 'scheduler',
    operation: 'fetch-job publish',
    tags,
    start: String(flowStarted * 1000),
    limit: '50',
  });
  return jaeger<JaegerTrace[]>(`/api/traces?${q.toString()}`);
}

const tag = (s: JaegerSpan, key: string): unknown => s.tags.find((t) => t.key === key)?.value;
const serviceOf = (t: JaegerTrace, s: JaegerSpan): string => t.processes[s.processID].serviceName;
/** Trace ids as the API prints them (it may drop leading zeros), compared in one form. */
const id = (hex: string): string => hex.padStart(32, '0');

function one(t: JaegerTrace, service: string, operation: string): JaegerSpan {
  const found = t.spans.filter((s) => serviceOf(t, s) === service && s.operationName === operation);
  if (found.length !== 1) {
    throw new Error(
      `expected one ${service}:${operation} in trace ${t.traceID}, found ${found.length} among ${t.spans.map((s) => `${serviceOf(t, s)}:${s.operationName}`).join(', ')}`,
    );
  }
  return found[0];
}

function parentOf(s: JaegerSpan): string | undefined {
  return s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;
}

/** Every span of the job's trace, so a trace still being exported does not count. */
const COMPLETE = [
  'scheduler:fetch-job publish',
  'fetcher:fetch-job process',
  'fetcher:GET /api/v1/influencers/:id',
  'mock-api:GET /api/v1/influencers/:id',
  'fetcher:fetch-result publish',
  'result-handler:fetch-result process',
];

test('Jaeger holds one job’s trace: scheduler → fetcher → HTTP → mock-api, fetcher → result-handler, and the insert links to it', async () => {
  const trace = await eventually(
    `a complete trace of influencer ${FIRST_ID + 1} in Jaeger`,
    async () =>
      (await jobTraces(FIRST_ID + 1)).find((t) =>
        COMPLETE.every((name) => t.spans.some((s) => `${serviceOf(t, s)}:${s.operationName}` === name)),
      ),
    90_000,
    1_000,
  );
  const publish = one(trace, 'scheduler', 'fetch-job publish');
  expect(parentOf(publish)).toBeUndefined();
  expect(tag(publish, 'span.kind')).toBe('producer');
  const process = one(trace, 'fetcher', 'fetch-job process');
  expect(parentOf(process)).toBe(publish.spanID);
  expect(tag(process, 'span.kind')).toBe('consumer');
  expect(tag(process, 'error')).toBeUndefined();
  const http = one(trace, 'fetcher', 'GET /api/v1/influencers/:id');
  expect(parentOf(http)).toBe(process.spanID);
  expect(tag(http, 'http.response.status_code')).toBe(200);
  const server = one(trace, 'mock-api', 'GET /api/v1/influencers/:id');
  expect(parentOf(server)).toBe(http.spanID);
  expect(tag(server, 'span.kind')).toBe('server');
  const resultPublish = one(trace, 'fetcher', 'fetch-result publish');
  expect(parentOf(resultPublish)).toBe(process.spanID);
  const consume = one(trace, 'result-handler', 'fetch-result process');
  expect(parentOf(consume)).toBe(resultPublish.spanID);
  expect(tag(consume, 'mockstagram.influencer_id')).toBe(FIRST_ID + 1);
  // one trace id throughout, nothing else in it
  expect(new Set(trace.spans.map((s) => id(s.traceID)))).toEqual(new Set([id(trace.traceID)]));
  expect(trace.spans.map((s) => `${serviceOf(trace, s)}:${s.operationName}`).sort()).toEqual([...COMPLETE].sort());

  // The batch insert is a trace of its own; the consume span names it, and it links back.
  const insertTraceId = String(tag(consume, 'mockstagram.insert_trace_id'));
  expect(insertTraceId).toMatch(/^[0-9a-f]{32}$/);
  const [insertTrace] = await eventually(
    `the insert trace ${insertTraceId} in Jaeger`,
    () => jaeger<JaegerTrace[]>(`/api/traces/${insertTraceId}`).catch(() => undefined),
    30_000,
    1_000,
  );
  const insert = one(insertTrace, 'result-handler', 'follower_counts insert');
  expect(parentOf(insert)).toBeUndefined();
  expect(tag(insert, 'db.collection.name')).toBe('follower_counts');
  expect(insert.references).toContainEqual(
    expect.objectContaining({
      refType: 'FOLLOWS_FROM',
      spanID: consume.spanID,
      traceID: expect.stringMatching(new RegExp(`${trace.traceID.replace(/^0+/, '')}$`)),
    }),
  );
});

test('Jaeger marks a dead-lettered job’s trace as an error', async () => {
  const trace = await eventually(
    `the dead-lettered job of ${MISSING} in Jaeger`,
    async () => (await jobTraces(MISSING)).find((t) => t.spans.some((s) => s.operationName === 'dead-letter publish')),
    60_000,
    1_000,
  );
  const process = one(trace, 'fetcher', 'fetch-job process');
  expect(parentOf(process)).toBe(one(trace, 'scheduler', 'fetch-job publish').spanID);
  expect(tag(process, 'error')).toBe(true);
  expect(tag(process, 'otel.status_code')).toBe('ERROR');
  expect(tag(process, 'otel.status_description')).toBe('dead-lettered: not-found');
  expect(tag(one(trace, 'fetcher', 'GET /api/v1/influencers/:id'), 'http.response.status_code')).toBe(404);
  expect(parentOf(one(trace, 'fetcher', 'dead-letter publish'))).toBe(process.spanID);
  // and the search the README gives finds it: service fetcher, operation dead-letter publish
  const q = new URLSearchParams({
    service: 'fetcher',
    operation: 'dead-letter publish',
    start: String(flowStarted * 1000),
    limit: '1000',
  });
  const errors = await jaeger<JaegerTrace[]>(`/api/traces?${q.toString()}`);
  expect(errors.map((t) => id(t.traceID))).toContain(id(trace.traceID));
});

// ---------------------------------------------------------------------------------------------
// Prometheus' HTTP API

async function promQuery(
  expr: string,
  at: number,
): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const q = new URLSearchParams({ query: expr, time: String(at / 1000) });
  const res = await fetch(`${prometheusUrl}/api/v1/query?${q.toString()}`);
  const body = (await res.json()) as {
    status: string;
    data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`Prometheus ${expr}: ${JSON.stringify(body)}`);
  return body.data.result;
}

test('Prometheus scrapes every service and itself, all up', async () => {
  const jobs = await eventually(
    'every target scraped and up',
    async () => {
      const res = await fetch(`${prometheusUrl}/api/v1/targets?state=active`);
      const body = (await res.json()) as {
        data: { activeTargets: Array<{ labels: { job: string }; health: string; lastError: string }> };
      };
      const targets = body.data.activeTargets;
      return targets.length === 6 && targets.every((t) => t.health === 'up')
        ? targets.map((t) => t.labels.job).sort()
        : undefined;
    },
    60_000,
    1_000,
  );
  expect(jobs).toEqual(['api', 'fetcher', 'mock-api', 'prometheus', 'result-handler', 'scheduler']);
  const up = await promQuery('up', Date.now());
  expect(up.map((r) => [r.metric.job, r.value[1]]).sort()).toEqual(jobs.map((job) => [job, '1']));
});

test('rate(result_handler_rows_written_total[1m]) is the rate at which rows appear in follower_counts', async () => {
  // A minute of steady flow after the first rows, plus a scrape interval.
  await eventually(
    '70 s of rows',
    async () =>
      rowCounts.find((c) => c.rows > 0) && Date.now() - rowCounts.find((c) => c.rows > 0)!.at > 70_000
        ? true
        : undefined,
    180_000,
    1_000,
  );
  const at = rowCounts[rowCounts.length - 1].at;
  const rowsAt = (t: number): number => {
    // the count interpolated between the two polls around t
    const after = rowCounts.findIndex((c) => c.at >= t);
    const b = rowCounts[after];
    const a = rowCounts[Math.max(0, after - 1)];
    return b.at === a.at ? b.rows : a.rows + ((b.rows - a.rows) * (t - a.at)) / (b.at - a.at);
  };
  const tableRate = (rowsAt(at) - rowsAt(at - 60_000)) / 60;
  const [sample] = await promQuery('sum(rate(result_handler_rows_written_total[1m]))', at);
  const prometheusRate = Number(sample.value[1]);
  // 200 influencers every 5 s: about 40 rows/s
  expect(tableRate).toBeGreaterThan((INFLUENCERS / INTERVAL_SECONDS) * 0.8);
  expect({
    prometheusRate,
    tableRate,
    off: Math.abs(prometheusRate - tableRate) / tableRate <= RATE_TOLERANCE,
  }).toEqual({
    prometheusRate,
    tableRate,
    off: true,
  });
}, 240_000);

/**
 * One fetch job = one trace across scheduler → fetcher (→ mock API) → result-handler, on the real
 * Kafka broker and TimescaleDB, with the services' own classes in this process and OpenTelemetry
 * started through shared's `startTelemetry` (the services' setup) plus an in-memory exporter.
 * The services' spans are told apart by their instrumentation scope (tracer name = service).
 *
 * Two jobs are emitted: influencer 1000001 (exists) and 2500000 (outside the mock API's range:
 * 404 → dead letter), and each is followed to its end.
 */
import { Writable } from 'node:stream';
import { SpanKind, SpanStatusCode, type SpanContext } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { startTelemetry, type Telemetry } from '@mockstagram/shared/telemetry';
import {
  createKafka,
  createLogger,
  createPool,
  createProducer,
  loadConfig,
  Registry,
  telemetryEnv,
  type Logger,
  type Pool,
} from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import { Faults, MockApiServer } from '@mockstagram/mock-api';
import { InfluencerRegistry, REGISTRY_DEFAULTS, Scheduler, SCHEDULER_DEFAULTS } from '@mockstagram/scheduler';
import { RESULT_HANDLER_DEFAULTS, ResultHandler } from '@mockstagram/result-handler';
import type { KafkaProducer as Producer } from '@mockstagram/shared';
import { Fetcher, loadFetcherConfig } from '@mockstagram/fetcher';
import { createTopics, freshSchema, kafkaBrokers, uniqueName, type TestSchema } from '@mockstagram/testkit';

const FOUND = 1_000_001;
const MISSING = 2_500_000; // above MOCK_API_ID_MAX: 404

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let db: TestSchema;
let pool: Pool;
let topics: { names: string[]; remove: () => Promise<void> };
let api: MockApiServer;
let producer: Producer;
let fetcher: Fetcher;
let handler: ResultHandler;
const logLines: Array<Record<string, unknown>> = [];

/** The fetcher's logger writes here, so the test can read its lines. */
function capturingLogger(): Logger {
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return createLogger('fetcher', 'warn', stream);
}

beforeAll(async () => {
  const silent = createLogger('trace-test', 'silent');
  telemetry = startTelemetry({
    service: 'trace-test',
    version: '0.0.0',
    config: loadConfig(telemetryEnv, {}), // the defaults: parent-based, ratio 1, no OTLP endpoint
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
    logger: silent,
  });

  db = await freshSchema('tracing');
  pool = createPool({ connectionString: db.url, max: 4, logger: silent });
  await migrate({ pool, logger: silent });
  topics = await createTopics(['tracing.jobs', 'tracing.results', 'tracing.dlq'], 3);
  const [jobsTopic, resultsTopic, dlqTopic] = topics.names as [string, string, string];

  api = new MockApiServer({ idMin: 1_000_000, idMax: 1_999_999, faults: new Faults() });
  const { port } = await api.listen(0, '127.0.0.1');

  const kafka = createKafka({ brokers: kafkaBrokers(), clientId: uniqueName('trace-test'), logger: silent });
  producer = createProducer(kafka);
  await producer.connect();

  handler = new ResultHandler({
    kafka,
    pool,
    logger: silent,
    registry: new Registry(),
    resultsTopic,
    dlqTopic,
    ...RESULT_HANDLER_DEFAULTS,
    groupId: uniqueName('tracing-handlers'),
    flushMs: 100,
  });
  await handler.start();

  fetcher = new Fetcher({
    config: loadFetcherConfig({
      KAFKA_BROKERS: kafkaBrokers().join(','),
      TOPIC_FETCH_JOBS: jobsTopic,
      TOPIC_FETCH_RESULTS: resultsTopic,
      TOPIC_DLQ: dlqTopic,
      TOPIC_PARTITIONS: '3',
      FETCHER_GROUP_ID: uniqueName('tracing-fetchers'),
      MOCK_API_URL: `http://127.0.0.1:${port}`,
    }),
    logger: capturingLogger(),
  });
  await fetcher.start();

  const registry = new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool });
  await registry.register({ ids: [FOUND, MISSING] }, { spread: false });
  const scheduler = new Scheduler({ ...SCHEDULER_DEFAULTS, pool, producer, topic: jobsTopic, logger: silent });
  const tick = await scheduler.tick();
  expect(tick).toMatchObject({ status: 'ran', jobs: 2 });

  // Done when the sample is stored and both jobs' last spans have ended: the result-handler's
  // (ends after its offsets are committed) and the fetcher's dead-letter process span.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const spans = exporter.getFinishedSpans();
    const stored = spans.some(
      (s) => s.instrumentationScope.name === 'result-handler' && s.name === 'fetch-result process',
    );
    const dead = spans.some(
      (s) =>
        s.instrumentationScope.name === 'fetcher' &&
        s.name === 'fetch-job process' &&
        s.attributes['mockstagram.influencer_id'] === MISSING,
    );
    if (stored && dead) break;
    if (Date.now() > deadline) throw new Error(`spans not complete after 60 s: ${spans.map(describe).join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}, 120_000);

afterAll(async () => {
  await fetcher?.stop();
  await handler?.stop().catch(() => undefined);
  await producer?.disconnect();
  await api?.close(500);
  await pool?.end();
  await db?.drop();
  await topics?.remove().catch(() => undefined);
  await telemetry?.shutdown();
});

const describe = (s: ReadableSpan) => `${s.instrumentationScope.name}:${s.name}`;
const ids = (c: SpanContext) => ({ traceId: c.traceId, spanId: c.spanId });

/** The one finished span matching; fails naming what was there otherwise. */
function only(
  spans: ReadableSpan[],
  scope: string,
  name: string | RegExp,
  filter: (s: ReadableSpan) => boolean = () => true,
): ReadableSpan {
  const found = spans.filter(
    (s) =>
      s.instrumentationScope.name === scope &&
      (typeof name === 'string' ? s.name === name : name.test(s.name)) &&
      filter(s),
  );
  if (found.length !== 1)
    throw new Error(`expected one ${scope}:${name}, found ${found.length} among ${spans.map(describe).join(', ')}`);
  return found[0];
}

/** `child`'s parent is `parent` (same trace). */
function expectChild(child: ReadableSpan, parent: ReadableSpan): void {
  expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
  expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
}

test('one job is one trace: scheduler publish → fetcher process (→ HTTP → mock API) → fetcher publish → result-handler process; the insert links to it', async () => {
  const spans = exporter.getFinishedSpans();
  const isFound = (s: ReadableSpan) => s.attributes['mockstagram.influencer_id'] === FOUND;

  const publish = only(spans, 'scheduler', 'fetch-job publish', isFound);
  expect(publish.kind).toBe(SpanKind.PRODUCER);
  expect(publish.parentSpanContext).toBeUndefined(); // the root of the job's trace
  expect(publish.attributes).toMatchObject({
    'messaging.system': 'kafka',
    'messaging.destination.name': topics.names[0],
  });
  const traceId = publish.spanContext().traceId;
  const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);

  const process = only(inTrace, 'fetcher', 'fetch-job process');
  expect(process.kind).toBe(SpanKind.CONSUMER);
  expectChild(process, publish);
  expect(process.attributes).toMatchObject({
    'mockstagram.influencer_id': FOUND,
    'messaging.destination.name': topics.names[0],
  });
  expect(process.status.code).not.toBe(SpanStatusCode.ERROR);

  const http = only(inTrace, 'fetcher', 'GET /api/v1/influencers/:id');
  expect(http.kind).toBe(SpanKind.CLIENT);
  expectChild(http, process);
  expect(http.attributes).toMatchObject({
    'http.request.method': 'GET',
    'http.response.status_code': 200,
    'server.address': '127.0.0.1',
  });
  expect(String(http.attributes['url.full'])).toMatch(
    new RegExp(`^http://127\\.0\\.0\\.1:\\d+/api/v1/influencers/${FOUND}$`),
  );

  const server = only(inTrace, 'mock-api', 'GET /api/v1/influencers/:id');
  expect(server.kind).toBe(SpanKind.SERVER);
  expectChild(server, http);

  const resultPublish = only(inTrace, 'fetcher', 'fetch-result publish');
  expect(resultPublish.kind).toBe(SpanKind.PRODUCER);
  expectChild(resultPublish, process);
  expect(resultPublish.attributes['messaging.destination.name']).toBe(topics.names[1]);

  const consume = only(inTrace, 'result-handler', 'fetch-result process');
  expect(consume.kind).toBe(SpanKind.CONSUMER);
  expectChild(consume, resultPublish);
  expect(consume.attributes).toMatchObject({
    'mockstagram.influencer_id': FOUND,
    'messaging.destination.name': topics.names[1],
  });

  // Nothing else in the job's trace, and everything from one trace id.
  expect(inTrace.map(describe).sort()).toEqual(
    [publish, process, http, server, resultPublish, consume].map(describe).sort(),
  );

  // The batch insert: a trace of its own, linking to the message it stored.
  const insert = only(spans, 'result-handler', 'follower_counts insert', (s) =>
    s.links.some((l) => l.context.spanId === consume.spanContext().spanId),
  );
  expect(insert.kind).toBe(SpanKind.CLIENT);
  expect(insert.parentSpanContext).toBeUndefined();
  expect(insert.spanContext().traceId).not.toBe(traceId);
  expect(insert.links.map((l) => ids(l.context))).toContainEqual(ids(consume.spanContext()));
  expect(insert.attributes).toMatchObject({
    'db.system': 'postgresql',
    'db.collection.name': 'follower_counts',
    'mockstagram.rows': 1,
    'mockstagram.rows_inserted': 1,
  });
  expect(consume.attributes['mockstagram.insert_trace_id']).toBe(insert.spanContext().traceId);

  // The consume span ended after the row was committed (it covers the wait for the batch and the write).
  expect(hrMs(consume.endTime)).toBeGreaterThanOrEqual(hrMs(insert.endTime));

  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*) AS n FROM follower_counts WHERE influencer_id = $1',
    [FOUND],
  );
  expect(rows[0].n).toBe(1);
});

test('a dead-lettered job: its process span is an error, the DLQ record is published as its child, and the log line carries its trace and influencer_id', () => {
  const spans = exporter.getFinishedSpans();
  const publish = only(
    spans,
    'scheduler',
    'fetch-job publish',
    (s) => s.attributes['mockstagram.influencer_id'] === MISSING,
  );
  const inTrace = spans.filter((s) => s.spanContext().traceId === publish.spanContext().traceId);
  const process = only(inTrace, 'fetcher', 'fetch-job process');
  expectChild(process, publish);
  expect(process.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'dead-lettered: not-found' });
  const http = only(inTrace, 'fetcher', 'GET /api/v1/influencers/:id');
  expectChild(http, process);
  expect(http.attributes).toMatchObject({ 'http.response.status_code': 404, 'error.type': '404' });
  const dead = only(inTrace, 'fetcher', 'dead-letter publish');
  expect(dead.kind).toBe(SpanKind.PRODUCER);
  expectChild(dead, process);
  expect(dead.attributes['messaging.destination.name']).toBe(topics.names[2]);

  const line = logLines.find((l) => l.msg === 'job dead-lettered: not-found');
  expect(line).toMatchObject({
    service: 'fetcher',
    influencer_id: MISSING,
    trace_id: publish.spanContext().traceId,
    span_id: process.spanContext().spanId,
  });
});

function hrMs([s, ns]: [number, number]): number {
  return s * 1000 + ns / 1e6;
}

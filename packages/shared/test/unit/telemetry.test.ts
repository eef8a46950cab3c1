/**
 * startTelemetry (the SDK set-up every service runs first), the sampler, trace context through
 * Kafka headers, and trace ids in log lines. The SDK is started once for this file, with an
 * in-memory exporter. (The OTLP exporter loads its HTTP agent with a dynamic import(), which
 * jest's module sandbox refuses; export over OTLP/HTTP is tested on a real service process in
 * apps/mock-api/test/main.test.ts.)
 */
import { Writable } from 'node:stream';
import { context, ROOT_CONTEXT, SpanKind, trace, TraceFlags, type SpanContext } from '@opentelemetry/api';
import { InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { ConfigError, loadConfig, telemetryEnv } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createSampler, MAX_LINKS_PER_SPAN, startTelemetry, type Telemetry } from '../../src/telemetry';
import { contextFromHeaders, injectTraceHeaders, traceLogContext } from '../../src/tracing';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
const tracer = trace.getTracer('telemetry-test');

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { lines, logger: createLogger('telemetry-test', 'info', stream) };
}

beforeAll(async () => {
  telemetry = startTelemetry({
    service: 'telemetry-test',
    version: '1.2.3',
    config: loadConfig(telemetryEnv, { DEPLOYMENT_ENVIRONMENT: 'test' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
    logger: createLogger('telemetry-test', 'silent'),
  });
  // The first spans wait for the SDK's (asynchronous) host and process resource detection.
  tracer.startSpan('warm-up').end();
  while (exporter.getFinishedSpans().length === 0) await new Promise((r) => setTimeout(r, 10));
  exporter.reset();
});

afterAll(async () => {
  await telemetry?.shutdown();
});

describe('telemetryEnv', () => {
  test('defaults: parent-based ratio 1, development, no endpoint', () => {
    expect(loadConfig(telemetryEnv, {})).toEqual({
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: 1,
      DEPLOYMENT_ENVIRONMENT: 'development',
    });
  });

  test.each([
    ['OTEL_TRACES_SAMPLER_ARG', '1.5', 'a number between 0 and 1'],
    ['OTEL_TRACES_SAMPLER_ARG', 'half', 'a number between 0 and 1'],
    ['OTEL_TRACES_SAMPLER', 'jaeger_remote', 'one of parentbased_traceidratio'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'jaeger:4318', 'an http:// or https:// URL'],
  ])('%s=%s is refused, naming the variable', (variable, value, expected) => {
    let error: unknown;
    try {
      loadConfig(telemetryEnv, { [variable]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`${variable}=${JSON.stringify(value)}: expected ${expected}`);
  });
});

describe('startTelemetry', () => {
  test('spans carry the resource: service name, version, environment; the tracer name is the scope', () => {
    tracer.startSpan('x').end();
    const span = exporter.getFinishedSpans().at(-1)!;
    expect(span.instrumentationScope.name).toBe('telemetry-test');
    expect(span.resource.attributes).toMatchObject({
      'service.name': 'telemetry-test',
      'service.version': '1.2.3',
      'deployment.environment.name': 'test',
      'deployment.environment': 'test',
    });
    expect(telemetry.exportUrl).toBeUndefined(); // no OTEL_EXPORTER_OTLP_ENDPOINT: created, not exported
  });

  test('a line logged inside an active span carries its trace_id and span_id; outside, none', () => {
    const { lines, logger } = capture();
    logger.info('before');
    const span = tracer.startSpan('work');
    context.with(trace.setSpan(context.active(), span), () => logger.info({ influencer_id: 7 }, 'inside'));
    span.end();
    logger.info('after');
    const { traceId, spanId } = span.spanContext();
    expect(lines.map((l) => [l.msg, l.trace_id, l.span_id])).toEqual([
      ['before', undefined, undefined],
      ['inside', traceId, spanId],
      ['after', undefined, undefined],
    ]);
    expect(lines[1]).toMatchObject({ influencer_id: 7, service: 'telemetry-test' });
  });

  test('context crosses Kafka headers: a consumer span continues the producer span’s trace', () => {
    const producer = tracer.startSpan('publish', { kind: SpanKind.PRODUCER, root: true });
    const headers = injectTraceHeaders(trace.setSpan(ROOT_CONTEXT, producer), {});
    producer.end();
    expect(headers.traceparent).toBe(`00-${producer.spanContext().traceId}-${producer.spanContext().spanId}-01`);
    // What a consumer gets: Buffers.
    const received = { traceparent: Buffer.from(String(headers.traceparent)), other: Buffer.from('x') };
    const consumer = tracer.startSpan('process', { kind: SpanKind.CONSUMER }, contextFromHeaders(received));
    consumer.end();
    expect(consumer.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(exporter.getFinishedSpans().at(-1)!.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    // No headers: a new trace.
    expect(trace.getSpanContext(contextFromHeaders(undefined))).toBeUndefined();
  });

  test('a span keeps up to MAX_LINKS_PER_SPAN links', () => {
    const links = Array.from({ length: MAX_LINKS_PER_SPAN + 5 }, () => ({
      context: tracer.startSpan('m').spanContext(),
    }));
    tracer.startSpan('insert', { root: true, links }).end();
    const span = exporter.getFinishedSpans().at(-1)!;
    expect(span.links).toHaveLength(MAX_LINKS_PER_SPAN);
    expect(span.droppedLinksCount).toBe(5);
  });

  test('traceLogContext: nothing outside a span', () => {
    expect(traceLogContext()).toBeUndefined();
    const span = tracer.startSpan('y');
    expect(context.with(trace.setSpan(ROOT_CONTEXT, span), traceLogContext)).toEqual({
      trace_id: span.spanContext().traceId,
      span_id: span.spanContext().spanId,
    });
    span.end();
  });
});

describe('createSampler', () => {
  const sampled: SpanContext = {
    traceId: 'a'.repeat(32),
    spanId: 'b'.repeat(16),
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  };
  const unsampled: SpanContext = { ...sampled, traceFlags: TraceFlags.NONE };
  const decide = (sampler: ReturnType<typeof createSampler>, parent?: SpanContext, links: SpanContext[] = []) =>
    sampler.shouldSample(
      parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT,
      'c'.repeat(32),
      'span',
      SpanKind.INTERNAL,
      {},
      links.map((l) => ({ context: l })),
    ).decision;

  test('parentbased_traceidratio: roots by the ratio, children follow their parent', () => {
    expect(decide(createSampler('parentbased_traceidratio', 1))).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(createSampler('parentbased_traceidratio', 0))).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(createSampler('parentbased_traceidratio', 0), sampled)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide(createSampler('parentbased_traceidratio', 1), unsampled)).toBe(SamplingDecision.NOT_RECORD);
  });

  test('a root linked to a sampled span is sampled whatever the ratio; links to unsampled ones change nothing', () => {
    expect(decide(createSampler('parentbased_traceidratio', 0), undefined, [unsampled, sampled])).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
    expect(decide(createSampler('parentbased_traceidratio', 0), undefined, [unsampled])).toBe(
      SamplingDecision.NOT_RECORD,
    );
  });

  test('always_off and always_on', () => {
    expect(decide(createSampler('always_off', 1), sampled)).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(createSampler('always_on', 0), unsampled)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });
});

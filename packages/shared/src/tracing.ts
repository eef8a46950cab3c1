/**
 * Trace context across Kafka, and the span attribute names the services share. Depends only on
 * `@opentelemetry/api`: without a started SDK (see `./telemetry`) every call here is a cheap
 * no-op, so the services' code creates spans unconditionally.
 *
 * Context travels in W3C Trace Context headers (`traceparent`, `tracestate`) on each message:
 *
 * ```ts
 * const parent = contextFromHeaders(message.headers);        // consumer side
 * const span = tracer.startSpan('fetch-job process', { kind: SpanKind.CONSUMER }, parent);
 * ...
 * injectTraceHeaders(trace.setSpan(context.active(), producerSpan), out.headers ??= {}); // producer side
 * ```
 *
 * @module
 */
import {
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import type { MessageHeaders as IHeaders } from './kafka/messages';

/** The W3C Trace Context headers. */
export const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;

/** Reads propagation fields from message headers (consumed values are Buffers; a repeated header gives its first value). */
export const kafkaHeaderGetter: TextMapGetter<IHeaders | undefined> = {
  keys: (carrier) => (carrier ? Object.keys(carrier) : []),
  get: (carrier, key) => {
    const value = carrier?.[key];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : first.toString();
  },
};

/** Writes propagation fields into message headers (as strings; the producer encodes them). */
export const kafkaHeaderSetter: TextMapSetter<IHeaders> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** The context a message's headers carry (the root context when they carry none). */
export function contextFromHeaders(headers: IHeaders | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, headers, kafkaHeaderGetter);
}

/** Writes the span context of `ctx` into `headers` (`traceparent`, `tracestate`); returns `headers`. */
export function injectTraceHeaders(ctx: Context, headers: IHeaders): IHeaders {
  propagation.inject(ctx, headers, kafkaHeaderSetter);
  return headers;
}

/** True when `spanContext` belongs to a trace that is recorded and exported (its sampled flag is set). */
export function isSampled(spanContext: SpanContext): boolean {
  return (spanContext.traceFlags & TraceFlags.SAMPLED) !== 0;
}

/**
 * The log context provider (see `setLogContextProvider`): `{ trace_id, span_id }` of the span
 * active where the line is written, nothing outside a span. Registered by `startTelemetry`.
 * A span of a trace that was not sampled has ids too; its lines carry them (the trace is then
 * not in Jaeger, but the lines of one job still share one trace_id).
 */
export function traceLogContext(): Record<string, unknown> | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return undefined;
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/**
 * Span attribute names. The `messaging.*`, `db.*` ones are OpenTelemetry semantic conventions
 * (messaging and database spans); `mockstagram.*` are ours.
 */
export const SPAN_ATTRIBUTES = {
  messagingSystem: 'messaging.system',
  messagingDestination: 'messaging.destination.name',
  messagingOperationType: 'messaging.operation.type',
  messagingOperationName: 'messaging.operation.name',
  messagingPartition: 'messaging.destination.partition.id',
  messagingConsumerGroup: 'messaging.consumer.group.name',
  messagingKafkaKey: 'messaging.kafka.message.key',
  messagingKafkaOffset: 'messaging.kafka.offset',
  messagingBatchCount: 'messaging.batch.message_count',
  dbSystem: 'db.system',
  dbSystemName: 'db.system.name',
  dbOperation: 'db.operation.name',
  dbCollection: 'db.collection.name',
  /** The influencer a job, result or log line is about. */
  influencerId: 'mockstagram.influencer_id',
  /** The job's UUID (also `follower_counts.job_id`). */
  jobId: 'mockstagram.job_id',
} as const;

/**
 * The semantic-convention attributes of a span that processes one consumed Kafka message
 * (the fetcher's `fetch-job process`, the result-handler's `fetch-result process`).
 */
export function kafkaProcessAttributes(
  topic: string,
  partition: number,
  offset: string,
  consumerGroup: string,
): Attributes {
  return {
    [SPAN_ATTRIBUTES.messagingSystem]: 'kafka',
    [SPAN_ATTRIBUTES.messagingDestination]: topic,
    [SPAN_ATTRIBUTES.messagingOperationType]: 'process',
    [SPAN_ATTRIBUTES.messagingOperationName]: 'process',
    [SPAN_ATTRIBUTES.messagingConsumerGroup]: consumerGroup,
    [SPAN_ATTRIBUTES.messagingPartition]: String(partition),
    [SPAN_ATTRIBUTES.messagingKafkaOffset]: Number(offset),
  };
}

/**
 * Ends `span`; with a `problem` (an error, or a message saying why) it is recorded first: the
 * exception event for an error, and status ERROR with the message. The one place the services
 * end a span that failed.
 */
export function endSpan(span: Span, problem?: unknown): void {
  if (problem !== undefined && span.isRecording()) {
    if (problem instanceof Error) span.recordException(problem);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: problem instanceof Error ? problem.message : String(problem),
    });
  }
  span.end();
}

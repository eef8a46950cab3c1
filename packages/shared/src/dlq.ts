/**
 * Dead-letter messages: a message that can never succeed is copied to the DLQ topic with its
 * original key, value and headers (so `traceparent` keeps the trace), plus `x-dlq-*` headers
 * saying where it came from and why.
 *
 * @module
 */
import type { Message, MessageHeaders as IHeaders } from './kafka/messages';

/** Known reasons (short kebab-case codes). Other kebab-case codes are allowed. */
export type KnownDlqReason =
  /** The value is not JSON (or is empty). */
  | 'not-json'
  /** JSON, but fails the topic's schema. */
  | 'invalid'
  /** The upstream answered 404: the influencer does not exist. */
  | 'not-found'
  /** A transient failure kept happening until the retry budget ran out. */
  | 'retries-exhausted'
  /** The upstream answered another permanent 4xx (e.g. 400 for a malformed id). */
  | 'upstream-4xx'
  /** The upstream answered 200 with a body we cannot use. */
  | 'malformed-response';
export type DlqReason = KnownDlqReason | (string & {});

/** Which service gave up on the message. */
export type DlqStage = 'scheduler' | 'fetcher' | 'result-handler' | (string & {});

/** The `x-dlq-*` header names. */
export const DLQ_HEADERS = {
  reason: 'x-dlq-reason',
  stage: 'x-dlq-stage',
  attempts: 'x-dlq-attempts',
  sourceTopic: 'x-dlq-source-topic',
  sourcePartition: 'x-dlq-source-partition',
  sourceOffset: 'x-dlq-source-offset',
  error: 'x-dlq-error',
} as const;

/** Longest `x-dlq-error` kept (characters); longer errors are cut with `...`. */
export const DLQ_ERROR_MAX_LENGTH = 1000;

export interface DlqSource {
  topic: string;
  partition: number;
  /** The offset as a decimal string. */
  offset: string;
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: IHeaders;
}

export interface DlqInput {
  /** The message given up on, where it was read from (a `ConsumedMessage`). */
  source: DlqSource;
  stage: DlqStage;
  reason: DlqReason;
  /** Human-readable detail, e.g. `followerCount: expected number >= 0` or `GET ... → 404`. */
  error: string;
  /** How many times processing was tried (1 when it was hopeless from the start). */
  attempts: number;
}

/**
 * Builds the DLQ copy of a message: same key, same value, original headers (any earlier
 * `x-dlq-*` ones replaced) plus `x-dlq-reason`, `x-dlq-stage`, `x-dlq-attempts`,
 * `x-dlq-source-topic`, `x-dlq-source-partition`, `x-dlq-source-offset`, `x-dlq-error`.
 *
 * @example
 * const dlq = dlqMessage({
 *   source: { topic, partition, ...message },
 *   stage: 'result-handler', reason: decoded.reason, error: decoded.error, attempts: 1,
 * });
 * await producer.send([{ topic: config.TOPIC_DLQ, messages: [dlq] }]);
 */
export function dlqMessage(input: DlqInput): Message {
  const { source, stage, reason, error, attempts } = input;
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(source.headers ?? {})) {
    if (value !== undefined && !name.toLowerCase().startsWith('x-dlq-')) headers[name] = value;
  }
  headers[DLQ_HEADERS.reason] = reason;
  headers[DLQ_HEADERS.stage] = stage;
  headers[DLQ_HEADERS.attempts] = String(attempts);
  headers[DLQ_HEADERS.sourceTopic] = source.topic;
  headers[DLQ_HEADERS.sourcePartition] = String(source.partition);
  headers[DLQ_HEADERS.sourceOffset] = String(source.offset);
  headers[DLQ_HEADERS.error] =
    error.length > DLQ_ERROR_MAX_LENGTH ? `${error.slice(0, DLQ_ERROR_MAX_LENGTH - 3)}...` : error;
  return { key: source.key, value: source.value, headers };
}

/** The `x-dlq-*` headers of a DLQ message read back (for tools and tests). Missing ones are undefined. */
export interface DlqInfo {
  reason?: string;
  stage?: string;
  attempts?: number;
  sourceTopic?: string;
  sourcePartition?: number;
  sourceOffset?: string;
  error?: string;
}

/** Reads the `x-dlq-*` headers of a consumed DLQ message. */
export function readDlqHeaders(headers: IHeaders | undefined): DlqInfo {
  const get = (name: string): string | undefined => {
    const v = headers?.[name];
    const first = Array.isArray(v) ? v[0] : v;
    return first === undefined ? undefined : first.toString();
  };
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  return {
    reason: get(DLQ_HEADERS.reason),
    stage: get(DLQ_HEADERS.stage),
    attempts: num(get(DLQ_HEADERS.attempts)),
    sourceTopic: get(DLQ_HEADERS.sourceTopic),
    sourcePartition: num(get(DLQ_HEADERS.sourcePartition)),
    sourceOffset: get(DLQ_HEADERS.sourceOffset),
    error: get(DLQ_HEADERS.error),
  };
}

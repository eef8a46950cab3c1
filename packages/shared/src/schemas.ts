/**
 * The messages on the Kafka topics, as zod schemas, TypeScript types and codecs.
 *
 * - `mockstagram.fetch-jobs`: {@link FetchJob}, key = influencer id.
 * - `mockstagram.fetch-results`: {@link FetchResult}, key = influencer id.
 *
 * Producers encode with `encodeX` (validates, throws on a bug); consumers decode with
 * `decodeX`, which never throws and says why a message is unusable, so it can go to the DLQ
 * with that reason. Unknown fields are dropped (a newer producer may add some).
 *
 * @module
 */
import { z } from 'zod';

const isoDateTime = z.iso.datetime({ offset: true });

/** Work for a fetcher: "fetch influencer X now". */
export const FetchJobSchema = z.object({
  /** Unique per job (UUID, any version); carried into the result and stored as `follower_counts.job_id`. */
  jobId: z.guid(),
  /** Influencer (= Mockstagram user) id. */
  influencerId: z.int(),
  /** When the scheduler meant the fetch to happen (ISO 8601, e.g. `2024-05-01T12:00:00.000Z`). */
  scheduledFor: isoDateTime,
  /** 1 for the first try; bumped when a job is re-issued. */
  attempt: z.int().min(1),
});
export type FetchJob = z.infer<typeof FetchJobSchema>;

/** What a fetcher observed, for the result-handler to store. */
export const FetchResultSchema = z.object({
  /** The job this answers (UUID). */
  jobId: z.guid(),
  influencerId: z.int().positive(),
  username: z.string().min(1),
  followerCount: z.int().nonnegative(),
  followingCount: z.int().nonnegative(),
  /** When the counts were observed (ISO 8601 date-time); stored as `follower_counts.fetched_at`. */
  observedAt: isoDateTime,
  /**
   * The slot this result answers: its job's `scheduledFor`. With the influencer it is the row's
   * identity (`follower_counts.observed_at`), so every further result for the same slot (a
   * redelivered or re-issued job, a slot claimed twice) stores nothing. Optional: a result
   * without it (from an older fetcher) takes its `observedAt` as its slot.
   */
  scheduledFor: isoDateTime.optional(),
});
export type FetchResult = z.infer<typeof FetchResultSchema>;

/** Why a message could not be decoded; also the DLQ reason to use. */
export type DecodeFailureReason = 'not-json' | 'invalid';

/** Outcome of a decode: the value, or why not (with a readable `error`). */
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: DecodeFailureReason; error: string };

/** Thrown by the `encodeX` functions when given an invalid value (a bug in the caller). */
export class SchemaError extends Error {
  override readonly name = 'SchemaError';
}

// ---------------------------------------------------------------------------------------------

/**
 * Validates an already-parsed value (e.g. built from an upstream response) without throwing.
 * A failure has reason `invalid`.
 */
export function parseFetchJob(value: unknown): Decoded<FetchJob> {
  return check(FetchJobSchema, value);
}

/** Like {@link parseFetchJob}, for results. */
export function parseFetchResult(value: unknown): Decoded<FetchResult> {
  return check(FetchResultSchema, value);
}

/** Decodes a Kafka message value (`message.value`) from `mockstagram.fetch-jobs`. Never throws. */
export function decodeFetchJob(buf: Buffer | null): Decoded<FetchJob> {
  return decode(FetchJobSchema, buf);
}

/** Decodes a Kafka message value from `mockstagram.fetch-results`. Never throws. */
export function decodeFetchResult(buf: Buffer | null): Decoded<FetchResult> {
  return decode(FetchResultSchema, buf);
}

/** Validates and serializes a job (fields in schema order, unknown fields dropped). @throws {@link SchemaError} */
export function encodeFetchJob(job: FetchJob): Buffer {
  return encode(FetchJobSchema, job, 'FetchJob');
}

/** Validates and serializes a result. @throws {@link SchemaError} */
export function encodeFetchResult(result: FetchResult): Buffer {
  return encode(FetchResultSchema, result, 'FetchResult');
}

/**
 * A FetchResult message value WITHOUT validating it again: for a result assembled from parts that
 * were each validated against the same field schemas (the fetcher: `jobId` from a decoded
 * FetchJob, the counts from a response checked with `FetchResultSchema.shape`'s fields,
 * `observedAt` from `Date#toISOString()` of a date within years 0–9999), where a second zod
 * pass would only cost CPU. Anything else should use {@link encodeFetchResult}.
 */
export function serializeFetchResult(result: FetchResult): Buffer {
  return Buffer.from(JSON.stringify(result));
}

// ---------------------------------------------------------------------------------------------

/**
 * One line summarizing zod issues: `followerCount: expected number >= 0; username: required`.
 * `input` is the value that was validated; it lets the summary say what was found instead.
 */
export function summarizeIssues(issues: readonly z.core.$ZodIssue[], input?: unknown): string {
  const shown = issues.slice(0, 5).map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : 'value';
    return `${path}: ${describeIssue(issue, valueAt(input, issue.path))}`;
  });
  if (issues.length > 5) shown.push(`(${issues.length - 5} more)`);
  return shown.join('; ');
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'required';
      return `expected ${issue.expected === 'int' ? 'integer' : issue.expected}, got ${typeName(value)}`;
    case 'too_small':
    case 'too_big': {
      const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      if (issue.origin === 'string') {
        return issue.code === 'too_small' && Number(bound) === 1
          ? 'expected a non-empty string'
          : `expected length ${op} ${bound}`;
      }
      return `expected ${issue.origin} ${op} ${bound}`;
    }
    case 'invalid_format': {
      const what =
        issue.format === 'datetime'
          ? 'an ISO 8601 date-time'
          : issue.format === 'guid'
            ? 'a UUID'
            : `format ${issue.format}`;
      return `expected ${what}, got ${JSON.stringify(value)}`;
    }
    default:
      return issue.message;
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return `number ${value}`;
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return typeof value;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function check<T>(schema: z.ZodType<T>, value: unknown): Decoded<T> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, reason: 'invalid', error: summarizeIssues(result.error.issues, value) };
}

function encode<T>(schema: z.ZodType<T>, value: T, name: string): Buffer {
  const result = schema.safeParse(value);
  if (!result.success) throw new SchemaError(`invalid ${name}: ${summarizeIssues(result.error.issues, value)}`);
  return Buffer.from(JSON.stringify(result.data));
}

function decode<T>(schema: z.ZodType<T>, buf: Buffer | null): Decoded<T> {
  if (buf === null || buf.length === 0) {
    return {
      ok: false,
      reason: 'not-json',
      error: buf === null ? 'message has no value (null)' : 'message value is empty',
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    const text = buf.length > 60 ? `${buf.toString('utf8', 0, 60)}...` : buf.toString('utf8');
    return { ok: false, reason: 'not-json', error: `${(err as Error).message} in ${JSON.stringify(text)}` };
  }
  return check(schema, parsed);
}

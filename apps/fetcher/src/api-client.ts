/**
 * HTTP client for the Mockstagram API: one influencer lookup → a typed outcome, with a per-attempt
 * timeout and retries.
 *
 * - Transport: an undici `Pool` of keep-alive connections to one origin (at most `connections`,
 *   no pipelining; requests beyond that queue in the pool). Requests go through `Pool.dispatch`
 *   with a small handler ({@link Exchange}): no body stream, AbortController or timer per
 *   request; the timeout is undici's `headersTimeout` / `bodyTimeout`. Aborting a request on the
 *   wire destroys its connection; the pool opens a new one.
 * - Retries: a cockatiel `retry()` policy calls the attempt function once per attempt (each is
 *   timed, classified and counted here: `x-dlq-attempts`, `fetcher_requests_total{outcome}`,
 *   `fetcher_retries_total`), decides from the returned value (`handleWhenResult`) and asks a
 *   `DelegateBackoff` for each wait, which sees the failed attempt: the wait is max(full-jitter
 *   backoff, Retry-After), never earlier than the server asked. A backoff wait does not end when
 *   the abort signal fires, so `fetchInfluencer` races the policy against the signal (the
 *   orphaned wait's timer is unref'd, and its next attempt sees the signal and stops).
 *
 * Transient (retried, then `retries-exhausted`): 5xx, 408, 429, no complete answer within the
 * timeout, connection errors. Final at once: 404 (`not-found`), other 4xx (`upstream-4xx`), a 2xx
 * whose body is not JSON or not the expected object (`malformed-response`: a server that answers
 * that way answers the same way again, so it goes to the DLQ for a person to look at), 1xx/3xx
 * (`unexpected-status`).
 *
 * Tracing: each HTTP attempt of a sampled job is a CLIENT span `GET /api/v1/influencers/:id`
 * (HTTP semantic-convention attributes, `http.request.resend_count` for retries), child of the
 * context the caller passes, whose `traceparent` goes in the request headers (the mock API
 * continues the trace). The span is made here, not by an instrumentation of undici, so that an
 * unsampled job costs one check and no AsyncLocalStorage (why: docs/performance.md, "The
 * fetcher's HTTP client").
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import { FetchResultSchema, injectTraceHeaders, summarizeIssues } from '@mockstagram/shared';
import { SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { DelegateBackoff, handleWhenResult, retry, type IRetryBackoffContext, type RetryPolicy } from 'cockatiel';
import { Pool } from 'undici';
import { z } from 'zod';
import { onAbort } from './abort';
import { UpstreamHealth, type OutageSettings } from './upstream-health';
import { Exchange, type Answer } from './exchange';
import type { FetcherConfig } from './config';
import type { FetcherMetrics } from './metrics';
import {
  classifyStatus,
  parseRetryAfter,
  retryDelayMs,
  statusLabel,
  type BackoffSettings,
  type RequestOutcomeLabel,
} from './retry-policy';

/** Path of the influencer resource; the id is appended. */
export const INFLUENCER_PATH = '/api/v1/influencers/';

/** The fetcher's tracer (its instrumentation scope is the service name). */
const tracer = trace.getTracer('fetcher');

/**
 * The 200 body of `GET /api/v1/influencers/:id`. Unknown fields are ignored. Its fields use
 * FetchResultSchema's own field schemas, so a result built from a body that passed needs no second
 * check (`serializeFetchResult`).
 */
export const InfluencerResponseSchema = z.object({
  pk: FetchResultSchema.shape.influencerId,
  username: FetchResultSchema.shape.username,
  followerCount: FetchResultSchema.shape.followerCount,
  followingCount: FetchResultSchema.shape.followingCount,
});

/** The instants `Date#toISOString()` writes with a plain 4-digit year (0000-01-01 … 9999-12-31), as FetchResult's `observedAt` needs. */
const ISO_MIN_MS = -62_167_219_200_000;
const ISO_MAX_MS = 253_402_300_799_999;

/** What one successful lookup observed. */
export interface InfluencerObservation {
  influencerId: number;
  username: string;
  followerCount: number;
  followingCount: number;
  /**
   * When the counts were true, ISO 8601: the response's `Date` header (second precision; the mock
   * API computes the counts at that same instant), or the local clock when the answer had no
   * usable `Date`.
   */
  observedAt: string;
}

/** Why a lookup gave up; the same codes are the DLQ reasons. */
export type FetchFailureReason =
  'not-found' | 'upstream-4xx' | 'malformed-response' | 'retries-exhausted' | 'unexpected-status';

/** The result of {@link ApiClient.fetchInfluencer}. `attempts` counts HTTP attempts made (>= 1). */
export type FetchOutcome =
  | { ok: true; observation: InfluencerObservation; attempts: number }
  | { ok: false; reason: FetchFailureReason; error: string; attempts: number };

/** Thrown (rejected) by {@link ApiClient.fetchInfluencer} when its signal aborted: the job has no outcome. */
export class FetchAbortedError extends Error {
  override readonly name = 'FetchAbortedError';
}

export interface ApiClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:3001` (`MOCK_API_URL`). */
  baseUrl: string;
  /** Keep-alive connections (`FETCHER_CONNECTIONS`). */
  connections: number;
  /** Per attempt: issue → whole body, ms (`FETCHER_TIMEOUT_MS`). */
  timeoutMs: number;
  /** Attempts per lookup, first included (`FETCHER_MAX_ATTEMPTS`). */
  maxAttempts: number;
  /** Backoff between attempts (`FETCHER_BACKOFF_BASE_MS`, `FETCHER_BACKOFF_MAX_MS`). */
  backoff: BackoffSettings;
  /** A Retry-After longer than this ends the retries (`FETCHER_RETRY_AFTER_MAX_MS`). */
  retryAfterMaxMs: number;
  /** When the upstream counts as in an outage, so a job out of attempts is held, not dead-lettered. */
  outage: OutageSettings;
  /** Where attempts are counted and timed; none by default. */
  metrics?: FetcherMetrics;
  /** Uniform [0, 1) source for the jitter. Default Math.random. */
  random?: () => number;
}

/** {@link ApiClientOptions} from the service configuration. */
export function apiClientOptionsFrom(config: FetcherConfig, metrics?: FetcherMetrics): ApiClientOptions {
  return {
    baseUrl: config.MOCK_API_URL,
    connections: config.FETCHER_CONNECTIONS,
    timeoutMs: config.FETCHER_TIMEOUT_MS,
    maxAttempts: config.FETCHER_MAX_ATTEMPTS,
    backoff: { baseMs: config.FETCHER_BACKOFF_BASE_MS, maxMs: config.FETCHER_BACKOFF_MAX_MS },
    retryAfterMaxMs: config.FETCHER_RETRY_AFTER_MAX_MS,
    outage: { failureRate: config.FETCHER_OUTAGE_FAILURE_RATE, minRequests: config.FETCHER_OUTAGE_MIN_REQUESTS },
    metrics,
  };
}

/** One attempt, as the retry policy sees it. */
type Attempt =
  | { kind: 'final'; outcome: DistributiveOmit<FetchOutcome, 'attempts'> }
  | {
      kind: 'transient';
      error: string;
      /** What the server asked for with Retry-After, ms. */
      retryAfterMs?: number;
      /** Set when retrying is pointless or forbidden (Retry-After beyond the limit). */
      stop?: boolean;
    };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const isRetryable = (value: unknown): boolean => {
  const attempt = value as Attempt;
  return attempt.kind === 'transient' && !attempt.stop;
};

/**
 * Looks influencers up on the Mockstagram API. One instance per process (it owns the connection
 * pool); `close()` it at shutdown.
 *
 * @example
 * const api = new ApiClient(apiClientOptionsFrom(config, metrics));
 * const outcome = await api.fetchInfluencer(1234567);
 * if (outcome.ok) console.log(outcome.observation.followerCount);
 * else console.log(outcome.reason, outcome.error, outcome.attempts);
 */
export class ApiClient {
  readonly pool: Pool;
  private readonly policy: RetryPolicy;
  private readonly origin: URL;
  private readonly health: UpstreamHealth;

  constructor(private readonly options: ApiClientOptions) {
    if (!(options.maxAttempts >= 1)) throw new RangeError(`maxAttempts must be >= 1, got ${options.maxAttempts}`);
    this.pool = new Pool(options.baseUrl.replace(/\/+$/, ''), { connections: options.connections, pipelining: 1 });
    this.origin = new URL(options.baseUrl);
    this.health = new UpstreamHealth(options.outage);
    const random = options.random ?? Math.random;
    this.policy = retry(handleWhenResult(isRetryable), {
      maxAttempts: options.maxAttempts - 1, // cockatiel counts retries, not attempts
      backoff: new DelegateBackoff((context: IRetryBackoffContext<unknown>) => {
        const failed = 'value' in context.result ? (context.result.value as Attempt) : undefined;
        const retryAfterMs = failed?.kind === 'transient' ? failed.retryAfterMs : undefined;
        return retryDelayMs(context.attempt, retryAfterMs, options.backoff, random);
      }),
    }).dangerouslyUnref();
  }

  /**
   * Fetches influencer `id`, retrying transient failures. Resolves with the outcome (never rejects
   * for an HTTP or network problem); rejects with {@link FetchAbortedError} only when `signal`
   * aborts first (pending request aborted, no further attempt).
   *
   * `traceContext`: the job's context; when its span is sampled, each attempt is a CLIENT span under it.
   */
  async fetchInfluencer(id: number, signal?: AbortSignal, traceContext?: Context): Promise<FetchOutcome> {
    let attempts = 0;
    // everyone's attempts since this job's first: the evidence of whether the upstream is down
    const mark = this.health.mark();
    for (;;) {
      const run = this.policy.execute(async () => {
        attempts += 1;
        if (attempts > 1) this.options.metrics?.retries.inc();
        const attempt = await this.attempt(id, signal, traceContext, attempts);
        this.health.record(attempt.kind === 'transient');
        return attempt;
      }, signal);
      const last = signal ? await raceAbort(run, signal) : await run;
      if (last.kind === 'final') return { ...last.outcome, attempts };
      // Out of attempts while most of everyone's attempts failed too: the upstream is down, not this job. The job
      // keeps its place (its partition commits nothing past it; backpressure pauses fetching)
      // and starts a new round of attempts after the longest backoff.
      if (!last.stop && this.health.inOutageSince(mark)) {
        this.options.metrics?.held.inc();
        await sleepUnlessAborted(this.options.backoff.maxMs, signal);
        continue;
      }
      return this.exhausted(last, attempts);
    }
  }

  private exhausted(last: Extract<Attempt, { kind: 'transient' }>, attempts: number): FetchOutcome {
    return {
      ok: false,
      reason: 'retries-exhausted',
      attempts,
      error: last.stop ? last.error : `gave up after ${attempts} attempt(s); last: ${last.error}`,
    };
  }

  /** Closes the pool (waits for requests still running; abort them first for a quick close). */
  async close(): Promise<void> {
    await this.pool.close();
  }

  // -------------------------------------------------------------------------------------------

  private async attempt(
    id: number,
    signal: AbortSignal | undefined,
    traceContext: Context | undefined,
    attempt: number,
  ): Promise<Attempt> {
    if (signal?.aborted) throw abortError(signal);
    const { timeoutMs, metrics } = this.options;
    const path = `${INFLUENCER_PATH}${id}`;
    const span =
      traceContext !== undefined && trace.getSpan(traceContext)?.isRecording()
        ? this.clientSpan(path, traceContext, attempt)
        : undefined;
    const headers =
      span === undefined
        ? undefined
        : (injectTraceHeaders(trace.setSpan(traceContext!, span), {}) as Record<string, string>);
    const exchange = new Exchange();
    const unwatch = signal ? onAbort(signal, () => exchange.abort(signal.reason)) : undefined;
    metrics?.inflight.inc();
    const started = performance.now();
    let label: RequestOutcomeLabel = 'error';
    let failure: string | undefined;
    try {
      // Undici's own timers (headersTimeout: request written → response headers; bodyTimeout:
      // between body chunks), not one timer and AbortController per request.
      this.pool.dispatch({ method: 'GET', path, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }, exchange);
      const answer = await exchange.answer;
      label = statusLabel(answer.status);
      return this.interpret(id, path, answer, Date.now());
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
      failure = timedOut
        ? 'timeout'
        : signal?.aborted
          ? 'aborted'
          : ((code as string | undefined) ?? (err as Error).name);
      if (signal?.aborted) throw abortError(signal);
      if (timedOut) {
        label = 'timeout';
        return {
          kind: 'transient',
          error: `GET ${path}: no complete answer within ${timeoutMs} ms (FETCHER_TIMEOUT_MS)`,
        };
      }
      label = 'error';
      return { kind: 'transient', error: `GET ${path}: ${describeError(err)}` };
    } finally {
      if (span !== undefined) endClientSpan(span, exchange.status, failure);
      unwatch?.();
      if (metrics) {
        metrics.inflight.dec();
        metrics.requests.labels(label).inc();
        metrics.requestDuration.observe((performance.now() - started) / 1000);
      }
    }
  }

  /** The CLIENT span of one attempt (HTTP semantic conventions). */
  private clientSpan(path: string, parent: Context, attempt: number): Span {
    const { origin } = this;
    const span = tracer.startSpan(
      `GET ${INFLUENCER_PATH}:id`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'http.request.method': 'GET',
          'url.full': `${origin.origin}${path}`,
          'url.path': path,
          'url.scheme': origin.protocol.slice(0, -1),
          'url.template': `${INFLUENCER_PATH}{id}`,
          'server.address': origin.hostname,
          'server.port': Number(origin.port || (origin.protocol === 'https:' ? 443 : 80)),
        },
      },
      parent,
    );
    if (attempt > 1) span.setAttribute('http.request.resend_count', attempt - 1);
    return span;
  }

  private interpret(id: number, path: string, { status, date, retryAfter, body }: Answer, receivedAt: number): Attempt {
    const dated = date === undefined ? NaN : Date.parse(date);
    // A Date header that does not parse, or names a year ISO 8601 cannot write plainly, is ignored.
    const serverNow = dated >= ISO_MIN_MS && dated <= ISO_MAX_MS ? dated : undefined;

    switch (classifyStatus(status)) {
      case 'success':
        return { kind: 'final', outcome: parseObservation(id, path, status, body, serverNow ?? receivedAt) };
      case 'transient': {
        const retryAfterMs = parseRetryAfter(retryAfter, serverNow ?? receivedAt);
        const error = `GET ${path} → ${status}${retryAfterMs === undefined ? '' : ` (Retry-After ${retryAfterMs / 1000} s)`}: ${errorText(body)}`;
        if (retryAfterMs !== undefined && retryAfterMs > this.options.retryAfterMaxMs) {
          return {
            kind: 'transient',
            retryAfterMs,
            stop: true,
            error: `${error}; Retry-After exceeds FETCHER_RETRY_AFTER_MAX_MS (${this.options.retryAfterMaxMs} ms), not retrying`,
          };
        }
        return { kind: 'transient', retryAfterMs, error };
      }
      case 'not-found':
        return {
          kind: 'final',
          outcome: { ok: false, reason: 'not-found', error: `GET ${path} → 404: ${errorText(body)}` },
        };
      case 'client-error':
        return {
          kind: 'final',
          outcome: { ok: false, reason: 'upstream-4xx', error: `GET ${path} → ${status}: ${errorText(body)}` },
        };
      default:
        return {
          kind: 'final',
          outcome: { ok: false, reason: 'unexpected-status', error: `GET ${path} → ${status}: ${errorText(body)}` },
        };
    }
  }
}

/** Ends an attempt's span: `status` when an answer came, else `failure` (timeout, error code). */
function endClientSpan(span: Span, status: number | undefined, failure: string | undefined): void {
  if (status !== undefined) span.setAttribute('http.response.status_code', status);
  if (failure !== undefined) {
    span.setAttribute('error.type', failure);
    span.setStatus({ code: SpanStatusCode.ERROR, message: failure });
  } else if (status !== undefined && status >= 400) {
    span.setAttribute('error.type', String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** A 2xx body → the observation, or `malformed-response` saying what is wrong with it. */
function parseObservation(
  id: number,
  path: string,
  status: number,
  body: string,
  observedAtMs: number,
): DistributiveOmit<FetchOutcome, 'attempts'> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return {
      ok: false,
      reason: 'malformed-response',
      error: `GET ${path} → ${status} with a body that is not JSON (${(err as Error).message}): ${snippet(body)}`,
    };
  }
  const parsed = InfluencerResponseSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      reason: 'malformed-response',
      error: `GET ${path} → ${status} with an unexpected body: ${summarizeIssues(parsed.error.issues, json)}`,
    };
  }
  if (parsed.data.pk !== id) {
    return {
      ok: false,
      reason: 'malformed-response',
      error: `GET ${path} → ${status} for a different influencer (pk ${parsed.data.pk})`,
    };
  }
  const { username, followerCount, followingCount } = parsed.data;
  return {
    ok: true,
    observation: {
      influencerId: id,
      username,
      followerCount,
      followingCount,
      observedAt: new Date(observedAtMs).toISOString(),
    },
  };
}

/** The `message` of a JSON error body (`{"error": "...", "message": "..."}`), else the start of the body. */
function errorText(body: string): string {
  try {
    const value = JSON.parse(body) as { message?: unknown; error?: unknown };
    if (typeof value.message === 'string') return value.message;
    if (typeof value.error === 'string') return value.error;
  } catch {
    // not JSON: show it as is
  }
  return body.length === 0 ? '(empty body)' : snippet(body);
}

function snippet(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}...` : text);
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${typeof code === 'string' ? `${code} ` : ''}${err.message}${cause}`;
}

function abortError(signal: AbortSignal): FetchAbortedError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
  return new FetchAbortedError(`fetch aborted: ${reason}`);
}

/** Waits `ms`, or rejects with a {@link FetchAbortedError} as soon as `signal` aborts. */
function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  const wait = new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
  return signal ? raceAbort(wait, signal) : wait;
}

/** `promise`, or a {@link FetchAbortedError} as soon as `signal` aborts (the promise is left to settle on its own). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      promise.catch(() => undefined);
      reject(abortError(signal));
      return;
    }
    const unwatch = onAbort(signal, () => {
      promise.catch(() => undefined);
      reject(abortError(signal));
    });
    promise.then(
      (value) => {
        unwatch();
        resolve(value);
      },
      (err: unknown) => {
        unwatch();
        reject(err);
      },
    );
  });
}

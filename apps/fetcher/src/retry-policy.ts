/**
 * The pure parts of the retry policy: which HTTP answers are worth retrying, how long to wait
 * before the next attempt, and `Retry-After` parsing. No I/O, no clock of their own (callers pass
 * `now` and `random`), so they are unit-tested directly.
 *
 * @module
 */

/** Label of one HTTP attempt in `fetcher_requests_total{outcome}`. */
export type RequestOutcomeLabel = '2xx' | '3xx' | '4xx' | '429' | '5xx' | 'timeout' | 'error' | '1xx';

/** `fetcher_requests_total{outcome}` label of a status: its class, except 429 which has its own. */
export function statusLabel(status: number): RequestOutcomeLabel {
  if (status === 429) return '429';
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  if (status >= 300) return '3xx';
  if (status >= 200) return '2xx';
  return '1xx';
}

/** What to do with an HTTP status. */
export type StatusClass =
  /** 2xx: read the body. */
  | 'success'
  /** 5xx, 408 Request Timeout, 429 Too Many Requests: try again after a backoff. */
  | 'transient'
  /** 404: the influencer does not exist; never retried. */
  | 'not-found'
  /** Any other 4xx (e.g. 400 for a malformed id): the request is wrong; never retried. */
  | 'client-error'
  /** 1xx / 3xx: not something this API sends; never retried. */
  | 'unexpected';

export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status < 300) return 'success';
  if (status >= 500 || status === 429 || status === 408) return 'transient';
  if (status === 404) return 'not-found';
  if (status >= 400) return 'client-error';
  return 'unexpected';
}

/**
 * Milliseconds a `Retry-After` header asks to wait, or `undefined` when there is none or it is
 * unusable. Accepts both RFC 9110 forms:
 * - delay-seconds: `Retry-After: 120` → 120 000;
 * - an HTTP-date: `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` → that instant minus `now`
 *   (0 when it is in the past).
 *
 * `now` should be the response's own `Date` when it has one (so clock skew between the two
 * machines does not matter), else the local clock.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return undefined;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  // An HTTP-date starts with a day name; this keeps Date.parse from reading "1.5" or "-1" as dates.
  if (!/^[A-Za-z]{3,9},? /.test(raw)) return undefined;
  const at = Date.parse(raw);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, at - now);
}

export interface BackoffSettings {
  /** Cap of the first retry's window, ms (`FETCHER_BACKOFF_BASE_MS`). */
  baseMs: number;
  /** Largest window, ms (`FETCHER_BACKOFF_MAX_MS`). */
  maxMs: number;
}

/**
 * Exponential backoff with "full jitter" (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): before retry `retry` (1 = the first retry) wait a uniformly random time in
 * `[0, min(maxMs, baseMs * 2^(retry-1)))`. Spreads the retries of many jobs that failed together.
 */
export function fullJitterDelayMs(
  retry: number,
  settings: BackoffSettings,
  random: () => number = Math.random,
): number {
  const window = Math.min(settings.maxMs, settings.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * window);
}

/**
 * Added to a `Retry-After` wait: timers may fire a millisecond early by the wall clock, and the
 * server may round; the retry must never arrive before the time it asked for.
 */
export const RETRY_AFTER_MARGIN_MS = 20;

/**
 * Wait before retry `retry`: the jittered backoff, but never less than what the server asked
 * for with `Retry-After` (plus {@link RETRY_AFTER_MARGIN_MS}).
 */
export function retryDelayMs(
  retry: number,
  retryAfterMs: number | undefined,
  settings: BackoffSettings,
  random: () => number = Math.random,
): number {
  const jittered = fullJitterDelayMs(retry, settings, random);
  return retryAfterMs === undefined ? jittered : Math.max(jittered, retryAfterMs + RETRY_AFTER_MARGIN_MS);
}

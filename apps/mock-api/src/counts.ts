/**
 * Deterministic follower / following counts for the Mockstagram mock API.
 *
 * `countsAt(id, time, options)` is a pure function of (id, time bucket, seed), where
 * bucket = floor(unixSeconds / bucketSeconds). Anyone who knows the seed and the bucket size
 * (the pipeline's end-to-end test, for one) can compute exactly what the API answered.
 *
 * The model, per influencer (everything drawn from an integer hash of id + seed):
 * - a base follower count on EPOCH (2026-01-01T00:00:00Z), log-normal around 20,000
 *   (median), clamped to [100, 50,000,000]: hundreds to millions;
 * - a daily growth rate: 80% grow by 0.05%..0.5% a day, 20% shrink by 0.02%..0.15% a day.
 *   Growth is logistic (it saturates at 5..50x the base), so counts stay finite and
 *   realistic for any time, past or future;
 * - a smooth fluctuation of ±0.1% (value noise with a knot every 10 minutes);
 * - with probability `suspiciousShare`: bought followers. Every 30 min..6 h window
 *   (period per influencer) has a 60% chance of a sudden jump of +10%..+60% at a hashed
 *   moment, and the bought followers are then purged linearly over 3 periods;
 * - a following count between 50 and 5,000 that wanders ±8% on a 20..120-day cycle.
 *
 * Cost: O(1) per call (a dozen integer hashes, a few exp / sin), whatever the time;
 * nothing iterates over buckets. No crypto.
 */

// Built-ins bound once at module scope: under jest every module runs in a vm context where each
// global lookup (`Math`, `Number`) goes through an interceptor; a closure variable does not, so
// countsAt costs the same in tests as in production.
const { PI, cos, exp, floor, imul, log, max, round, sin, sqrt } = Math;
const { isFinite, isInteger, isSafeInteger } = Number;

/** Knobs of the deterministic model. Defaults: {@link DEFAULT_COUNTS_OPTIONS}. */
export interface CountsOptions {
  /** Seed of every hash: a different seed gives a different population. Integer. */
  seed: number;
  /** Counts are constant within a bucket of this many seconds (> 0). */
  bucketSeconds: number;
  /** Share (0..1) of influencers with sudden follower jumps ("bought followers"). */
  suspiciousShare: number;
}

/**
 * Defaults of {@link CountsOptions}. The service's config schema (`src/config.ts`) uses these
 * same values as the defaults of MOCK_API_SEED, MOCK_API_BUCKET_SECONDS and
 * MOCK_API_SUSPICIOUS_SHARE, so they are written down only here.
 */
export const DEFAULT_COUNTS_OPTIONS: Readonly<CountsOptions> = Object.freeze({
  seed: 42,
  bucketSeconds: 1,
  suspiciousShare: 0.02,
});

export interface InfluencerCounts {
  username: string;
  followerCount: number;
  followingCount: number;
}

/** Base counts are the counts on this instant (2026-01-01T00:00:00Z), in Unix seconds. */
export const EPOCH_SECONDS = Date.UTC(2026, 0, 1) / 1000;

const SECONDS_PER_DAY = 86_400;
const TWO_POW_32 = 4_294_967_296;

/** Bucket index of `time` (a Date or Unix milliseconds): floor(seconds / bucketSeconds). */
export function bucketOf(time: Date | number, bucketSeconds: number = DEFAULT_COUNTS_OPTIONS.bucketSeconds): number {
  const ms = typeof time === 'number' ? time : time.getTime();
  if (!isFinite(ms)) throw new RangeError(`time must be a finite Date or number of milliseconds, got ${String(time)}`);
  if (!(bucketSeconds > 0)) throw new RangeError(`bucketSeconds must be > 0, got ${bucketSeconds}`);
  return floor(ms / 1000 / bucketSeconds);
}

/** Start of bucket `bucket`, in Unix milliseconds. */
export function bucketStartMs(bucket: number, bucketSeconds: number = DEFAULT_COUNTS_OPTIONS.bucketSeconds): number {
  return bucket * bucketSeconds * 1000;
}

/**
 * Counts of influencer `id` at `time` (a Date or Unix milliseconds).
 * Missing options take {@link DEFAULT_COUNTS_OPTIONS}.
 */
export function countsAt(id: number, time: Date | number, options: Partial<CountsOptions> = {}): InfluencerCounts {
  const bucketSeconds = options.bucketSeconds ?? DEFAULT_COUNTS_OPTIONS.bucketSeconds;
  return countsAtBucket(id, bucketOf(time, bucketSeconds), options);
}

/** Same as {@link countsAt}, for an already computed bucket index (see {@link bucketOf}). */
export function countsAtBucket(id: number, bucket: number, options: Partial<CountsOptions> = {}): InfluencerCounts {
  const seed = options.seed ?? DEFAULT_COUNTS_OPTIONS.seed;
  const bucketSeconds = options.bucketSeconds ?? DEFAULT_COUNTS_OPTIONS.bucketSeconds;
  const suspiciousShare = options.suspiciousShare ?? DEFAULT_COUNTS_OPTIONS.suspiciousShare;
  if (!isSafeInteger(id) || id < 1) throw new RangeError(`id must be a positive integer, got ${id}`);
  if (!isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  if (!(bucketSeconds > 0)) throw new RangeError(`bucketSeconds must be > 0, got ${bucketSeconds}`);
  if (!(suspiciousShare >= 0 && suspiciousShare <= 1)) {
    throw new RangeError(`suspiciousShare must be within 0..1, got ${suspiciousShare}`);
  }
  if (!isFinite(bucket)) throw new RangeError(`bucket must be finite, got ${bucket}`);

  const t = bucket * bucketSeconds; // Unix seconds at the start of the bucket
  const p = profileWithShare(id, seed, suspiciousShare);
  const ki = keyOf(id, seed);

  // Logistic growth from `base` at EPOCH towards `cap` (or towards 0 for a negative rate).
  const days = (t - EPOCH_SECONDS) / SECONDS_PER_DAY;
  const trend = p.cap / (1 + (p.cap / p.base - 1) * exp(-p.dailyRate * days));

  let factor = 1 + NOISE_AMPLITUDE * valueNoise(ki, t);
  if (p.suspicious) factor += boughtShare(ki, p.jumpPeriodSeconds, t);

  const followerCount = max(0, round(trend * factor));
  const phase = (2 * PI * (t - EPOCH_SECONDS)) / p.followingPeriodSeconds + p.followingPhase;
  const followingCount = max(0, round(p.followingBase * (1 + FOLLOWING_AMPLITUDE * sin(phase))));
  return { username: usernameFor(id), followerCount, followingCount };
}

/** Profile of one influencer: the hidden parameters `countsAt` draws from id + seed. */
export interface InfluencerProfile {
  /** Follower count on EPOCH, before noise and jumps. */
  base: number;
  /** Logistic ceiling of the follower count. */
  cap: number;
  /** Growth per day (negative: a shrinking account). */
  dailyRate: number;
  /** Uniform draw compared with `suspiciousShare`: suspicious when `suspiciousDraw < share`. */
  suspiciousDraw: number;
  /** Length of a jump window, seconds. */
  jumpPeriodSeconds: number;
  followingBase: number;
  followingPeriodSeconds: number;
  followingPhase: number;
}

/**
 * The hidden parameters of influencer `id` (for tests and sanity checks): what `countsAt`
 * draws from id + seed. `suspicious` is `suspiciousDraw < suspiciousShare`.
 */
export function profileOf(
  id: number,
  options: Partial<CountsOptions> = {},
): InfluencerProfile & { suspicious: boolean } {
  return profileWithShare(
    id,
    options.seed ?? DEFAULT_COUNTS_OPTIONS.seed,
    options.suspiciousShare ?? DEFAULT_COUNTS_OPTIONS.suspiciousShare,
  );
}

/**
 * The ground truth of "suspicious" (bought followers) for influencer `id`: for tests and
 * benchmarks that measure a detector, never for the detector itself.
 */
export function isSuspicious(id: number, options: Partial<CountsOptions> = {}): boolean {
  return profileOf(id, options).suspicious;
}

/** The suspicious ids in `idMin..idMax` (inclusive), ascending. */
export function suspiciousIds(idMin: number, idMax: number, options: Partial<CountsOptions> = {}): number[] {
  if (!(isSafeInteger(idMin) && isSafeInteger(idMax) && idMin >= 1 && idMin <= idMax)) {
    throw new RangeError(`id range must be positive integers with idMin <= idMax, got ${idMin}..${idMax}`);
  }
  const out: number[] = [];
  for (let id = idMin; id <= idMax; id++) if (isSuspicious(id, options)) out.push(id);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Model constants

const NOISE_AMPLITUDE = 0.001; // ±0.1%
const NOISE_KNOT_SECONDS = 600;
const FOLLOWING_AMPLITUDE = 0.08;
const JUMP_CHANCE = 0.6;
const JUMP_MIN = 0.1;
const JUMP_SPREAD = 0.5; // jumps are +10%..+60%
const PURGE_PERIODS = 3; // bought followers disappear linearly over 3 jump periods

const SALT_BASE = 0x1b873593;
const SALT_RATE = 0x2c1b3c6d;
const SALT_SUSPICIOUS = 0x297a2d39;
const SALT_JUMP = 0x68e31da4;
const SALT_NOISE = 0x5b3f8c1d;
const SALT_FOLLOWING = 0x7ed55d16;
const SALT_NAME = 0x165667b1;

function profileWithShare(id: number, seed: number, share: number): InfluencerProfile & { suspicious: boolean } {
  const k = keyOf(id, seed);
  // Log-normal base: median 20,000, sigma 1.7 (±3 sigma ≈ 120 .. 3.3 million).
  const z = normal(hash3(k, SALT_BASE, 1), hash3(k, SALT_BASE, 2));
  const base = clamp(exp(log(20_000) + 1.7 * z), 100, 50_000_000);
  const capFactor = 5 + 45 * unit(hash3(k, SALT_BASE, 3));
  const shrinks = unit(hash3(k, SALT_RATE, 1)) < 0.2;
  const r = unit(hash3(k, SALT_RATE, 2));
  const dailyRate = shrinks ? -(0.0002 + 0.0013 * r) : 0.0005 + 0.0045 * r * r;
  const suspiciousDraw = unit(hash3(k, SALT_SUSPICIOUS, 0));
  const jumpPeriodSeconds = 1800 + 60 * floor(330 * unit(hash3(k, SALT_JUMP, 0)));
  const followingBase = exp(log(50) + log(100) * unit(hash3(k, SALT_FOLLOWING, 1)));
  const followingPeriodSeconds = SECONDS_PER_DAY * (20 + 100 * unit(hash3(k, SALT_FOLLOWING, 2)));
  const followingPhase = 2 * PI * unit(hash3(k, SALT_FOLLOWING, 3));
  return {
    base,
    cap: base * capFactor,
    dailyRate,
    suspiciousDraw,
    suspicious: suspiciousDraw < share,
    jumpPeriodSeconds,
    followingBase,
    followingPeriodSeconds,
    followingPhase,
  };
}

/**
 * Share of bought followers at time t (seconds), relative to the trend: each window of
 * `period` seconds may hold one jump at a hashed moment; a jump's followers are purged
 * linearly over PURGE_PERIODS periods. Only the last PURGE_PERIODS + 1 windows can still
 * contribute, so this is O(1).
 */
function boughtShare(k: number, period: number, t: number): number {
  const current = floor(t / period);
  let share = 0;
  for (let w = current - PURGE_PERIODS; w <= current; w++) {
    const h = hash3(k ^ SALT_JUMP, w >>> 0, floor(w / TWO_POW_32) >>> 0);
    if (unit(h) >= JUMP_CHANCE) continue;
    const h2 = mix32(h ^ SALT_JUMP);
    const jumpAt = w * period + floor(unit(h2) * period);
    const age = t - jumpAt;
    if (age < 0) continue;
    const remaining = 1 - age / (PURGE_PERIODS * period);
    if (remaining <= 0) continue;
    const size = JUMP_MIN + JUMP_SPREAD * unit(mix32(h2 + 0x9e3779b9));
    share += size * remaining;
  }
  return share;
}

/** Smooth pseudo-random wave in [-1, 1]: values at knots every NOISE_KNOT_SECONDS, smoothstep between. */
function valueNoise(k: number, t: number): number {
  const x = t / NOISE_KNOT_SECONDS;
  const knot = floor(x);
  const f = x - knot;
  const a = knotValue(k, knot);
  const b = knotValue(k, knot + 1);
  const s = f * f * (3 - 2 * f);
  return a + (b - a) * s;
}

function knotValue(k: number, knot: number): number {
  return 2 * unit(hash3(k ^ SALT_NOISE, knot >>> 0, floor(knot / TWO_POW_32) >>> 0)) - 1;
}

// ---------------------------------------------------------------------------------------------
// Usernames: pronounceable, deterministic from the id alone (not the seed), unique by the id suffix.

const ONSETS = [
  'b',
  'd',
  'f',
  'g',
  'j',
  'k',
  'l',
  'm',
  'n',
  'p',
  'r',
  's',
  't',
  'v',
  'z',
  'ch',
  'sh',
  'br',
  'tr',
  'st',
];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'io', 'ea'];

/** Username of influencer `id`, e.g. `kavitro_1234567`. Independent of the seed. */
export function usernameFor(id: number): string {
  let h = hash3(id >>> 0, floor(id / TWO_POW_32) >>> 0, SALT_NAME);
  const syllables = 2 + (h % 3);
  let name = '';
  for (let i = 0; i < syllables; i++) {
    h = mix32(h + 0x9e3779b9);
    name += ONSETS[h % ONSETS.length] + VOWELS[(h >>> 8) % VOWELS.length];
  }
  return `${name}_${id}`;
}

// ---------------------------------------------------------------------------------------------
// Hashing: murmur3's 32-bit finalizer as a mixer; no crypto.

/** murmur3 fmix32: a bijective avalanche mix of a 32-bit integer. Returns an unsigned 32-bit integer. */
export function mix32(x: number): number {
  let h = x | 0;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hash3(a: number, b: number, c: number): number {
  let h = mix32(a ^ 0x9e3779b9);
  h = mix32((h ^ b) + imul(b, 0x27d4eb2f));
  h = mix32((h ^ c) + imul(c, 0x165667b1) + 0x7f4a7c15);
  return h;
}

/** Key of (id, seed): ids beyond 2^32 fold their high word in. */
function keyOf(id: number, seed: number): number {
  return hash3(id >>> 0, floor(id / TWO_POW_32) >>> 0, seed | 0);
}

function unit(h: number): number {
  return h / TWO_POW_32;
}

/** Standard normal draw from two hashes (Box-Muller). */
function normal(h1: number, h2: number): number {
  const u1 = (h1 + 1) / (TWO_POW_32 + 1); // (0, 1]
  return sqrt(-2 * log(u1)) * cos(2 * PI * unit(h2));
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

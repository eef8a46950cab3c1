import { z } from 'zod';

/**
 * Fault injection for the influencer route. Off by default; the starting settings come from the
 * environment (MOCK_API_ERROR_RATE, ... see src/config.ts) and the admin endpoint
 * (`/admin/faults`) changes them at runtime. Faults use Math.random: they are deliberately not
 * part of the deterministic counts.
 *
 * Per request, in this order (independent draws):
 *   1. hang      (hangRate)      never answer; the request ends when the client gives up
 *   2. latency   (latencyMs + uniform 0..latencyJitterMs) before anything else is decided
 *   3. error     (errorRate)     500
 *   4. rateLimit (rateLimitRate) 429 with `Retry-After: retryAfterSeconds`
 *   5. malformed (malformedRate) a 200 answer gets a truncated, invalid JSON body
 */

const rate = z.number().min(0).max(1);

export const faultSettingsSchema = z
  .object({
    /** Share of requests answered 500. */
    errorRate: rate,
    /** Share of requests answered 429 with Retry-After. */
    rateLimitRate: rate,
    /** Value of the Retry-After header on a 429, seconds. */
    retryAfterSeconds: z.number().int().min(0).max(86_400),
    /** Latency added to every request, milliseconds. */
    latencyMs: z.number().min(0).max(600_000),
    /** Extra latency drawn uniformly in 0..latencyJitterMs, milliseconds. */
    latencyJitterMs: z.number().min(0).max(600_000),
    /** Share of requests never answered. */
    hangRate: rate,
    /** Share of 200 answers whose body is truncated (invalid JSON). */
    malformedRate: rate,
  })
  .strict();

export type FaultSettings = z.infer<typeof faultSettingsSchema>;

/** A partial update, as accepted by `PUT /admin/faults`. Unknown fields are refused. */
export const faultPatchSchema = faultSettingsSchema.partial().strict();
export type FaultPatch = z.infer<typeof faultPatchSchema>;

/** No faults at all (the built-in default when the environment sets none). */
export const NO_FAULTS: Readonly<FaultSettings> = Object.freeze({
  errorRate: 0,
  rateLimitRate: 0,
  retryAfterSeconds: 1,
  latencyMs: 0,
  latencyJitterMs: 0,
  hangRate: 0,
  malformedRate: 0,
});

/** What to do with one request. */
export interface FaultPlan {
  hang: boolean;
  /** Milliseconds to wait before answering (0: answer now). */
  delayMs: number;
  /** 'ok': answer normally (and 'malformed' spoils a 200 body). */
  outcome: 'ok' | 'error' | 'rateLimit' | 'malformed';
}

export type FaultName = 'hang' | 'latency' | 'error' | 'rateLimit' | 'malformed';

const HEALTHY: Readonly<FaultPlan> = Object.freeze({ hang: false, delayMs: 0, outcome: 'ok' });

export type PatchResult = { ok: true; settings: FaultSettings } | { ok: false; message: string };

/** Current fault settings, with the defaults they reset to. */
export class Faults {
  private settings: FaultSettings;
  private active = false;

  /**
   * @param defaults settings at start and after `reset()` (from the environment)
   * @param random   uniform [0, 1) source; Math.random unless a test wants control
   */
  constructor(
    private readonly defaults: FaultSettings = NO_FAULTS,
    private readonly random: () => number = Math.random,
  ) {
    this.settings = { ...faultSettingsSchema.parse(defaults) };
    this.refresh();
  }

  /** A copy of the current settings. */
  get(): FaultSettings {
    return { ...this.settings };
  }

  /** Applies a partial update (validated); on error nothing changes and `message` names the field. */
  update(patch: unknown): PatchResult {
    const parsed = faultPatchSchema.safeParse(patch);
    if (!parsed.success) return { ok: false, message: describeIssues(parsed.error) };
    const next: FaultSettings = { ...this.settings };
    for (const [key, value] of Object.entries(parsed.data) as [keyof FaultSettings, number | undefined][]) {
      if (value !== undefined) next[key] = value;
    }
    this.settings = next;
    this.refresh();
    return { ok: true, settings: this.get() };
  }

  /** Back to the defaults given at construction (the environment's). */
  reset(): FaultSettings {
    this.settings = { ...this.defaults };
    this.refresh();
    return this.get();
  }

  /** True when any fault can fire (a cheap check for the hot path). */
  get isActive(): boolean {
    return this.active;
  }

  /** Draws the plan for one request. */
  plan(): FaultPlan {
    if (!this.active) return HEALTHY;
    const s = this.settings;
    const r = this.random;
    if (s.hangRate > 0 && r() < s.hangRate) return { hang: true, delayMs: 0, outcome: 'ok' };
    const delayMs = s.latencyMs + (s.latencyJitterMs > 0 ? r() * s.latencyJitterMs : 0);
    let outcome: FaultPlan['outcome'] = 'ok';
    if (s.errorRate > 0 && r() < s.errorRate) outcome = 'error';
    else if (s.rateLimitRate > 0 && r() < s.rateLimitRate) outcome = 'rateLimit';
    else if (s.malformedRate > 0 && r() < s.malformedRate) outcome = 'malformed';
    return { hang: false, delayMs, outcome };
  }

  private refresh(): void {
    const s = this.settings;
    this.active =
      s.errorRate > 0 ||
      s.rateLimitRate > 0 ||
      s.latencyMs > 0 ||
      s.latencyJitterMs > 0 ||
      s.hangRate > 0 ||
      s.malformedRate > 0;
  }
}

/** "errorRate: Too big: expected number to be <=1; foo: unrecognized key" */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.join(', ')}`;
      const path = issue.path.length > 0 ? issue.path.join('.') : 'body';
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

import { envVar, logEnv, telemetryEnv, type ConfigProblem } from '@mockstagram/shared';
import { z } from 'zod';
import { DEFAULT_COUNTS_OPTIONS, type CountsOptions } from './counts';
import { NO_FAULTS, type FaultSettings } from './faults';

/** A share of requests or influencers, 0..1. */
const share = (defaultValue: number) =>
  z.coerce.number().min(0).max(1).describe('a number between 0 and 1').default(defaultValue);

/**
 * Every environment variable the mock API reads, with its default (the only place defaults
 * are written; the counts' defaults come from DEFAULT_COUNTS_OPTIONS, faults' from NO_FAULTS).
 * apps/mock-api/README.md, "Environment", says what each one does. The tracing variables
 * (`telemetryEnv`) are read first, by src/telemetry.ts.
 */
export const mockApiEnv = z.object({
  ...logEnv.shape,
  ...telemetryEnv.shape,
  MOCK_API_PORT: envVar.port(3001),
  MOCK_API_HOST: envVar.host('127.0.0.1'),
  MOCK_API_ID_MIN: envVar.positiveInt(1_000_000),
  MOCK_API_ID_MAX: envVar.positiveInt(1_999_999),
  MOCK_API_SEED: z.coerce.number().int().describe('an integer').default(DEFAULT_COUNTS_OPTIONS.seed),
  MOCK_API_BUCKET_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .describe('a whole number of seconds > 0')
    .default(DEFAULT_COUNTS_OPTIONS.bucketSeconds),
  MOCK_API_SUSPICIOUS_SHARE: share(DEFAULT_COUNTS_OPTIONS.suspiciousShare),
  MOCK_API_ERROR_RATE: share(NO_FAULTS.errorRate),
  MOCK_API_RATE_LIMIT_RATE: share(NO_FAULTS.rateLimitRate),
  MOCK_API_RETRY_AFTER_SECONDS: envVar.nonNegativeInt(NO_FAULTS.retryAfterSeconds),
  MOCK_API_LATENCY_MS: envVar.nonNegativeInt(NO_FAULTS.latencyMs),
  MOCK_API_LATENCY_JITTER_MS: envVar.nonNegativeInt(NO_FAULTS.latencyJitterMs),
  MOCK_API_HANG_RATE: share(NO_FAULTS.hangRate),
  MOCK_API_MALFORMED_RATE: share(NO_FAULTS.malformedRate),
});

export type MockApiConfig = z.output<typeof mockApiEnv>;

/** A range the schema cannot express (it checks one variable at a time): min above max. */
export function idRangeProblem(config: MockApiConfig): ConfigProblem | undefined {
  if (config.MOCK_API_ID_MIN <= config.MOCK_API_ID_MAX) return undefined;
  return {
    variable: 'MOCK_API_ID_MAX',
    value: String(config.MOCK_API_ID_MAX),
    expected: `an integer >= MOCK_API_ID_MIN (${config.MOCK_API_ID_MIN})`,
  };
}

export function countsOptionsFrom(config: MockApiConfig): CountsOptions {
  return {
    seed: config.MOCK_API_SEED,
    bucketSeconds: config.MOCK_API_BUCKET_SECONDS,
    suspiciousShare: config.MOCK_API_SUSPICIOUS_SHARE,
  };
}

/** The fault settings the environment starts with (and `DELETE /admin/faults` returns to). */
export function faultDefaultsFrom(config: MockApiConfig): FaultSettings {
  return {
    errorRate: config.MOCK_API_ERROR_RATE,
    rateLimitRate: config.MOCK_API_RATE_LIMIT_RATE,
    retryAfterSeconds: config.MOCK_API_RETRY_AFTER_SECONDS,
    latencyMs: config.MOCK_API_LATENCY_MS,
    latencyJitterMs: config.MOCK_API_LATENCY_JITTER_MS,
    hangRate: config.MOCK_API_HANG_RATE,
    malformedRate: config.MOCK_API_MALFORMED_RATE,
  };
}

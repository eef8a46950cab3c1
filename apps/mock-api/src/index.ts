/**
 * Library entry of @mockstagram/mock-api (no side effects; `src/main.ts` is the service).
 * Other workspaces' tests import the deterministic counts from here to compute what the
 * pipeline must have stored, and may start an in-process server.
 */
export {
  bucketOf,
  bucketStartMs,
  countsAt,
  countsAtBucket,
  DEFAULT_COUNTS_OPTIONS,
  EPOCH_SECONDS,
  isSuspicious,
  profileOf,
  suspiciousIds,
  usernameFor,
  type CountsOptions,
  type InfluencerCounts,
  type InfluencerProfile,
} from './counts';
export {
  Faults,
  NO_FAULTS,
  faultSettingsSchema,
  faultPatchSchema,
  type FaultSettings,
  type FaultPatch,
} from './faults';
export { MockApiServer, PortInUseError, API_PREFIX, type MockApiOptions } from './server';
export { createMockApiMetrics, type MockApiMetrics } from './metrics';
export { mockApiEnv, type MockApiConfig } from './config';

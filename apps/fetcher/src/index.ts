/**
 * `@mockstagram/fetcher` as a library (tests, benchmarks): the Fetcher, its configuration, its
 * metrics and the API client. No side effects; the service itself is `src/main.ts` (what
 * `yarn dev`, `yarn build` and the image run).
 *
 * @packageDocumentation
 */
export { Fetcher, type FetcherOptions } from './fetcher';
export { fetcherEnv, loadFetcherConfig, FETCHER_RENAMED, type FetcherConfig } from './config';
export { createFetcherMetrics, type FetcherMetrics } from './metrics';
export {
  ApiClient,
  apiClientOptionsFrom,
  FetchAbortedError,
  INFLUENCER_PATH,
  InfluencerResponseSchema,
  type ApiClientOptions,
  type FetchFailureReason,
  type FetchOutcome,
  type InfluencerObservation,
} from './api-client';

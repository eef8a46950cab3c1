/**
 * `@mockstagram/result-handler` as a library (tests, benchmarks, an all-in-one process).
 * The service itself is started by src/main.ts.
 *
 * @packageDocumentation
 */
export { ResultHandler, type ResultHandlerOptions } from './result-handler';
export { Batcher, type BatcherOptions } from './batcher';
export { storeResults, isRowDataError, type StoreOutcome, type RejectedRow } from './store';
export {
  writeResults,
  writeNewResults,
  resultParameters,
  WRITE_RESULTS_SQL,
  WRITE_NEW_RESULTS_SQL,
  type ResultParameters,
} from './sql/writeResults';
export { createResultHandlerMetrics, type ResultHandlerMetrics } from './metrics';
export {
  resultHandlerEnv,
  resultHandlerSettings,
  RESULT_HANDLER_DEFAULTS,
  type ResultHandlerConfig,
  type ResultHandlerSettings,
} from './config';

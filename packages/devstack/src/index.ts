/**
 * `@mockstagram/devstack` as a library: the engines' lifecycle (`yarn devstack`, jest's global
 * setup) and the pieces the repository's tests and benchmarks check or drive (configurations
 * rendered for Prometheus, Jaeger and Kafka; stopping one engine for the fault suites).
 *
 * @packageDocumentation
 */
export { devstackSettings, TIMESCALEDB_VERSION, type DevstackSettings } from './settings';
export { up, down, status, localEngines, type Engines } from './stack';
export { assertPortFree } from './ports';
export { upObservability, downObservability, observabilityStatus } from './observability';
export {
  startPrometheus,
  stopPrometheus,
  writeScrapeTargets,
  promtool,
  prometheusPaths,
  devstackConfig,
} from './prometheus';
export { startJaeger, stopJaeger, jaegerPaths, jaegerConfig } from './jaeger';
export { SCRAPED_SERVICES, composeScrapeConfigs, localTargets } from './scrape-targets';
export { ensureGoTool, moduleSource, JAEGER, PROMETHEUS } from './go-build';
export { resolveKafkaClasspath, serverProperties, stopKafkaNode } from './kafka';
export { nativePaths } from './native-timescale';
export { stopTimescale, restartTimescaleImmediate } from './timescale';

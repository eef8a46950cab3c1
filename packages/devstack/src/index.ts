export { devstackSettings, type DevstackSettings } from './settings';
export { up, down, status, localEngines, type Engines } from './stack';
export { assertPortFree } from './ports';
export { upObservability, downObservability, observabilityStatus } from './observability';
export { startPrometheus, stopPrometheus, writeScrapeTargets, promtool, prometheusPaths } from './prometheus';
export { startJaeger, stopJaeger, jaegerPaths } from './jaeger';
export { SCRAPED_SERVICES, composeScrapeConfigs, localTargets } from './scrape-targets';
export { ensureGoTool, moduleSource, JAEGER, PROMETHEUS } from './go-build';

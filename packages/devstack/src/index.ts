export { devstackSettings, type DevstackSettings } from './settings';
export { up, down, status, localEngines, type Engines } from './stack';
export { assertPortFree } from './ports';
export { startJaeger, stopJaeger, jaegerPaths } from './jaeger';
export { ensureGoTool, moduleSource, JAEGER, PROMETHEUS } from './go-build';

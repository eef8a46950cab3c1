export { devstackSettings, type DevstackSettings } from './settings';
export { up, down, status, localEngines, type Engines } from './stack';
export { assertPortFree } from './ports';

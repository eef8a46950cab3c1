/**
 * `@mockstagram/api` as a library (tests, benchmarks). The service itself is src/main.ts.
 *
 * @packageDocumentation
 */
export { apiEnv, detectEnv, type ApiConfig } from './config';
export { startApiServer, type ApiServerOptions } from './server';
export { openApiDocument } from './openapi';
export { chooseSeriesRange } from './series-range';
export { encodeCursor, decodeCursor, type CursorKind } from './cursor';
export type { Queryable } from './sql/types';
export { detectSuspicious, getDetectionJobSettings, type DetectionRun } from './sql/detectSuspicious';
export { refreshRankings } from './sql/refreshRankings';
export { getInfluencer } from './sql/getInfluencer';
export { getSeries, type Resolution, type SeriesPoint } from './sql/getSeries';
export { getStats } from './sql/getStats';
export { listTopFollowers } from './sql/listTopFollowers';
export { listTopGrowers } from './sql/listTopGrowers';
export { listSuspicious } from './sql/listSuspicious';
export { listSuspiciousEvents } from './sql/listSuspiciousEvents';

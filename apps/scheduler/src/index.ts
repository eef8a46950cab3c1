/**
 * `@mockstagram/scheduler` as a library (tests, benchmarks): the Scheduler, the registry and
 * their HTTP routes. The service itself is `src/main.ts`.
 *
 * @packageDocumentation
 */
export * from './scheduler';
export * from './registry';
export * from './selection';
export * from './config';
export { influencerRoutes } from './http';
export { createSchedulerMetrics, type SchedulerMetrics } from './metrics';
export { claimDueInfluencers, type ClaimedSlot } from './sql/claimDueInfluencers';
export { getRegistryStats, type RegistryStats } from './sql/getRegistryStats';
export { getSchedulerLag } from './sql/getSchedulerLag';

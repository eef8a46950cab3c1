import { Counter, Gauge, Histogram, type Registry } from '@mockstagram/shared';

/** The scheduler's Prometheus metrics, registered on `registry`. */
export function createSchedulerMetrics(registry: Registry) {
  const registers = [registry];
  return {
    jobsScheduled: new Counter({
      name: 'scheduler_jobs_scheduled_total',
      help: 'Fetch jobs produced to Kafka and acknowledged (their slots committed)',
      registers,
    }),
    tickDuration: new Histogram({
      name: 'scheduler_tick_duration_seconds',
      help: 'Duration of one scheduler tick (claim + produce + commit of every batch, and the lag query)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    ticksSkipped: new Counter({
      name: 'scheduler_ticks_skipped_total',
      help: 'Ticks not run because the previous tick was still running',
      registers,
    }),
    tickErrors: new Counter({
      name: 'scheduler_tick_errors_total',
      help: 'Ticks that failed (database or Kafka error); their open batch was rolled back and stays due',
      registers,
    }),
    lag: new Gauge({
      name: 'scheduler_lag_seconds',
      help: 'now() minus the oldest next_fetch_at still due among active influencers after the last tick (0 = caught up)',
      registers,
    }),
    activeInfluencers: new Gauge({
      name: 'scheduler_active_influencers',
      help: 'Active influencers in the registry (refreshed every SCHEDULER_STATS_REFRESH_SECONDS)',
      registers,
    }),
    maxJobsPerTick: new Gauge({
      name: 'scheduler_max_jobs_per_tick',
      help: 'Cap on jobs one tick emits (SCHEDULER_MAX_JOBS_PER_TICK, or derived from the active influencers when "auto")',
      registers,
    }),
  };
}

export type SchedulerMetrics = ReturnType<typeof createSchedulerMetrics>;

import type { Queryable } from './types';

/** One pass of suspicious detection, as recorded in suspicious_detection_runs. */
export interface DetectionRun {
  id: number;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  windowStart: Date;
  windowEnd: Date;
  evaluated: number;
  skipped: number;
  flagged: number;
  cleared: number;
  suspicious: number;
  triggeredBy: string;
  settings: Record<string, unknown>;
}

/**
 * Runs one pass of `detect_suspicious()` (migration 007) with `settings` over its defaults
 * (its own transaction). `asOf`: the end of the history compared (default: the start of the
 * current hour). Follow it with `refreshRankings` so the flags leave rank and average at once,
 * as the scheduled job does.
 */
export async function detectSuspicious(
  db: Queryable,
  settings: Record<string, unknown> = {},
  asOf?: Date,
  triggeredBy = 'manual',
): Promise<DetectionRun> {
  const { rows } = await db.query<DetectionRun>({
    text: `
      SELECT id, started_at AS "startedAt", finished_at AS "finishedAt", duration_ms AS "durationMs",
             window_start AS "windowStart", window_end AS "windowEnd",
             evaluated, skipped, flagged, cleared, suspicious,
             triggered_by AS "triggeredBy", settings
        FROM detect_suspicious($1::jsonb, $2::text, $3::timestamptz)`,
    values: [JSON.stringify(settings), triggeredBy, asOf ?? null],
  });
  return rows[0];
}

/** The settings (config) of this schema's scheduled detection job, `{}` when there is none. */
export async function getDetectionJobSettings(db: Queryable): Promise<Record<string, unknown>> {
  const { rows } = await db.query<{ config: Record<string, unknown> | null }>(`
    SELECT config FROM timescaledb_information.jobs
     WHERE proc_name = 'detect_suspicious_job' AND proc_schema = current_schema()
     ORDER BY job_id LIMIT 1`);
  return rows[0]?.config ?? {};
}

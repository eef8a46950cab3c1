/**
 * Sample times relative to now that a real server's background policies leave alone.
 *
 * @module
 */

/**
 * The start of the hour `hours` before now. Test samples dated from there on are inside the
 * retention window and younger than compress_after, so a real server's background policies
 * (which run right after a migration, and again on their schedule) leave them where they are.
 */
export function hoursAgo(hours: number, now = Date.now()): number {
  return Math.floor(now / 3_600_000) * 3_600_000 - hours * 3_600_000;
}

/** The UTC date (YYYY-MM-DD) `days` before today. */
export function daysAgo(days: number, now = Date.now()): string {
  return new Date(now - days * 86_400_000).toISOString().slice(0, 10);
}

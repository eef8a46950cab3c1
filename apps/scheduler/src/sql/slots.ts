/**
 * SQL fragments for slot arithmetic, shared by the statements in this folder.
 *
 * A fragment is plain SQL text with the column / parameter expressions it is given spliced in
 * (never user input: only column names and `$n` placeholders written in this folder).
 *
 * @module
 */

/**
 * Offset of an influencer's first slot from `now()`.
 *
 * With spreading, a deterministic share of one interval taken from a hash of the id
 * (`hashint8`, PostgreSQL's own int8 hash): registering 1,000,000 influencers at once makes
 * them due evenly over the next interval instead of all at the next tick, and the same id always
 * gets the same offset. Without spreading (`spread` false), the offset is zero: due now.
 *
 * @param id        SQL expression of the influencer id (bigint).
 * @param interval  SQL expression of its fetch interval in seconds (integer).
 * @param spread    SQL expression of a boolean, usually a `$n::boolean` parameter.
 */
export function firstSlotOffset(id: string, interval: string, spread: string): string {
  return `(CASE WHEN ${spread}
      THEN ((hashint8(${id}) & 2147483647)::bigint % ((${interval})::bigint * 1000)) * interval '1 millisecond'
      ELSE interval '0' END)`;
}

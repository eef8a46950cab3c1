/** Reading the client library's errors: Kafka's error names (e.g. `INVALID_REPLICATION_FACTOR`) nested in an error. */

/** Every Kafka protocol error in `err` (it and the errors it aggregates): its name and message. */
export function kafkaErrors(err: unknown): Array<{ type: string; message: string }> {
  const found: Array<{ type: string; message: string }> = [];
  const walk = (e: unknown, depth: number) => {
    if (typeof e !== 'object' || e === null || depth > 5) return;
    const { apiId, message, errors } = e as { apiId?: unknown; message?: unknown; errors?: unknown };
    if (typeof apiId === 'string') found.push({ type: apiId, message: typeof message === 'string' ? message : apiId });
    if (Array.isArray(errors)) for (const inner of errors) walk(inner, depth + 1);
  };
  walk(err, 0);
  return found;
}

/** True when the group coordinator asks this member to rejoin (a rebalance is under way or it was fenced). */
export function needsRejoin(err: unknown): boolean {
  return kafkaErrors(err).some((e) =>
    ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID'].includes(e.type),
  );
}

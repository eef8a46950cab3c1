/**
 * Names of the topics, consumer groups and schemas a test creates.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';

/** A name no other test (or earlier run) has used: prefix + time + random. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

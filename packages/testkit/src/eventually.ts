/**
 * Waiting for something asynchronous to become true (a row stored, a metric counted).
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Poll `check` until it returns a value that is not undefined, or fail after timeoutMs saying `what`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

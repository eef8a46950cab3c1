import { onAbort } from './abort';

/**
 * A counting semaphore: at most `permits` holders at once, the others wait in FIFO order.
 * The Fetcher does not use it (the shared stage bounds its concurrency, `FETCHER_CONCURRENCY`).
 */
export class Semaphore {
  private available: number;
  private readonly waiters: Array<{ grant: () => void }> = [];

  constructor(readonly permits: number) {
    if (!(Number.isInteger(permits) && permits >= 1))
      throw new RangeError(`permits must be an integer >= 1, got ${permits}`);
    this.available = permits;
  }

  /** Holders right now. */
  get inUse(): number {
    return this.permits - this.available;
  }

  /** Waiters right now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Resolves with a release function once a permit is free. Rejects with the signal's reason if
   * `signal` aborts while waiting (no permit taken then). Call the release function exactly once.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.available > 0) {
      this.available -= 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      let unwatch: (() => void) | undefined;
      const waiter = {
        grant: () => {
          unwatch?.();
          resolve(this.releaser());
        },
      };
      if (signal) {
        unwatch = onAbort(signal, () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
        });
      }
      this.waiters.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next)
        next.grant(); // the permit passes straight to the next waiter
      else this.available += 1;
    };
  }
}

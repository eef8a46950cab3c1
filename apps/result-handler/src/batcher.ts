/**
 * A size/time accumulator: items from any number of callers go into one open batch, which is
 * written when it holds `maxSize` items or `maxWaitMs` after its first item arrived, whichever
 * comes first. Flushes run one at a time, in order; while one runs, the next batch fills. (The
 * result-handler's own batches come from the shared stage; this is exported for in-process use.)
 *
 * No Kafka or database code here: `flush` is given.
 *
 * @module
 */

export interface BatcherOptions<T> {
  /** Items per flush, at most. A larger `add()` is cut across several flushes. */
  maxSize: number;
  /** A batch that did not fill up is flushed this long after its first item arrived. */
  maxWaitMs: number;
  /**
   * Writes one batch (1..maxSize items). Resolves when the items are safely stored; a rejection
   * is handed to every `add()` whose items were in the batch. Never called concurrently.
   */
  flush: (items: T[]) => Promise<void>;
  /**
   * Called with a batch's items when it is full (sealed), which is usually while the flush
   * before it runs: a chance to prepare its write (e.g. build the statement's parameters) while
   * the previous one is under way. The items are the array `flush` receives later; a batch that
   * is flushed before it fills up (timer, drain) is not announced.
   */
  onSeal?: (items: T[]) => void;
}

interface Batch<T> {
  items: T[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Batcher<T> {
  private readonly maxSize: number;
  private readonly maxWaitMs: number;
  private readonly flushFn: (items: T[]) => Promise<void>;
  private readonly onSeal: ((items: T[]) => void) | undefined;

  /** The batch taking new items. */
  private open: Batch<T>;
  /** Full batches waiting for the running flush to end, oldest first. */
  private readonly sealed: Batch<T>[] = [];
  private flushing = false;
  private flushingBatch: Batch<T> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Set when the open batch's wait is over (or we drain): flush it at the next chance. */
  private due = false;
  private draining = false;
  private pendingItems = 0;
  /** whenSizeAtMost() callers, checked whenever a flush ends. */
  private sizeWaiters: Array<{ limit: number; resolve: () => void }> = [];

  constructor(options: BatcherOptions<T>) {
    if (!(options.maxSize >= 1)) throw new RangeError(`maxSize must be >= 1, got ${options.maxSize}`);
    if (!(options.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be >= 0, got ${options.maxWaitMs}`);
    this.maxSize = options.maxSize;
    this.maxWaitMs = options.maxWaitMs;
    this.flushFn = options.flush;
    this.onSeal = options.onSeal;
    this.open = newBatch<T>();
  }

  /** Items added and not yet flushed (including the batch being flushed). */
  get size(): number {
    return this.pendingItems;
  }

  /**
   * Adds items (in order) and resolves once every one of them has been flushed; rejects with the
   * flush's error if a batch holding some of them failed. An empty array resolves at once.
   */
  add(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    this.pendingItems += items.length;
    let first: Promise<void> | undefined;
    let more: Promise<void>[] | undefined;
    let i = 0;
    while (i < items.length) {
      const batch = this.open;
      if (batch.items.length === 0 && !this.draining) this.startTimer();
      const room = this.maxSize - batch.items.length;
      const end = Math.min(items.length, i + room);
      for (; i < end; i++) batch.items.push(items[i]);
      if (first === undefined) first = batch.promise;
      else (more ??= [first]).push(batch.promise);
      if (batch.items.length >= this.maxSize) this.seal();
    }
    if (this.draining) this.due = true;
    this.pump();
    return more ? Promise.all(more).then(noop) : first!;
  }

  /**
   * Resolves once at most `limit` items are pending (at once if that is already so). For
   * backpressure: a producer of items waits here instead of for its own items, so it is not held
   * up by a batch that is still filling. With `limit` ≥ `maxSize` it cannot wait for ever: what
   * stays pending once the full batches are written is one open batch, shorter than `maxSize`.
   */
  whenSizeAtMost(limit: number): Promise<void> {
    if (this.pendingItems <= limit) return Promise.resolve();
    return new Promise((resolve) => this.sizeWaiters.push({ limit, resolve }));
  }

  /**
   * Flushes what is open now, without waiting for `maxWaitMs`, and from now on flushes every
   * `add()` right away (for shutdown). Resolves when everything added so far is flushed.
   */
  drain(): Promise<void> {
    this.draining = true;
    this.clearTimer();
    const waits = this.sealed.map((b) => b.promise);
    if (this.flushingBatch) waits.push(this.flushingBatch.promise);
    if (this.open.items.length > 0) {
      waits.push(this.open.promise);
      this.due = true;
    }
    this.pump();
    return Promise.allSettled(waits).then(noop);
  }

  /** Stops the timer. Items still pending are not flushed (use {@link drain} first). */
  close(): void {
    this.clearTimer();
  }

  // -------------------------------------------------------------------------------------------

  private seal(): void {
    const batch = this.open;
    this.sealed.push(batch);
    this.open = newBatch<T>();
    this.clearTimer();
    this.due = false;
    this.onSeal?.(batch.items);
  }

  private pump(): void {
    if (this.flushing) return;
    let batch = this.sealed.shift();
    if (!batch && this.due && this.open.items.length > 0) {
      batch = this.open;
      this.open = newBatch<T>();
      this.clearTimer();
      this.due = false;
    }
    if (!batch) return;
    this.run(batch);
  }

  private run(batch: Batch<T>): void {
    this.flushing = true;
    this.flushingBatch = batch;
    const finish = (err?: unknown, failed = false) => {
      this.flushing = false;
      this.flushingBatch = undefined;
      this.pendingItems -= batch.items.length;
      if (failed) batch.reject(err);
      else batch.resolve();
      if (this.sizeWaiters.length > 0) {
        const waiting = this.sizeWaiters;
        this.sizeWaiters = [];
        for (const w of waiting) {
          if (this.pendingItems <= w.limit) w.resolve();
          else this.sizeWaiters.push(w);
        }
      }
      this.pump();
    };
    let result: Promise<void>;
    try {
      result = this.flushFn(batch.items);
    } catch (err) {
      finish(err, true);
      return;
    }
    result.then(
      () => finish(),
      (err: unknown) => finish(err, true),
    );
  }

  private startTimer(): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.due = true;
      this.pump();
    }, this.maxWaitMs);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

function newBatch<T>(): Batch<T> {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // The rejection is delivered through add()'s promise; this keeps an unobserved batch promise
  // (e.g. one only drain() looked at) from counting as an unhandled rejection.
  promise.catch(noop);
  return { items: [], promise, resolve, reject };
}

function noop(): void {}

import { Batcher } from '../../src/batcher';

/** A flush that records its batches and when they happened. */
function recorder(delayMs = 0) {
  const batches: Array<{ items: number[]; at: number }> = [];
  const flush = async (items: number[]) => {
    batches.push({ items: [...items], at: Date.now() });
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  };
  return { batches, flush };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('Batcher', () => {
  it('flushes as soon as maxSize items are there, without waiting for the timer', async () => {
    const { batches, flush } = recorder();
    const batcher = new Batcher<number>({ maxSize: 5, maxWaitMs: 60_000, flush });
    const t0 = Date.now();
    await Promise.all([batcher.add([1, 2]), batcher.add([3, 4, 5])]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(batches.map((b) => b.items)).toEqual([[1, 2, 3, 4, 5]]);
    batcher.close();
  });

  it('cuts a large add across several flushes of at most maxSize, in order', async () => {
    const { batches, flush } = recorder();
    const batcher = new Batcher<number>({ maxSize: 4, maxWaitMs: 60_000, flush });
    const pending = batcher.add(range(0, 10)); // 4 + 4 flushed at once; 2 wait for the timer
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(batches.map((b) => b.items)).toEqual([range(0, 4), range(4, 8)]);
    expect(batcher.size).toBe(2);
    await batcher.drain();
    await pending;
    expect(batches.map((b) => b.items)).toEqual([range(0, 4), range(4, 8), [8, 9]]);
  });

  it('announces each full batch (onSeal) with the array its flush gets later; a batch flushed unfilled is not announced', async () => {
    const sealed: number[][] = [];
    const flushed: number[][] = [];
    const batcher = new Batcher<number>({
      maxSize: 3,
      maxWaitMs: 60_000,
      onSeal: (items) => sealed.push(items),
      flush: async (items) => {
        flushed.push(items);
        await new Promise((r) => setTimeout(r, 20));
      },
    });
    const pending = batcher.add(range(0, 8)); // 3 + 3 full, 2 left open
    expect(sealed.map((b) => [...b])).toEqual([range(0, 3), range(3, 6)]); // both sealed before the first flush ended
    await batcher.drain();
    await pending;
    expect(flushed).toHaveLength(3);
    expect(flushed[0]).toBe(sealed[0]);
    expect(flushed[1]).toBe(sealed[1]);
    expect(flushed[2]).toEqual([6, 7]);
    expect(sealed).toHaveLength(2);
  });

  it('flushes a batch that did not fill up maxWaitMs after its first item', async () => {
    const { batches, flush } = recorder();
    const batcher = new Batcher<number>({ maxSize: 1000, maxWaitMs: 150, flush });
    const t0 = Date.now();
    const first = batcher.add([1]);
    await new Promise((r) => setTimeout(r, 50));
    const second = batcher.add([2, 3]); // joins the open batch; does not restart its timer
    await Promise.all([first, second]);
    const waited = Date.now() - t0;
    expect(batches.map((b) => b.items)).toEqual([[1, 2, 3]]);
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(1000);
    batcher.close();
  });

  it('starts the timer of the next batch with its own first item', async () => {
    const { batches, flush } = recorder();
    const batcher = new Batcher<number>({ maxSize: 1000, maxWaitMs: 100, flush });
    await batcher.add([1]);
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 300)); // idle: nothing flushed
    expect(batches).toHaveLength(1);
    await batcher.add([2]);
    expect(batches[1].at - t1).toBeGreaterThanOrEqual(390);
    batcher.close();
  });

  it('runs one flush at a time; items added meanwhile form the next batch', async () => {
    let running = 0;
    let maxRunning = 0;
    const seen: number[][] = [];
    const batcher = new Batcher<number>({
      maxSize: 3,
      maxWaitMs: 20,
      flush: async (items) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        seen.push([...items]);
        await new Promise((r) => setTimeout(r, 50));
        running--;
      },
    });
    const adds = [batcher.add([1, 2, 3])];
    adds.push(batcher.add([4]), batcher.add([5]));
    await Promise.all(adds);
    expect(maxRunning).toBe(1);
    expect(seen).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    batcher.close();
  });

  it('rejects the adds of a failed batch only, and keeps going', async () => {
    let calls = 0;
    const batcher = new Batcher<string>({
      maxSize: 2,
      maxWaitMs: 10,
      flush: async () => {
        calls++;
        if (calls === 1) throw new Error('database says no');
      },
    });
    const failed = batcher.add(['a', 'b']);
    const ok = batcher.add(['c']);
    await expect(failed).rejects.toThrow('database says no');
    await expect(ok).resolves.toBeUndefined();
    expect(batcher.size).toBe(0);
    batcher.close();
  });

  it('drain() flushes the open batch now and every later add at once', async () => {
    const { batches, flush } = recorder();
    const batcher = new Batcher<number>({ maxSize: 100, maxWaitMs: 60_000, flush });
    const open = batcher.add([1, 2]);
    const t0 = Date.now();
    await batcher.drain();
    await open;
    await batcher.add([3]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(batches.map((b) => b.items)).toEqual([[1, 2], [3]]);
    batcher.close();
  });

  it('whenSizeAtMost() resolves once flushes bring the backlog down, not waiting for a filling batch', async () => {
    const gates: Array<() => void> = [];
    const batcher = new Batcher<number>({
      maxSize: 4,
      maxWaitMs: 60_000,
      flush: () => new Promise<void>((resolve) => gates.push(resolve)),
    });
    void batcher.add(range(0, 10)); // two full batches (one flushing) + 2 items in the open batch
    expect(batcher.size).toBe(10);
    let roomFor6 = false;
    let roomFor2 = false;
    void batcher.whenSizeAtMost(6).then(() => (roomFor6 = true));
    void batcher.whenSizeAtMost(2).then(() => (roomFor2 = true));
    await expect(batcher.whenSizeAtMost(10)).resolves.toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect([roomFor6, roomFor2]).toEqual([false, false]);
    gates.shift()!(); // first batch written: 6 pending
    await new Promise((r) => setImmediate(r));
    expect([roomFor6, roomFor2]).toEqual([true, false]);
    gates.shift()!(); // second written: 2 pending, in the open batch that waits for its timer
    await new Promise((r) => setImmediate(r));
    expect([roomFor6, roomFor2]).toEqual([true, true]);
    expect(batcher.size).toBe(2);
    batcher.close();
  });

  it('rejects nonsense sizes', () => {
    const flush = async () => undefined;
    expect(() => new Batcher({ maxSize: 0, maxWaitMs: 1, flush })).toThrow(RangeError);
    expect(() => new Batcher({ maxSize: 1, maxWaitMs: -1, flush })).toThrow(RangeError);
  });
});

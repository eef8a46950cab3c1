import { PartitionProgress } from '../../src/stage/progress';

describe('PartitionProgress (pure bookkeeping)', () => {
  it('releases outputs in offset order and commits only the unbroken done run', () => {
    const p = new PartitionProgress('t', 0);
    const [a, b, c] = [10n, 11n, 12n].map((o) => p.take(o, 0)!);
    expect(p.processed(b)).toEqual([]); // 10 still running: 11 waits
    expect(p.processed(a).map((e) => e.offset)).toEqual([10n, 11n]);
    expect(p.done(b)).toBe(false); // 10 not acknowledged yet
    expect(p.committable).toBeUndefined();
    expect(p.done(a)).toBe(true);
    expect(p.committable).toBe(12n);
    expect(p.needsCommit).toBe(true);
    expect(p.commitSucceeded(12n).map((e) => e.offset)).toEqual([10n, 11n]);
    expect(p.needsCommit).toBe(false);
    expect(p.pending).toBe(1);
    expect(p.processed(c).map((e) => e.offset)).toEqual([12n]);
  });

  it('skips offsets taken before (a redelivery after a rejoin)', () => {
    const p = new PartitionProgress('t', 0);
    expect(p.take(5n, 0)).toBeDefined();
    expect(p.take(5n, 0)).toBeUndefined();
    expect(p.take(3n, 0)).toBeUndefined();
    expect(p.take(6n, 0)).toBeDefined();
  });

  it('abandoning stops production after the first unfinished entry and leaves the rest uncommitted', () => {
    const p = new PartitionProgress('t', 1);
    const [a, b, c] = [0n, 1n, 2n].map((o) => p.take(o, 0)!);
    p.processed(a);
    p.done(a);
    expect(p.abandonUndone()).toBe(2);
    expect(b.abandoned && c.abandoned).toBe(true);
    expect(p.processed(c)).toEqual([]);
    expect(p.committable).toBe(1n);
  });

  it('release (revoked) returns every entry not committed', () => {
    const p = new PartitionProgress('t', 2);
    const [a, b] = [0n, 1n].map((o) => p.take(o, 0)!);
    p.processed(a);
    p.done(a);
    expect(p.release().map((e) => e.offset)).toEqual([0n, 1n]);
    expect(b.abandoned).toBe(true);
    expect(a.abandoned).toBe(false);
  });
});

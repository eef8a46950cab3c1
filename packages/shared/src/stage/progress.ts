/**
 * One partition's progress through a stage: which offsets were taken, which are processed (their
 * outputs may be produced), which are done (outputs acknowledged), and so which offset may be
 * committed. Pure bookkeeping, no I/O.
 *
 * Offsets are taken in increasing order. A message is produced only once every earlier message
 * of its partition is processed (outputs keep the partition's order), and the committable
 * offset is one past the last message of an unbroken run of done ones from the start.
 *
 * @module
 */

/** A taken message's place in its partition's progress. */
export interface Entry {
  readonly offset: bigint;
  readonly leaderEpoch: number;
  processed: boolean;
  done: boolean;
  /** Set when the entry will never be done (its work was abandoned). */
  abandoned: boolean;
}

export class PartitionProgress {
  /** One past the highest offset taken; a message below it was taken already (a redelivery after a rejoin). */
  next: bigint | undefined;
  /** Offset to commit next time (one past the last of the done run), undefined until one is done. */
  committable: bigint | undefined;
  /** Leader epoch of the message before `committable`. */
  committableEpoch = -1;
  /** The offset last committed by this member. */
  committed: bigint | undefined;

  /** Taken, not yet processed, in offset order (the head blocks production of later ones). */
  private readonly unproduced: Entry[] = [];
  /** Taken, not yet done, in offset order (the head blocks the commit of later ones). */
  private readonly undone: Entry[] = [];
  /** Done, in the committable run, not yet committed, in offset order. */
  private readonly uncommitted: Entry[] = [];

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** Entries taken and not done. */
  get pending(): number {
    return this.undone.length;
  }

  /** Registers `offset`; undefined when it was taken before (skip it). */
  take(offset: bigint, leaderEpoch: number): Entry | undefined {
    if (this.next !== undefined && offset < this.next) return undefined;
    this.next = offset + 1n;
    const entry: Entry = { offset, leaderEpoch, processed: false, done: false, abandoned: false };
    this.unproduced.push(entry);
    this.undone.push(entry);
    return entry;
  }

  /** Marks `entry` processed; returns the entries whose outputs may now be produced, in order. */
  processed(entry: Entry): Entry[] {
    entry.processed = true;
    const ready: Entry[] = [];
    while (this.unproduced.length > 0 && this.unproduced[0].processed) ready.push(this.unproduced.shift()!);
    return ready;
  }

  /** Marks `entry` done; returns true when the committable offset moved. */
  done(entry: Entry): boolean {
    entry.done = true;
    let moved = false;
    while (this.undone.length > 0 && this.undone[0].done) {
      const head = this.undone.shift()!;
      this.uncommitted.push(head);
      this.committable = head.offset + 1n;
      this.committableEpoch = head.leaderEpoch;
      moved = true;
    }
    return moved;
  }

  /**
   * Gives up on every entry not yet done (stop without finishing): they stay uncommitted, and
   * nothing after the first of them is produced. Returns how many were given up.
   */
  abandonUndone(): number {
    for (const e of this.undone) e.abandoned = true;
    const n = this.undone.length;
    this.unproduced.length = 0;
    return n;
  }

  /** Records a successful commit of `offset`; returns the entries it covers (now committed). */
  commitSucceeded(offset: bigint): Entry[] {
    if (this.committed === undefined || offset > this.committed) this.committed = offset;
    const covered: Entry[] = [];
    while (this.uncommitted.length > 0 && this.uncommitted[0].offset < offset) covered.push(this.uncommitted.shift()!);
    return covered;
  }

  /** The partition was revoked: every entry not committed, which this member will not commit. */
  release(): Entry[] {
    const left = [...this.uncommitted, ...this.undone];
    for (const e of this.undone) e.abandoned = true;
    this.uncommitted.length = 0;
    this.undone.length = 0;
    this.unproduced.length = 0;
    return left;
  }

  /** True when there is something new to commit. */
  get needsCommit(): boolean {
    return this.committable !== undefined && (this.committed === undefined || this.committable > this.committed);
  }
}

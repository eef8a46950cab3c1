/**
 * Ownership of the one Postgres session that PGlite is: a first-come-first-served mutex. A
 * connection holds it from its first message until its response ends idle (ReadyForQuery 'I'), so
 * a transaction or an extended-protocol sequence runs without another connection's messages
 * interleaved.
 */
export type Owner = object;

export class Baton {
  private owner: Owner | undefined;
  private readonly queue: Array<{ who: Owner; grant: (ok: boolean) => void }> = [];

  get holder(): Owner | undefined {
    return this.owner;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves true once `who` owns the database, or false if the wait was cancelled. */
  acquire(who: Owner): Promise<boolean> {
    if (this.owner === who) return Promise.resolve(true);
    if (this.owner === undefined) {
      this.owner = who;
      return Promise.resolve(true);
    }
    return new Promise((grant) => this.queue.push({ who, grant }));
  }

  release(who: Owner): void {
    if (this.owner !== who) return;
    const next = this.queue.shift();
    this.owner = next?.who;
    next?.grant(true);
  }

  cancel(who: Owner): void {
    const index = this.queue.findIndex((w) => w.who === who);
    if (index >= 0) this.queue.splice(index, 1)[0].grant(false);
  }
}

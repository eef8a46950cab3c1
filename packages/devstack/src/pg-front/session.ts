/**
 * One client connection of the wire front: takes ownership of the Postgres session for each of its
 * messages, runs them, and gives ownership back when its response ends idle (ReadyForQuery 'I').
 * - Named prepared statements (extended protocol) get a per-connection prefix, so two connections
 *   may both prepare "getUser"; they are deallocated when the connection closes. SQL-level
 *   PREPARE/EXECUTE is not renamed.
 * - `COPY ... FROM STDIN` (which kills the WebAssembly instance if it reaches it) is implemented here:
 *   CopyData is collected until CopyDone and the statement runs as `COPY ... FROM '/dev/blob'` on
 *   the collected bytes. It must be the only statement of its simple query; anywhere else it is
 *   refused with SQLSTATE 0A000. `COPY ... TO STDOUT` works natively.
 * - A connection that goes away while owning (mid-transaction, mid-sequence, during COPY) is rolled
 *   back and ownership passes on. One that owns but stays silent longer than
 *   `idleInTransactionTimeoutMs` is terminated the same way (Postgres' idle_in_transaction timeout).
 */
import type net from 'node:net';
import {
  closeStatementMessage,
  concat,
  copyInResponse,
  cstringEnd,
  errorResponse,
  FrontendMessageCode,
  FrontError,
  messageTypes,
  nothing,
  queryMessage,
  readCString,
  readyForQuery,
  summarize,
  syncMessage,
  traceText,
  withName,
  type ResponseSummary,
  type TxStatus,
} from './codec';
import type { Front } from './front';
import { ConnectionSettings } from './settings';
import { copyFromStdin, settingStatement, splitStatements, type SettingChange } from './statements';

interface CopyIn {
  sql: string;
  chunks: Uint8Array<ArrayBuffer>[];
}

export class Session {
  readonly id: number;
  readonly prefix: string;
  readonly settings: ConnectionSettings;
  /** Named prepared statements, under their prefixed names. */
  readonly statements = new Set<string>();
  txStatus: TxStatus = 'I';
  /** Extended-protocol messages sent since the last ReadyForQuery. */
  midSequence = false;
  closed = false;
  private copyIn: CopyIn | undefined;
  /** After refusing a Parse: swallow messages until Sync, as Postgres does after an error. */
  private skipTillSync: Uint8Array | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private busy: Promise<unknown> = Promise.resolve();
  private cleanedUp: Promise<void> | undefined;
  user = '?';
  application = '';

  constructor(
    readonly front: Front,
    readonly socket: net.Socket,
  ) {
    this.id = front.nextId();
    this.prefix = `c${this.id}_`;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.settings = new ConnectionSettings(front.settings, (sql) => front.execQuery(sql));
    front.sessions.add(this);
  }

  /** Client address, kept: a closed socket no longer knows it. */
  readonly peer: string;

  /** Resolves when the message being handled (if any) has been answered. */
  settled(): Promise<unknown> {
    return this.busy;
  }

  get owns(): boolean {
    return this.front.baton.holder === this;
  }

  describe(): string {
    const who = `${this.user}${this.application ? `/${this.application}` : ''}`;
    return `#${this.id} (${who} from ${this.peer})`;
  }

  onStartup(params: Record<string, string>): void {
    this.user = params.user ?? '?';
    this.application = params.application_name ?? '';
    this.settings.fromStartup(params);
  }

  /** Entry point from pg-gateway for every message after authentication. Never throws. */
  async onMessage(data: Uint8Array): Promise<Uint8Array | Iterable<Uint8Array>> {
    this.clearIdleTimer();
    if (this.front.trace)
      this.front.log(`#${this.id} > ${String.fromCharCode(data[0])} ${data.length} ${traceText(data)}`);
    const run = this.handle(data).then((out) => {
      if (this.front.trace)
        this.front.log(`#${this.id} < ${out instanceof Uint8Array ? messageTypes(out) : '(nothing)'}`);
      return out;
    });
    this.busy = run.catch(() => undefined);
    try {
      return await run;
    } catch (err) {
      return this.fail(err);
    } finally {
      this.armIdleTimer();
    }
  }

  private async handle(data: Uint8Array): Promise<Uint8Array | Iterable<Uint8Array>> {
    const type = data[0];
    if (this.closed) return nothing();
    if (type === FrontendMessageCode.Terminate) {
      await this.cleanUp('terminated');
      return nothing();
    }
    if (this.copyIn) return this.copyMessage(data);
    if (this.skipTillSync) {
      if (type !== FrontendMessageCode.Sync) return nothing();
      const refusal = this.skipTillSync;
      this.skipTillSync = undefined;
      return this.refuse(refusal, { alreadySent: true });
    }
    if (this.front.broken) {
      throw new FrontError(
        errorResponse(
          'FATAL',
          '57P03',
          `the devstack's PGlite instance crashed (${this.front.broken.message}); restart it: yarn devstack down && yarn devstack up`,
        ),
        'database crashed',
      );
    }
    if (this.front.closing && !this.owns) {
      throw new FrontError(
        errorResponse('FATAL', '57P01', 'terminating connection: the devstack database is shutting down'),
        'shutting down',
      );
    }

    if (!(await this.front.baton.acquire(this)) || this.closed) return nothing();
    await this.applySettings();

    switch (type) {
      case FrontendMessageCode.Query:
        return this.query(data);
      case FrontendMessageCode.Parse: {
        const nameEnd = cstringEnd(data, 5);
        const sql = readCString(data, nameEnd);
        if (/copy/i.test(sql) && splitStatements(sql).some((s) => copyFromStdin(s))) {
          const refusal = errorResponse(
            'ERROR',
            '0A000',
            'COPY FROM STDIN is supported by the devstack front only as the single statement of a simple query (not through Parse/Bind)',
            'send it as a simple query, or use INSERT ... SELECT * FROM UNNEST($1::int[], ...) with array parameters',
          );
          this.skipTillSync = refusal;
          this.midSequence = true;
          return refusal;
        }
        return this.run(this.renameStatement(data, 5, 'parse'));
      }
      case FrontendMessageCode.Bind:
        return this.run(this.renameStatement(data, cstringEnd(data, 5), 'use'));
      case FrontendMessageCode.Describe:
      case FrontendMessageCode.Close:
        return this.run(
          data[5] === 0x53 /* S */
            ? this.renameStatement(data, 6, type === FrontendMessageCode.Close ? 'close' : 'use')
            : data,
        );
      default:
        return this.run(data);
    }
  }

  /** Run a message for this connection; releases ownership when the response ends idle. */
  private async run(data: Uint8Array, { hold = false } = {}): Promise<Uint8Array> {
    if (data[0] !== FrontendMessageCode.Query && data[0] !== FrontendMessageCode.Sync) this.midSequence = true;
    const response = await this.front.exec(data);
    this.observe(response, { hold });
    return response;
  }

  /** Track the transaction status; `hold` keeps ownership even when the response ends idle. */
  private observe(response: Uint8Array, { hold = false } = {}): ResponseSummary {
    const summary = summarize(response);
    if (summary.ready) {
      this.txStatus = summary.ready;
      this.midSequence = false;
      if (summary.ready === 'I' && !hold) this.front.baton.release(this);
    }
    return summary;
  }

  private releaseIfIdle(): void {
    if (this.txStatus === 'I' && !this.midSequence && !this.copyIn) this.front.baton.release(this);
  }

  private async query(data: Uint8Array): Promise<Uint8Array | Iterable<Uint8Array>> {
    const sql = readCString(data, 5);
    // Cheap tests first: most queries are neither COPY nor SET/RESET.
    const maybeCopy = /copy/i.test(sql);
    const maybeSetting = /\b(set|reset|discard)\b/i.test(sql);
    if (!maybeCopy && !maybeSetting) return this.run(data);

    const statements = splitStatements(sql);
    if (maybeCopy) {
      const copies = statements.map((s) => copyFromStdin(s));
      if (copies.some((c) => c)) {
        if (statements.length !== 1) {
          return this.refuse(
            errorResponse(
              'ERROR',
              '0A000',
              'COPY FROM STDIN is supported by the devstack front only as the only statement of its query',
              'send the COPY on its own (psql: \\copy), or use INSERT ... SELECT * FROM UNNEST($1::int[], ...) with array parameters',
            ),
          );
        }
        const copy = copies[0]!;
        this.copyIn = { sql: copy.sql, chunks: [] };
        return copyInResponse(copy.binary);
      }
    }

    const settings = maybeSetting
      ? statements.map((st) => settingStatement(st)).filter((x): x is SettingChange => !!x)
      : [];
    if (settings.length === 0) return this.run(data);
    // Learn the values to go back to before they change; keep ownership until the new values
    // are recorded, or the next owner would inherit them.
    await this.front.settings.learnBaselines(settings.filter((c) => c.kind === 'set').map((c) => c.name));
    const response = await this.run(data, { hold: true });
    try {
      await this.settings.remember(settings);
    } finally {
      this.releaseIfIdle();
    }
    return response;
  }

  /** Make the Postgres session's settings this connection's, if another connection changed them. */
  private async applySettings(): Promise<void> {
    const dropped = await this.settings.apply();
    if (dropped.length > 0) {
      this.front.log(
        `connection ${this.describe()}: could not re-apply its settings (${dropped.join(', ')}); using the defaults`,
      );
    }
  }

  /** Named prepared statements get this connection's prefix; the unnamed one stays shared. */
  private renameStatement(data: Uint8Array, nameOffset: number, use: 'parse' | 'use' | 'close'): Uint8Array {
    const name = readCString(data, nameOffset);
    if (name === '') return data;
    const prefixed = this.prefix + name;
    if (use === 'parse') this.statements.add(prefixed);
    if (use === 'close') this.statements.delete(prefixed);
    return withName(data, nameOffset, prefixed);
  }

  /**
   * Answer with `error` and put the session where Postgres would be after that error (an open
   * transaction becomes failed): raise an error in the database, keep only its ReadyForQuery.
   */
  private async refuse(error: Uint8Array, { alreadySent = false } = {}): Promise<Uint8Array> {
    const response = await this.front.execQuery(
      `DO $devstack$BEGIN RAISE EXCEPTION 'refused by the devstack front'; END$devstack$`,
    );
    const summary = this.observe(response);
    const ready = readyForQuery(summary.ready ?? this.txStatus);
    return alreadySent ? ready : concat([error, ready]);
  }

  private async copyMessage(data: Uint8Array): Promise<Uint8Array | Iterable<Uint8Array>> {
    const copy = this.copyIn!;
    switch (data[0]) {
      case FrontendMessageCode.CopyData:
        copy.chunks.push(data.slice(5)); // pg-gateway reuses its buffer
        return nothing();
      case FrontendMessageCode.Flush:
      case FrontendMessageCode.Sync:
        return nothing();
      case FrontendMessageCode.CopyDone: {
        this.copyIn = undefined;
        const blob = new Blob(copy.chunks);
        copy.chunks = [];
        await this.front.db._handleBlob(blob);
        try {
          return await this.run(queryMessage(copy.sql));
        } finally {
          await this.front.db._cleanupBlob();
        }
      }
      case FrontendMessageCode.CopyFail: {
        this.copyIn = undefined;
        const reason = readCString(data, 5);
        return this.refuse(errorResponse('ERROR', '57014', `COPY from stdin failed: ${reason}`));
      }
      default:
        this.copyIn = undefined;
        return this.refuse(
          errorResponse('ERROR', '08P01', `unexpected message type 0x${data[0].toString(16)} during COPY from stdin`),
        );
    }
  }

  private fail(err: unknown): Uint8Array {
    if (err instanceof FrontError) {
      this.closeAfter();
      return err.response;
    }
    const text = err instanceof Error ? err.message : String(err);
    this.front.log(`connection ${this.describe()}: ${err instanceof Error && err.stack ? err.stack : text}`);
    this.closeAfter();
    return errorResponse('FATAL', 'XX000', `devstack front: internal error while handling this connection: ${text}`);
  }

  /** End the connection once the response being returned has been written. */
  private closeAfter(): void {
    setImmediate(() => {
      this.socket.end();
      void this.cleanUp('closed after an error');
    });
  }

  private armIdleTimer(): void {
    const ms = this.front.idleInTransactionTimeoutMs;
    if (ms <= 0 || this.closed || !this.owns) return;
    this.idleTimer = setTimeout(() => {
      if (this.closed || !this.owns) return;
      this.front.log(
        `connection ${this.describe()}: idle in transaction for ${ms} ms while others wait; terminating it`,
      );
      const error = errorResponse(
        'FATAL',
        '25P03',
        `terminating connection due to idle-in-transaction timeout (${ms} ms): the devstack database serves one transaction at a time`,
      );
      this.socket.end(error);
      void this.cleanUp('idle in transaction');
    }, ms);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /**
   * The connection is gone (or going): roll back whatever it left open, drop its prepared
   * statements, and let the next connection in. Idempotent.
   */
  cleanUp(reason: string): Promise<void> {
    this.cleanedUp ??= this.doCleanUp(reason);
    return this.cleanedUp;
  }

  private async doCleanUp(reason: string): Promise<void> {
    this.closed = true;
    this.clearIdleTimer();
    this.copyIn = undefined;
    this.front.baton.cancel(this);
    // Let a message being handled finish first (it may be inside PGlite right now).
    await this.busy;
    const front = this.front;
    try {
      if (this.owns) {
        if (this.txStatus !== 'I' || this.midSequence) {
          front.log(`connection ${this.describe()} ${reason} inside a transaction: rolling back`);
        }
        await this.rollBack();
        await this.dropStatements();
        front.baton.release(this);
      } else if (this.statements.size > 0 && !front.broken && !front.closing) {
        await front.exclusive(() => this.dropStatements());
      }
    } catch (err) {
      front.log(`connection ${this.describe()}: cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      front.baton.release(this);
    } finally {
      front.sessions.delete(this);
    }
  }

  /** Ownership is kept (hold): the prepared statements are dropped next, before releasing. */
  private async rollBack(): Promise<void> {
    const front = this.front;
    if (front.broken) return;
    if (this.midSequence) {
      // Abort an unfinished extended-protocol sequence (an implicit transaction must not be
      // committed by the Sync), then end it with Sync; after an error Postgres ignores all but Sync.
      this.observe(await front.execQuery('ROLLBACK'), { hold: true });
      this.observe(await front.exec(syncMessage()), { hold: true });
    }
    if (this.txStatus !== 'I') this.observe(await front.execQuery('ROLLBACK'), { hold: true });
  }

  private async dropStatements(): Promise<void> {
    if (this.statements.size === 0 || this.front.broken) return;
    for (const name of this.statements) await this.front.exec(closeStatementMessage(name));
    await this.front.exec(syncMessage());
    this.statements.clear();
  }
}

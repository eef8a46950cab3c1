import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheDir } from './paths';
import { headersHint, type PostgresInstall } from './postgres-install';
import { run } from './process';
import { TIMESCALEDB_VERSION } from './settings';

/**
 * TimescaleDB built from source for one exact PostgreSQL server, kept in a cache outside the
 * work tree. PostgreSQL 15–17 read extensions only from their own lib and share directories
 * (extension_control_path arrived in 18), so the cache holds a relocated copy of the server
 * (bin, lib, share, at the same relative places: PostgreSQL finds them relative to its binary)
 * with TimescaleDB installed into it. Nothing is written to the system's PostgreSQL.
 *
 *   <cache>/timescaledb/<version>-pg<server version>/
 *     root/<bindir>, root/<pkglibdir>, root/<sharedir>   the relocated server + extension
 *     installed.json                                      written last: the build is complete
 *   <cache>/timescaledb/<key>.build.log                   cmake and make output
 *   <cache>/timescaledb/sources/                          downloaded tarballs
 */

export type Log = (msg: string) => void;

export interface TimescaleBuild {
  key: string;
  /** The relocated server's bin directory (postgres, initdb, pg_ctl). */
  bindir: string;
  /** Where the build's output went (for messages). */
  dir: string;
}

interface Stamp {
  timescaledb: string;
  serverVersion: string;
  pgConfig: string;
  builtAt: string;
}

/**
 * The cache for builds. As root the server runs as an unprivileged user (initdb refuses root),
 * which cannot read root's home, so root's default is /var/cache/mockstagram-devstack.
 */
export function buildCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (!env.DEVSTACK_CACHE_DIR && process.getuid?.() === 0) return '/var/cache/mockstagram-devstack';
  return cacheDir(env);
}

export function buildKey(pg: PostgresInstall): string {
  return `${TIMESCALEDB_VERSION}-pg${pg.serverVersion.replace(/[^A-Za-z0-9.+-]+/g, '_').replace(/_+$/, '')}`;
}

function buildPaths(pg: PostgresInstall) {
  const base = path.join(buildCacheDir(), 'timescaledb');
  const key = buildKey(pg);
  const dir = path.join(base, key);
  return {
    base,
    key,
    dir,
    root: path.join(dir, 'root'),
    stamp: path.join(dir, 'installed.json'),
    log: path.join(base, `${key}.build.log`),
    sources: path.join(base, 'sources'),
  };
}

/** A finished build for this server, if the cache has one. */
export function cachedBuild(pg: PostgresInstall): TimescaleBuild | undefined {
  const p = buildPaths(pg);
  try {
    const stamp = JSON.parse(fs.readFileSync(p.stamp, 'utf8')) as Stamp;
    const bindir = path.join(p.root, pg.bindir);
    if (stamp.timescaledb !== TIMESCALEDB_VERSION || stamp.serverVersion !== pg.serverVersion) return undefined;
    if (!fs.existsSync(path.join(bindir, 'postgres'))) return undefined;
    return { key: p.key, bindir, dir: p.dir };
  } catch {
    return undefined;
  }
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const BUILD_PACKAGES = 'apt-get install cmake gcc make libssl-dev libkrb5-dev';

/** Every reason this machine cannot build TimescaleDB for this server, each with what to do. */
export function buildProblems(pg: PostgresInstall): string[] {
  const problems: string[] = [];
  if (!pg.headersVersion) {
    problems.push(
      `the server headers of PostgreSQL ${pg.major} are not installed (${pg.includedirServer}/postgres.h): ${headersHint(pg)}`,
    );
  } else if (pg.headersVersion !== pg.serverVersion) {
    problems.push(
      `the server headers are PostgreSQL ${pg.headersVersion} but the server is ${pg.serverVersion}; an extension built ` +
        `against other headers fails to load (undefined symbols). Install the matching headers: ${headersHint(pg)}`,
    );
  }
  const tools = ['cmake', 'make', 'cc'].filter((t) => !onPath(t));
  if (tools.length > 0) problems.push(`no ${tools.join(', ')} on PATH: ${BUILD_PACKAGES}`);
  if (!fs.existsSync('/usr/include/openssl/ssl.h'))
    problems.push(`no OpenSSL headers (/usr/include/openssl/ssl.h): apt-get install libssl-dev`);
  if (!fs.existsSync('/usr/include/gssapi/gssapi.h') && !fs.existsSync('/usr/include/krb5.h')) {
    problems.push('no Kerberos headers (/usr/include/gssapi/gssapi.h): apt-get install libkrb5-dev');
  }
  return problems;
}

/** One build step, its command line and output appended to the build log; throws on failure. */
async function step(cmd: string, args: string[], opts: { cwd?: string; log: string }): Promise<void> {
  fs.appendFileSync(opts.log, `\n$ ${[cmd, ...args].join(' ')}\n`);
  const { code } = await run(cmd, args, { cwd: opts.cwd, logFile: opts.log });
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${code})`);
}

/** The tarball on disk: the path itself, or a download of the URL into the cache. */
async function sourceTarball(source: string, sourcesDir: string, log: Log): Promise<string> {
  if (!/^https?:\/\//i.test(source)) {
    const file = path.resolve(source);
    if (!fs.existsSync(file)) {
      throw new Error(
        `DEVSTACK_TIMESCALEDB_SOURCE=${JSON.stringify(source)}: no such file. Point it at timescaledb-${TIMESCALEDB_VERSION}.tar.gz (a path or a URL)`,
      );
    }
    return file;
  }
  fs.mkdirSync(sourcesDir, { recursive: true });
  const file = path.join(sourcesDir, `${Buffer.from(source).toString('base64url').slice(-48)}.tar.gz`);
  if (fs.existsSync(file)) return file;
  log(`timescaledb: downloading ${source}`);
  let response: Response;
  try {
    response = await fetch(source);
  } catch (err) {
    throw new Error(
      `could not download the TimescaleDB source from ${source} (${(err as Error).message}). ` +
        `Download timescaledb-${TIMESCALEDB_VERSION}.tar.gz elsewhere and set DEVSTACK_TIMESCALEDB_SOURCE to its path`,
      { cause: err },
    );
  }
  if (!response.ok) {
    throw new Error(
      `could not download the TimescaleDB source from ${source}: HTTP ${response.status}. Set DEVSTACK_TIMESCALEDB_SOURCE to a tarball's path`,
    );
  }
  const partial = `${file}.partial-${process.pid}`;
  fs.writeFileSync(partial, Buffer.from(await response.arrayBuffer()));
  fs.renameSync(partial, file);
  return file;
}

/** The version in the tarball's version.config ("version = 2.28.3"). */
export function tarballVersion(tarball: string): string {
  const listed = spawnSync('tar', ['-xzOf', tarball, '--wildcards', '*/version.config'], { encoding: 'utf8' });
  const version = /^version\s*=\s*(\S+)/m.exec(listed.stdout ?? '')?.[1];
  if (listed.status !== 0 || !version) {
    throw new Error(
      `${tarball} is not a TimescaleDB source tarball (no version.config inside: ${(listed.stderr || '').trim() || 'unreadable'})`,
    );
  }
  return version;
}

/**
 * The build for this server: from the cache, or built now from `source` (a path or an http(s)
 * URL of the pinned version's source tarball).
 */
export async function ensureTimescaleBuild(pg: PostgresInstall, source: string, log: Log): Promise<TimescaleBuild> {
  const cached = cachedBuild(pg);
  if (cached) return cached;
  const problems = buildProblems(pg);
  if (problems.length > 0) {
    throw new Error(
      `cannot build TimescaleDB ${TIMESCALEDB_VERSION} for PostgreSQL ${pg.serverVersion}:\n  - ${problems.join('\n  - ')}\n` +
        `(or use the embedded engine: DEVSTACK_DB=pglite)`,
    );
  }
  const p = buildPaths(pg);
  fs.mkdirSync(p.base, { recursive: true });
  const tarball = await sourceTarball(source, p.sources, log);
  const version = tarballVersion(tarball);
  if (version !== TIMESCALEDB_VERSION) {
    throw new Error(
      `${tarball} holds TimescaleDB ${version}, but the devstack is pinned to ${TIMESCALEDB_VERSION}. ` +
        `Set DEVSTACK_TIMESCALEDB_SOURCE to timescaledb-${TIMESCALEDB_VERSION}.tar.gz`,
    );
  }

  const started = Date.now();
  log(`timescaledb: building TimescaleDB ${version} for PostgreSQL ${pg.serverVersion} (once; log: ${p.log})`);
  fs.writeFileSync(p.log, `TimescaleDB ${version} from ${tarball} for ${pg.pgConfig} (${pg.serverVersion})\n`);
  const work = fs.mkdtempSync(path.join(p.base, `${p.key}.building-`));
  try {
    await step('tar', ['-xzf', tarball, '-C', work, '--strip-components=1'], { log: p.log });
    await step(
      './bootstrap',
      [
        '-DREGRESS_CHECKS=OFF',
        '-DTAP_CHECKS=OFF',
        '-DWARNINGS_AS_ERRORS=OFF',
        '-DLINTER=OFF',
        `-DPG_CONFIG=${pg.pgConfig}`,
      ],
      { cwd: work, log: p.log },
    );
    const build = path.join(work, 'build');
    await step('make', [`-j${Math.max(1, os.availableParallelism())}`], { cwd: build, log: p.log });
    const stage = path.join(work, 'stage');
    await step('make', ['install', `DESTDIR=${stage}`], { cwd: build, log: p.log });

    // The relocated server first, then the extension's files over it.
    const root = path.join(work, 'root');
    for (const dir of new Set([pg.bindir, pg.pkglibdir, pg.sharedir])) {
      fs.cpSync(dir, path.join(root, dir), { recursive: true, verbatimSymlinks: true });
    }
    fs.cpSync(stage, root, { recursive: true, verbatimSymlinks: true });
    const relocatedLib = spawnSync(path.join(root, pg.bindir, 'pg_config'), ['--pkglibdir'], {
      encoding: 'utf8',
    }).stdout?.trim();
    if (relocatedLib !== path.join(root, pg.pkglibdir)) {
      throw new Error(
        `the copy of PostgreSQL in ${root} does not find its own libraries (pg_config --pkglibdir says ${relocatedLib}); this PostgreSQL build is not relocatable`,
      );
    }

    const final = path.join(work, 'final');
    fs.mkdirSync(final);
    fs.renameSync(root, path.join(final, 'root'));
    const stamp: Stamp = {
      timescaledb: version,
      serverVersion: pg.serverVersion,
      pgConfig: pg.pgConfig,
      builtAt: new Date().toISOString(),
    };
    fs.writeFileSync(path.join(final, 'installed.json'), `${JSON.stringify(stamp, null, 2)}\n`);
    fs.rmSync(p.dir, { recursive: true, force: true });
    fs.renameSync(final, p.dir);
  } catch (err) {
    throw new Error(`building TimescaleDB ${version} failed: ${(err as Error).message}. See ${p.log}`, { cause: err });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  log(`timescaledb: built in ${((Date.now() - started) / 1000).toFixed(0)} s into ${p.dir}`);
  const built = cachedBuild(pg);
  if (!built) throw new Error(`the TimescaleDB build in ${p.dir} is incomplete; see ${p.log}`);
  return built;
}

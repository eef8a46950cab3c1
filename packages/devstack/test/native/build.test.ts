/**
 * The native engine's refusals, each saying what to do: a source tarball of another version, a
 * missing tarball, missing or mismatched server headers, an unusable DEVSTACK_PG_CONFIG. They
 * stop before anything is built or started (a cache directory of their own, under a temp dir),
 * and need the machine's PostgreSQL server installed, as the native engine does.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findPostgres, type PostgresInstall } from '../../src/postgres-install';
import { devstackSettings, TIMESCALEDB_VERSION } from '../../src/settings';
import { chooseEngine } from '../../src/timescale';
import { buildProblems, ensureTimescaleBuild, tarballVersion } from '../../src/timescaledb-build';

let tmp: string;
const saved = process.env.DEVSTACK_CACHE_DIR;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'native-engine-test-'));
  process.env.DEVSTACK_CACHE_DIR = path.join(tmp, 'cache');
});
afterAll(() => {
  if (saved === undefined) delete process.env.DEVSTACK_CACHE_DIR;
  else process.env.DEVSTACK_CACHE_DIR = saved;
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A tarball shaped like TimescaleDB's source (timescaledb-<v>/version.config), holding `version`. */
function fakeTarball(version: string): string {
  const dir = path.join(tmp, `src-${version}`);
  fs.mkdirSync(path.join(dir, `timescaledb-${version}`), { recursive: true });
  fs.writeFileSync(
    path.join(dir, `timescaledb-${version}`, 'version.config'),
    `version = ${version}\nprevious_version = 0.0.1\n`,
  );
  const file = path.join(tmp, `timescaledb-${version}.tar.gz`);
  expect(spawnSync('tar', ['-czf', file, '-C', dir, `timescaledb-${version}`]).status).toBe(0);
  return file;
}

/** The machine's server, as the native engine finds it; these tests run where it is installed. */
function server(): PostgresInstall {
  const pg = findPostgres();
  if (!pg) throw new Error('no PostgreSQL server installed: the native engine needs one (see the README, "Engines")');
  return pg;
}

test('the version inside a source tarball is read from its version.config', () => {
  expect(tarballVersion(fakeTarball('2.27.1'))).toBe('2.27.1');
  const other = path.join(tmp, 'other');
  fs.mkdirSync(other);
  fs.writeFileSync(path.join(other, 'README'), 'not TimescaleDB');
  const notSource = path.join(tmp, 'not-source.tar.gz');
  expect(spawnSync('tar', ['-czf', notSource, '-C', tmp, 'other']).status).toBe(0);
  expect(() => tarballVersion(notSource)).toThrow(/is not a TimescaleDB source tarball/);
});

test('a tarball of another version is refused, naming the version it holds and the one wanted', async () => {
  await expect(ensureTimescaleBuild(server(), fakeTarball('2.27.1'), () => undefined)).rejects.toThrow(
    new RegExp(
      `holds TimescaleDB 2\\.27\\.1, but the devstack is pinned to ${TIMESCALEDB_VERSION.replace(/\./g, '\\.')}.*DEVSTACK_TIMESCALEDB_SOURCE`,
    ),
  );
});

test('a missing tarball names DEVSTACK_TIMESCALEDB_SOURCE', async () => {
  await expect(ensureTimescaleBuild(server(), path.join(tmp, 'nowhere.tar.gz'), () => undefined)).rejects.toThrow(
    /DEVSTACK_TIMESCALEDB_SOURCE=".*nowhere\.tar\.gz": no such file/,
  );
});

test('missing or mismatched server headers say which package to install', () => {
  const pg = server();
  expect(buildProblems({ ...pg, headersVersion: undefined }).join('\n')).toMatch(
    new RegExp(
      `server headers of PostgreSQL ${pg.major} are not installed.*(apt-get install postgresql-server-dev-${pg.major}|postgresql-server-dev)`,
    ),
  );
  expect(buildProblems({ ...pg, headersVersion: '15.20 (Debian 15.20-0+deb12u1)' }).join('\n')).toMatch(
    /headers are PostgreSQL 15\.20 .* but the server is .*fails to load.*Install the matching headers/,
  );
  expect(buildProblems(pg)).toEqual([]);
});

test('DEVSTACK_PG_CONFIG naming no file, and DEVSTACK_DB=native without a server, stop with what to do', () => {
  const settings = devstackSettings({ DEVSTACK_DB: 'native', DEVSTACK_PG_CONFIG: path.join(tmp, 'no-pg_config') });
  expect(() => chooseEngine(settings)).toThrow(/DEVSTACK_PG_CONFIG=".*no-pg_config": no such file/);
  expect(chooseEngine(devstackSettings({ DEVSTACK_DB: 'pglite' }))).toEqual({
    engine: 'pglite',
    why: 'DEVSTACK_DB=pglite',
  });
  expect(chooseEngine(devstackSettings({ DEVSTACK_DB: 'auto' })).engine).toBe('native');
});

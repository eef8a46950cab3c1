import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { debianVersion, findPostgres, SUPPORTED_MAJORS } from './postgres-install';
import { buildProblems, cachedBuild } from './timescaledb-build';

/**
 * On Debian 12 as root, the native engine's prerequisites are installed the first time they are
 * missing, so that `yarn dev` and `yarn test` set up a fresh machine themselves:
 * PostgreSQL 15 server and headers pinned to 15.18 (15.20 breaks TimescaleDB's job runner, and
 * headers must match the server exactly), and TimescaleDB's build tools. An installed server is
 * never changed; only its matching headers are added. Elsewhere nothing is installed, and the
 * engine choice says what to install.
 */

export type Log = (msg: string) => void;

/** The PostgreSQL 15 build known to run TimescaleDB's background jobs (bookworm main). */
export const PINNED_POSTGRES = '15.18-0+deb12u1';
const PINNED_PACKAGES = ['postgresql-15', 'postgresql-client-15', 'postgresql-server-dev-15', 'libpq5', 'libpq-dev'];
const BUILD_PACKAGES = ['cmake', 'make', 'gcc', 'libssl-dev', 'libkrb5-dev'];

function isDebian12(): boolean {
  try {
    return fs.readFileSync('/etc/debian_version', 'utf8').trim().startsWith('12');
  } catch {
    return false;
  }
}

function canInstall(): boolean {
  return (
    process.getuid?.() === 0 &&
    isDebian12() &&
    spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0
  );
}

/** What apt should install for the native engine now; empty when nothing is missing. */
export function missingPackages(pgConfig?: string): string[] {
  const pg = findPostgres(pgConfig);
  if (!pg || !(SUPPORTED_MAJORS as readonly number[]).includes(pg.major)) {
    return [...PINNED_PACKAGES.map((p) => `${p}=${PINNED_POSTGRES}`), ...BUILD_PACKAGES];
  }
  if (cachedBuild(pg)) return [];
  const problems = buildProblems(pg);
  if (problems.length === 0) return [];
  const serverDebian = debianVersion(pg.serverVersion);
  const wanted: string[] = [];
  if (!pg.headersVersion || pg.headersVersion !== pg.serverVersion) {
    wanted.push(
      serverDebian ? `postgresql-server-dev-${pg.major}=${serverDebian}` : `postgresql-server-dev-${pg.major}`,
    );
  }
  return [...wanted, ...BUILD_PACKAGES];
}

/**
 * Install what the native engine lacks, where this machine allows it. Returns false (nothing
 * done) when it does not: not root, not Debian 12, or no apt-get.
 */
export function installNativePrerequisites(log: Log, pgConfig?: string): boolean {
  if (pgConfig || !canInstall()) return false;
  const packages = missingPackages();
  if (packages.length === 0) return true;
  log(`timescaledb: installing the native engine's prerequisites with apt-get: ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    env,
  });
  const install = spawnSync('apt-get', ['install', '-y', '-qq', '--allow-downgrades', ...packages], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    env,
  });
  if (update.status !== 0 || install.status !== 0) {
    log(
      `timescaledb: apt-get could not install them (${(install.stderr || update.stderr || '').trim().split('\n').slice(-2).join(' ')})`,
    );
    return false;
  }
  return true;
}

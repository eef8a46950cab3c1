import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A PostgreSQL server installation the native engine can run: its binaries, and its
 * server headers when the matching `postgresql-server-dev-<major>` is installed.
 */
export interface PostgresInstall {
  pgConfig: string;
  bindir: string;
  pkglibdir: string;
  sharedir: string;
  includedirServer: string;
  major: number;
  /** The server's own version line, e.g. "15.18 (Debian 15.18-0+deb12u1)". */
  serverVersion: string;
  /** The server headers' PG_VERSION, when the headers are installed. */
  headersVersion?: string;
}

/** TimescaleDB 2.28 builds against these PostgreSQL majors. */
export const SUPPORTED_MAJORS = [15, 16, 17] as const;

const debianPgRoot = '/usr/lib/postgresql';

function pgConfigValue(pgConfig: string, flag: string): string {
  return execFileSync(pgConfig, [flag], { encoding: 'utf8' }).trim();
}

/** pg_config of every PostgreSQL installed the Debian way (/usr/lib/postgresql/<major>), newest first. */
function debianPgConfigs(): string[] {
  if (!fs.existsSync(debianPgRoot)) return [];
  return fs
    .readdirSync(debianPgRoot)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join(debianPgRoot, v, 'bin', 'pg_config'))
    .filter((file) => fs.existsSync(file));
}

/** "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → "15.18 (Debian 15.18-0+deb12u1)". */
function serverVersionOf(postgresBin: string): string {
  const line = execFileSync(postgresBin, ['--version'], { encoding: 'utf8' }).trim();
  return line.replace(/^postgres \(PostgreSQL\)\s*/, '');
}

function headersVersionOf(includedirServer: string): string | undefined {
  try {
    const header = fs.readFileSync(path.join(includedirServer, 'pg_config.h'), 'utf8');
    if (!fs.existsSync(path.join(includedirServer, 'postgres.h'))) return undefined;
    return /#define PG_VERSION "([^"]+)"/.exec(header)?.[1];
  } catch {
    return undefined;
  }
}

/** Read an installation through its pg_config; undefined when it has no server binary. */
export function readInstall(pgConfig: string): PostgresInstall | undefined {
  const bindir = pgConfigValue(pgConfig, '--bindir');
  const postgresBin = path.join(bindir, 'postgres');
  if (!fs.existsSync(postgresBin) || !fs.existsSync(path.join(bindir, 'initdb'))) return undefined;
  const includedirServer = pgConfigValue(pgConfig, '--includedir-server');
  const serverVersion = serverVersionOf(postgresBin);
  return {
    pgConfig,
    bindir,
    pkglibdir: pgConfigValue(pgConfig, '--pkglibdir'),
    sharedir: pgConfigValue(pgConfig, '--sharedir'),
    includedirServer,
    major: Number.parseInt(serverVersion, 10),
    serverVersion,
    headersVersion: headersVersionOf(includedirServer),
  };
}

/**
 * The server the native engine would run: the one DEVSTACK_PG_CONFIG names, else the newest
 * supported major installed under /usr/lib/postgresql, else whatever `pg_config` on PATH names.
 */
export function findPostgres(pgConfig?: string): PostgresInstall | undefined {
  if (pgConfig) {
    if (!fs.existsSync(pgConfig)) {
      throw new Error(
        `DEVSTACK_PG_CONFIG=${JSON.stringify(pgConfig)}: no such file; point it at the pg_config of a PostgreSQL 15–17 server`,
      );
    }
    return readInstall(pgConfig);
  }
  const installs = debianPgConfigs()
    .map((file) => readInstall(file))
    .filter((i): i is PostgresInstall => i !== undefined);
  const supported = installs.find((i) => (SUPPORTED_MAJORS as readonly number[]).includes(i.major));
  if (supported) return supported;
  if (installs[0]) return installs[0];
  try {
    return readInstall('pg_config');
  } catch {
    return undefined;
  }
}

/** The Debian package version inside a version line, e.g. "15.18-0+deb12u1". */
export function debianVersion(version: string): string | undefined {
  return /\(Debian ([^)]+)\)/.exec(version)?.[1];
}

/** What to install for the headers that match this server. */
export function headersHint(install: PostgresInstall): string {
  const pinned = debianVersion(install.serverVersion);
  return pinned
    ? `apt-get install postgresql-server-dev-${install.major}=${pinned}`
    : `the server headers of PostgreSQL ${install.serverVersion} (Debian: postgresql-server-dev-${install.major})`;
}

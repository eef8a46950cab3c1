import { z } from 'zod';
import { devstackDir } from './paths';

/**
 * The devstack's own variables. Defaults are written here once.
 * KAFKA_BROKERS / DATABASE_URL are not devstack settings: when a user sets them, tests and
 * `yarn dev` use those engines and the devstack starts nothing for them.
 */
const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);

/** The TimescaleDB release the native engine builds; a source tarball of another version is refused. */
export const TIMESCALEDB_VERSION = '2.28.3';

const schema = z.object({
  DEVSTACK_HOST: z.string().min(1).default('127.0.0.1'),
  DEVSTACK_KAFKA_PORT: port(9092),
  DEVSTACK_KAFKA_CONTROLLER_PORT: port(9093),
  DEVSTACK_PG_PORT: port(6432),
  /**
   * Which TimescaleDB engine: `native` (PostgreSQL server + TimescaleDB built from source),
   * `pglite` (embedded, WebAssembly), or `auto`: native where a PostgreSQL 15–17 server and its
   * headers (or an earlier build for it) are installed, else PGlite.
   */
  DEVSTACK_DB: z.enum(['auto', 'native', 'pglite']).default('auto'),
  /** Source tarball of TimescaleDB for the native engine: a path, or an http(s) URL. */
  DEVSTACK_TIMESCALEDB_SOURCE: z
    .string()
    .min(1)
    .default(`https://github.com/timescale/timescaledb/archive/refs/tags/${TIMESCALEDB_VERSION}.tar.gz`),
  /** pg_config of the PostgreSQL server the native engine runs; empty = the newest of 17, 16, 15 installed. */
  DEVSTACK_PG_CONFIG: z.string().optional(),
});

export interface DevstackSettings {
  dir: string;
  host: string;
  kafkaPort: number;
  kafkaControllerPort: number;
  pgPort: number;
  db: 'auto' | 'native' | 'pglite';
  timescaledbSource: string;
  pgConfig?: string;
  /** Where clients reach the devstack's broker. */
  kafkaBrokers: string;
  /** Where clients reach the devstack's database. */
  databaseUrl: string;
}

export function devstackSettings(env: NodeJS.ProcessEnv = process.env): DevstackSettings {
  // Empty variables (`FOO=` in a .env file) count as unset.
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(given);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${JSON.stringify(env[name])}: ${issue.message}`;
    });
    throw new Error(`invalid devstack configuration:\n  ${lines.join('\n  ')}`);
  }
  const s = parsed.data;
  return {
    dir: devstackDir(env),
    host: s.DEVSTACK_HOST,
    kafkaPort: s.DEVSTACK_KAFKA_PORT,
    kafkaControllerPort: s.DEVSTACK_KAFKA_CONTROLLER_PORT,
    pgPort: s.DEVSTACK_PG_PORT,
    db: s.DEVSTACK_DB,
    timescaledbSource: s.DEVSTACK_TIMESCALEDB_SOURCE,
    pgConfig: s.DEVSTACK_PG_CONFIG,
    kafkaBrokers: `${s.DEVSTACK_HOST}:${s.DEVSTACK_KAFKA_PORT}`,
    databaseUrl: `postgres://postgres@${s.DEVSTACK_HOST}:${s.DEVSTACK_PG_PORT}/postgres`,
  };
}

import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { Pool } from 'pg';

/** Connection details of the engines the test run uses (set by test/global-setup.ts). */
export const kafkaBrokers = (): string[] => (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const databaseUrl = (): string => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:6432/postgres';

/** A name no other test (or earlier run) has used: prefix + time + random. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export function testKafka(clientId = uniqueName('test')): Kafka {
  return new Kafka({ clientId, brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
}

/** Create uniquely named topics (prefix → name) with the given partitions; delete them with the returned function. */
export async function createTopics(
  prefixes: string[],
  numPartitions = 12,
): Promise<{ names: string[]; remove: () => Promise<void> }> {
  const names = prefixes.map((p) => uniqueName(p).replace(/_/g, '.'));
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: names.map((topic) => ({ topic, numPartitions, replicationFactor: 1 })),
    });
  } finally {
    await admin.disconnect();
  }
  return {
    names,
    remove: async () => {
      const a = testKafka().admin();
      await a.connect();
      try {
        await a.deleteTopics({ topics: names });
      } finally {
        await a.disconnect();
      }
    },
  };
}

/**
 * A fresh schema for one test file, so test files never see each other's tables.
 * `url` selects it through the connection's search_path (TimescaleDB's functions stay reachable
 * through public); hand it to the service under test as DATABASE_URL.
 */
export interface TestSchema {
  schema: string;
  url: string;
  pool: Pool;
  drop: () => Promise<void>;
}

export async function freshSchema(prefix = 'test'): Promise<TestSchema> {
  const schema = uniqueName(prefix).toLowerCase();
  const admin = new Pool({ connectionString: databaseUrl(), max: 1 });
  await admin.query(`CREATE SCHEMA "${schema}"`);
  await admin.end();
  const url = withSearchPath(databaseUrl(), schema);
  const pool = new Pool({ connectionString: url, max: 4 });
  return {
    schema,
    url,
    pool,
    drop: async () => {
      await pool.end();
      const p = new Pool({ connectionString: databaseUrl(), max: 1 });
      try {
        // A TimescaleDB job of the schema (the rank refresh rebuilds a table) may change the
        // catalog at the same moment: PostgreSQL then refuses the drop; it succeeds once retried.
        for (let attempt = 1; ; attempt++) {
          try {
            await p.query(`DROP SCHEMA "${schema}" CASCADE`);
            break;
          } catch (err) {
            const concurrent = /concurrently (deleted|updated)|deadlock detected/.test((err as Error).message);
            if (!concurrent || attempt >= 5) throw err;
            await new Promise((r) => setTimeout(r, 200 * attempt));
          }
        }
      } finally {
        await p.end();
      }
    },
  };
}

/** Add `options=-c search_path=<schema>,public` to a postgres:// URL. */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema},public`);
  return u.toString();
}

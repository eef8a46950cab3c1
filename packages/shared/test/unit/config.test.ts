import { z } from 'zod';
import { ConfigError, databaseEnv, envVar, kafkaEnv, loadConfig, logEnv, migrationEnv } from '../../src/config';

const schema = z.object({
  ...kafkaEnv.shape,
  ...databaseEnv.shape,
  ...logEnv.shape,
  FETCHER_CONCURRENCY: envVar.positiveInt(32),
  FETCHER_HTTP_PORT: envVar.port(8082),
  DRY_RUN: envVar.boolean(false),
});

function problemsOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the defaults written in the schema', () => {
    const c = loadConfig(schema, {});
    expect(c).toEqual({
      KAFKA_BROKERS: ['127.0.0.1:9092'],
      KAFKA_CLIENT_ID: undefined,
      TOPIC_FETCH_JOBS: 'mockstagram.fetch-jobs',
      TOPIC_FETCH_RESULTS: 'mockstagram.fetch-results',
      TOPIC_DLQ: 'mockstagram.dlq',
      TOPIC_PARTITIONS: 12,
      KAFKA_TOPIC_REPLICATION_FACTOR: -1,
      KAFKA_TOPIC_MIN_INSYNC_REPLICAS: undefined,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:6432/postgres',
      DATABASE_POOL_SIZE: 10,
      LOG_LEVEL: 'info',
      FETCHER_CONCURRENCY: 32,
      FETCHER_HTTP_PORT: 8082,
      DRY_RUN: false,
    });
  });

  it('coerces values and splits lists', () => {
    const c = loadConfig(schema, {
      KAFKA_BROKERS: ' a:9092, b:9093 ,',
      FETCHER_CONCURRENCY: '8',
      DRY_RUN: 'false',
      LOG_LEVEL: 'debug',
      UNRELATED: 'ignored',
    });
    expect(c.KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
    expect(c.FETCHER_CONCURRENCY).toBe(8);
    expect(c.DRY_RUN).toBe(false);
    expect(c.LOG_LEVEL).toBe('debug');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig(schema, { FETCHER_CONCURRENCY: '' }).FETCHER_CONCURRENCY).toBe(32);
  });

  it('names the variable, the value and what is expected', () => {
    expect(problemsOf(() => loadConfig(schema, { FETCHER_CONCURRENCY: 'abc' }))).toContain(
      'FETCHER_CONCURRENCY="abc": expected a positive integer',
    );
    expect(problemsOf(() => loadConfig(schema, { FETCHER_CONCURRENCY: '-3' }))).toContain(
      'FETCHER_CONCURRENCY="-3": expected a positive integer',
    );
    expect(problemsOf(() => loadConfig(schema, { FETCHER_CONCURRENCY: '1.5' }))).toContain(
      'FETCHER_CONCURRENCY="1.5": expected a positive integer',
    );
    expect(problemsOf(() => loadConfig(schema, { FETCHER_HTTP_PORT: '70000' }))).toContain(
      'FETCHER_HTTP_PORT="70000": expected a TCP port (0-65535)',
    );
    expect(problemsOf(() => loadConfig(schema, { LOG_LEVEL: 'loud' }))).toContain(
      'LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent',
    );
    expect(problemsOf(() => loadConfig(schema, { DRY_RUN: 'maybe' }))).toContain(
      'DRY_RUN="maybe": expected true or false',
    );
    expect(problemsOf(() => loadConfig(schema, { KAFKA_BROKERS: ',' }))).toContain(
      'KAFKA_BROKERS=",": expected a comma-separated list',
    );
  });

  it('takes the topic replication settings, and names a bad one', () => {
    const c = loadConfig(schema, { KAFKA_TOPIC_REPLICATION_FACTOR: '3', KAFKA_TOPIC_MIN_INSYNC_REPLICAS: '2' });
    expect([c.KAFKA_TOPIC_REPLICATION_FACTOR, c.KAFKA_TOPIC_MIN_INSYNC_REPLICAS]).toEqual([3, 2]);
    for (const value of ['0', '-2', '2.5', 'three', '40000']) {
      expect(problemsOf(() => loadConfig(schema, { KAFKA_TOPIC_REPLICATION_FACTOR: value }))).toContain(
        `KAFKA_TOPIC_REPLICATION_FACTOR=${JSON.stringify(value)}: expected an integer from 1 to 32767, or -1 for the broker's default.replication.factor`,
      );
    }
    for (const value of ['0', '-1', 'x']) {
      expect(problemsOf(() => loadConfig(schema, { KAFKA_TOPIC_MIN_INSYNC_REPLICAS: value }))).toContain(
        `KAFKA_TOPIC_MIN_INSYNC_REPLICAS=${JSON.stringify(value)}: expected a positive integer (empty = the broker's min.insync.replicas)`,
      );
    }
  });

  it('lists every bad variable, one per line', () => {
    const message = problemsOf(() => loadConfig(schema, { FETCHER_CONCURRENCY: 'x', TOPIC_PARTITIONS: '0' }));
    expect(message.split('\n')).toEqual([
      'invalid configuration:',
      '  TOPIC_PARTITIONS="0": expected a positive integer',
      '  FETCHER_CONCURRENCY="x": expected a positive integer',
    ]);
  });

  it('reports a missing required variable', () => {
    const s = z.object({ API_TOKEN: z.string().min(1) });
    expect(problemsOf(() => loadConfig(s, {}))).toContain('API_TOKEN is not set: expected a string');
  });

  it('derives expectations from plain zod schemas too', () => {
    const s = z.object({ N: z.coerce.number().int().min(1).max(5), M: z.coerce.number().int().nonnegative() });
    const message = problemsOf(() => loadConfig(s, { N: '9', M: 'x' }));
    expect(message).toContain('N="9": expected an integer >= 1 and <= 5');
    expect(message).toContain('M="x": expected an integer >= 0');
  });

  it('masks the password of a URL in the message', () => {
    const s = z.object({ U: z.url().startsWith('redis://') });
    expect(problemsOf(() => loadConfig(s, { U: 'postgres://me:secret@db/x' }))).toContain('U="postgres://me:***@db/x"');
    expect(problemsOf(() => loadConfig(databaseEnv, { DATABASE_URL: 'mysql://me:secret@db/x' }))).toContain(
      'DATABASE_URL="mysql://me:***@db/x": expected a postgres:// URL',
    );
  });

  it('validates PostgreSQL intervals', () => {
    expect(loadConfig(migrationEnv, { FOLLOWER_COUNTS_RETAIN_FOR: '1 day 12 hours' })).toEqual({
      FOLLOWER_COUNTS_COMPRESS_AFTER: '7 days',
      FOLLOWER_COUNTS_RETAIN_FOR: '1 day 12 hours',
      RANKINGS_REFRESH_EVERY: '1 minute',
      SUSPICIOUS_DETECTION_EVERY: '1 day',
      SUSPICIOUS_DETECTION_AT: '2 hours',
    });
    expect(
      problemsOf(() => loadConfig(migrationEnv, { FOLLOWER_COUNTS_COMPRESS_AFTER: "7 days'; drop table x; --" })),
    ).toContain('FOLLOWER_COUNTS_COMPRESS_AFTER="7 days\'; drop table x; --": expected a PostgreSQL interval');
  });
});

describe('loadConfig with renamed variables', () => {
  const renamed = { FETCH_CONCURRENCY: 'FETCHER_CONCURRENCY', OLD_PORT: 'FETCHER_HTTP_PORT' };

  function load(env: Record<string, string>): { config: z.output<typeof schema>; warnings: string[] } {
    const warnings: string[] = [];
    const config = loadConfig(schema, env, { renamed, onRenamed: (m) => warnings.push(m) });
    return { config, warnings };
  }

  it('reads the new name and warns about nothing when only it is set', () => {
    const { config, warnings } = load({ FETCHER_CONCURRENCY: '7' });
    expect(config.FETCHER_CONCURRENCY).toBe(7);
    expect(warnings).toEqual([]);
  });

  it('reads an old name when the new one is unset, with one warning naming every old → new', () => {
    const { config, warnings } = load({ FETCH_CONCURRENCY: '5', OLD_PORT: '9000' });
    expect(config.FETCHER_CONCURRENCY).toBe(5);
    expect(config.FETCHER_HTTP_PORT).toBe(9000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('FETCH_CONCURRENCY → FETCHER_CONCURRENCY');
    expect(warnings[0]).toContain('OLD_PORT → FETCHER_HTTP_PORT');
  });

  it('treats an empty old name as unset', () => {
    const { config, warnings } = load({ FETCH_CONCURRENCY: '' });
    expect(config.FETCHER_CONCURRENCY).toBe(32);
    expect(warnings).toEqual([]);
  });

  it('accepts both names set to the same value (and still warns)', () => {
    const { config, warnings } = load({ FETCH_CONCURRENCY: '5', FETCHER_CONCURRENCY: '5' });
    expect(config.FETCHER_CONCURRENCY).toBe(5);
    expect(warnings).toHaveLength(1);
  });

  it('stops with a config error naming both when they differ', () => {
    const message = problemsOf(() => load({ FETCH_CONCURRENCY: '5', FETCHER_CONCURRENCY: '6' }));
    expect(message).toContain('FETCH_CONCURRENCY="5"');
    expect(message).toContain('FETCHER_CONCURRENCY');
    expect(message).toContain('"6"');
  });

  it('validates a value given under its old name like the new one, naming the old one', () => {
    expect(problemsOf(() => load({ FETCH_CONCURRENCY: 'abc' }))).toContain(
      'FETCH_CONCURRENCY="abc": expected a positive integer (it is the old name of FETCHER_CONCURRENCY)',
    );
  });

  it('refuses a rename to a variable the schema does not have', () => {
    expect(() => loadConfig(schema, {}, { renamed: { A: 'NOT_IN_SCHEMA' } })).toThrow(/NOT_IN_SCHEMA/);
  });
});

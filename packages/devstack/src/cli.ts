#!/usr/bin/env -S npx tsx
import { spawnSync } from 'node:child_process';
import { devstackSettings, TIMESCALEDB_VERSION } from './settings';
import { down, localEngines, status, up } from './stack';

const usage = `usage: yarn devstack <command>

  up [--fresh]   start Kafka (${'127.0.0.1:9092'}) and TimescaleDB (127.0.0.1:6432); returns when both answer
                 and TimescaleDB's job scheduler runs. TimescaleDB is the native engine (PostgreSQL 15–17
                 + TimescaleDB ${TIMESCALEDB_VERSION}, built once from source) where a server and its headers
                 are installed, else PGlite; DEVSTACK_DB=native|pglite chooses.
                 Already running → says so. --fresh wipes the data directory first.
                 Engines named by KAFKA_BROKERS / DATABASE_URL are external: nothing is started for them.
  down           stop both engines cleanly
  status         show what is running, where, and where the logs are
  psql [args]    open psql on the devstack's TimescaleDB (or DATABASE_URL)

Variables: DEVSTACK_DIR (data, default <repo>/.devstack), DEVSTACK_HOST, DEVSTACK_KAFKA_PORT,
DEVSTACK_KAFKA_CONTROLLER_PORT, DEVSTACK_PG_PORT, DEVSTACK_DB, DEVSTACK_TIMESCALEDB_SOURCE,
DEVSTACK_PG_CONFIG, DEVSTACK_CACHE_DIR.
Three Kafka nodes: DEVSTACK_KAFKA_BROKERS=3 (default 1); node i's ports are node 1's + (i - 1) *
DEVSTACK_KAFKA_PORT_STEP (10), or DEVSTACK_KAFKA_PORT_<i> / DEVSTACK_KAFKA_CONTROLLER_PORT_<i>.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const s = devstackSettings();
  const log = (message: string) => console.log(message);
  switch (command) {
    case 'up': {
      const unknown = rest.filter((a) => a !== '--fresh');
      if (unknown.length > 0) throw new Error(`unknown option ${unknown[0]} for "up"\n\n${usage}`);
      const engines = localEngines();
      if (!engines.kafka) log(`kafka: KAFKA_BROKERS is set (${process.env.KAFKA_BROKERS}); not starting a local broker`);
      if (!engines.timescale) log(`timescaledb: DATABASE_URL is set; not starting a local database`);
      await up(s, engines, log, { fresh: rest.includes('--fresh') });
      return 0;
    }
    case 'down':
      await down(s, log);
      return 0;
    case 'status': {
      const st = status(s);
      const line = (name: string, x: { running: boolean; pid?: number }, where: string, logFile: string) =>
        log(`${name.padEnd(12)} ${x.running ? `running  pid ${x.pid}  ${where}` : 'stopped'}  log: ${logFile}`);
      if (st.kafka.nodes.length === 1) line('kafka', st.kafka, s.kafkaBrokers, st.kafka.nodes[0].serverLog);
      else {
        for (const [i, node] of st.kafka.nodes.entries()) line(`kafka-${node.id}`, node, `${s.host}:${s.kafkaNodes[i].port}`, node.serverLog);
      }
      const ts = st.timescale;
      line('timescaledb', ts, ts.running ? `${s.databaseUrl}  ${ts.engine}: ${ts.versions}` : s.databaseUrl, ts.logFile);
      return st.kafka.running && st.timescale.running ? 0 : 3;
    }
    case 'psql': {
      const url = process.env.DATABASE_URL ?? s.databaseUrl;
      const result = spawnSync('psql', [url, ...rest], { stdio: 'inherit' });
      if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error('psql is not installed: install the PostgreSQL client (Debian: apt-get install postgresql-client)');
      }
      return result.status ?? 1;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      log(usage);
      return command === undefined ? 2 : 0;
    default:
      throw new Error(`unknown command "${command}"\n\n${usage}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`devstack: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

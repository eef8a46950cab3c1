#!/usr/bin/env -S npx tsx
import { spawnSync } from 'node:child_process';
import { consumerLag, formatLag, formatMessage, formatTopics, listTopics, tailTopic } from './kafka-tools';
import { downObservability, observabilityStatusLines, upObservability } from './observability';
import { currentAlerts, formatAlerts } from './prometheus';
import { devstackSettings, TIMESCALEDB_VERSION } from './settings';
import { down, localEngines, status, up } from './stack';

const usage = `usage: yarn devstack <command>

  up [--fresh] [--observability]
                 start Kafka (${'127.0.0.1:9092'}) and TimescaleDB (127.0.0.1:6432); returns when both answer
                 and TimescaleDB's job scheduler runs. TimescaleDB is the native engine (PostgreSQL 15–17
                 + TimescaleDB ${TIMESCALEDB_VERSION}, built once from source) where a server and its headers
                 are installed, else PGlite; DEVSTACK_DB=native|pglite chooses.
                 Already running → says so. --fresh wipes the data directory first.
                 Engines named by KAFKA_BROKERS / DATABASE_URL are external: nothing is started for them.
                 --observability: also Jaeger (UI/API 16686, OTLP 4317/4318) and Prometheus (9090), built
                 from source with Go on first use and cached.
  down           stop every engine cleanly
  status         show what is running, where, and where the logs are
  psql [args]    open psql on the devstack's TimescaleDB (or DATABASE_URL)
  topics         every topic with its partitions and the messages it holds
  tail <topic> [--from-beginning] [--headers]
                 print the topic's messages as they arrive (pretty JSON; x-dlq-* headers always,
                 every header with --headers) until Ctrl-C; commits no offsets
  lag [group]    each consumer group's lag, per topic and partition, with its total
                 (topics, tail and lag use Kafka's own tools on the devstack's broker or KAFKA_BROKERS)
  alerts         the alerts the devstack's Prometheus holds now, firing then pending (README: Alerts)

Variables: DEVSTACK_DIR (data, default <repo>/.devstack), DEVSTACK_HOST, DEVSTACK_KAFKA_PORT,
DEVSTACK_KAFKA_CONTROLLER_PORT, DEVSTACK_PG_PORT, DEVSTACK_DB, DEVSTACK_TIMESCALEDB_SOURCE,
DEVSTACK_PG_CONFIG, DEVSTACK_CACHE_DIR, DEVSTACK_JAEGER_UI_PORT, DEVSTACK_JAEGER_QUERY_GRPC_PORT,
DEVSTACK_JAEGER_OTLP_GRPC_PORT, DEVSTACK_JAEGER_OTLP_HTTP_PORT, DEVSTACK_JAEGER_HEALTH_PORT, DEVSTACK_PROMETHEUS_PORT.
Three Kafka nodes: DEVSTACK_KAFKA_BROKERS=3 (default 1); node i's ports are node 1's + (i - 1) *
DEVSTACK_KAFKA_PORT_STEP (10), or DEVSTACK_KAFKA_PORT_<i> / DEVSTACK_KAFKA_CONTROLLER_PORT_<i>.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const s = devstackSettings();
  const log = (message: string) => console.log(message);
  switch (command) {
    case 'up': {
      const unknown = rest.filter((a) => a !== '--fresh' && a !== '--observability');
      if (unknown.length > 0) throw new Error(`unknown option ${unknown[0]} for "up"\n\n${usage}`);
      const engines = localEngines();
      if (!engines.kafka)
        log(`kafka: KAFKA_BROKERS is set (${process.env.KAFKA_BROKERS}); not starting a local broker`);
      if (!engines.timescale) log(`timescaledb: DATABASE_URL is set; not starting a local database`);
      // --fresh wipes the directory Jaeger and Prometheus keep their files in too.
      if (rest.includes('--fresh')) await downObservability(s, log);
      await up(s, engines, log, { fresh: rest.includes('--fresh') });
      if (rest.includes('--observability')) await upObservability(s, log);
      return 0;
    }
    case 'down':
      await down(s, log);
      await downObservability(s, log);
      return 0;
    case 'status': {
      const st = status(s);
      const line = (name: string, x: { running: boolean; pid?: number }, where: string, logFile: string) =>
        log(`${name.padEnd(12)} ${x.running ? `running  pid ${x.pid}  ${where}` : 'stopped'}  log: ${logFile}`);
      if (st.kafka.nodes.length === 1) line('kafka', st.kafka, s.kafkaBrokers, st.kafka.nodes[0].serverLog);
      else {
        for (const [i, node] of st.kafka.nodes.entries())
          line(`kafka-${node.id}`, node, `${s.host}:${s.kafkaNodes[i].port}`, node.serverLog);
      }
      const ts = st.timescale;
      line(
        'timescaledb',
        ts,
        ts.running ? `${s.databaseUrl}  ${ts.engine}: ${ts.versions}` : s.databaseUrl,
        ts.logFile,
      );
      for (const l of observabilityStatusLines(s)) log(l);
      return st.kafka.running && st.timescale.running ? 0 : 3;
    }
    case 'psql': {
      const url = process.env.DATABASE_URL ?? s.databaseUrl;
      const result = spawnSync('psql', [url, ...rest], { stdio: 'inherit' });
      if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(
          'psql is not installed: install the PostgreSQL client (Debian: apt-get install postgresql-client)',
        );
      }
      return result.status ?? 1;
    }
    case 'topics': {
      if (rest.length > 0) throw new Error(`"topics" takes no arguments\n\n${usage}`);
      log(formatTopics(await listTopics(bootstrap(s), log)));
      return 0;
    }
    case 'lag': {
      if (rest.length > 1 || rest[0]?.startsWith('-')) throw new Error(`usage: yarn devstack lag [group]`);
      log(formatLag(await consumerLag(bootstrap(s), log, rest[0])));
      return 0;
    }
    case 'tail': {
      const topic = rest.find((a) => !a.startsWith('-'));
      const unknown = rest.filter((a) => a.startsWith('-') && a !== '--from-beginning' && a !== '--headers');
      if (!topic || unknown.length > 0 || rest.filter((a) => !a.startsWith('-')).length > 1) {
        throw new Error(
          `usage: yarn devstack tail <topic> [--from-beginning] [--headers]${unknown.length ? ` (unknown option ${unknown[0]})` : ''}`,
        );
      }
      const tail = await tailTopic(
        bootstrap(s),
        topic,
        { fromBeginning: rest.includes('--from-beginning') },
        (m) => log(formatMessage(m, { headers: rest.includes('--headers') })),
        log,
      );
      process.once('SIGINT', tail.stop);
      process.once('SIGTERM', tail.stop);
      await tail.done;
      return 0;
    }
    case 'alerts': {
      if (rest.length > 0) throw new Error(`"alerts" takes no arguments\n\n${usage}`);
      const alerts = await currentAlerts(s.prometheusUrl);
      log(formatAlerts(alerts));
      // like status: non-zero when something needs attention
      return alerts.some((a) => a.state === 'firing') ? 3 : 0;
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

/** The broker the Kafka tools talk to: KAFKA_BROKERS when set, else the devstack's. */
function bootstrap(s: ReturnType<typeof devstackSettings>): string {
  return process.env.KAFKA_BROKERS || s.kafkaBrokers;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`devstack: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);

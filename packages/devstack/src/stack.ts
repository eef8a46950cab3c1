import fs from 'node:fs';
import { checkJava, kafkaStatus, startKafka, stopKafka, strayKafkaNodes, type KafkaNodeStatus } from './kafka';
import { nativePaths } from './native-timescale';
import { assertPortFree } from './ports';
import { DevstackSettings } from './settings';
import { startTimescale, stopTimescale, timescaleStatus, type TimescaleState } from './timescale';

export type Log = (message: string) => void;

/** Which engines the devstack should run: those the user has not pointed elsewhere. */
export interface Engines {
  kafka: boolean;
  timescale: boolean;
}

/** KAFKA_BROKERS / DATABASE_URL set → that engine is external and the devstack leaves it alone. */
export function localEngines(env: NodeJS.ProcessEnv = process.env): Engines {
  return { kafka: !env.KAFKA_BROKERS, timescale: !env.DATABASE_URL };
}

/**
 * Start what is not running yet and return when every engine answers.
 * Ports are checked first so a clash is reported with the variable that moves it.
 */
export async function up(s: DevstackSettings, engines: Engines, log: Log, { fresh = false } = {}): Promise<void> {
  if (fresh) {
    await down(s, log);
    // The native engine's data may live outside (see native-timescale.ts dataLocation).
    const nativeData = nativePaths(s.dir).data;
    if (!nativeData.startsWith(`${s.dir}/`)) fs.rmSync(nativeData, { recursive: true, force: true });
    fs.rmSync(s.dir, { recursive: true, force: true });
    log(`wiped ${s.dir}`);
  }
  fs.mkdirSync(s.dir, { recursive: true });

  const kafka = kafkaStatus(s.dir, s.kafkaNodes);
  const timescaleRunning = engines.timescale && timescaleStatus(s).running;
  if (engines.kafka && !kafka.running) {
    const stray = strayKafkaNodes(s.dir, s.kafkaNodes.length);
    if (stray.length > 0) {
      throw new Error(
        `DEVSTACK_KAFKA_BROKERS=${s.kafkaNodes.length}, but Kafka started with another DEVSTACK_KAFKA_BROKERS is running ` +
          `(${stray.join(', ')}). Stop it first with \`yarn devstack down\`.`,
      );
    }
    await checkJava();
    // Only the nodes that are not running need their ports.
    for (const node of s.kafkaNodes.filter((n) => !kafka.nodes.find((x) => x.id === n.id)?.running)) {
      const which = s.kafkaNodes.length === 1 ? 'the Kafka' : `Kafka node ${node.id}'s`;
      await assertPortFree({ what: `${which} broker`, host: s.host, port: node.port, variable: node.portVariable });
      await assertPortFree({
        what: `${which} controller`,
        host: s.host,
        port: node.controllerPort,
        variable: node.controllerPortVariable,
      });
    }
  }
  if (engines.timescale && !timescaleRunning) {
    await assertPortFree({ what: 'TimescaleDB', host: s.host, port: s.pgPort, variable: 'DEVSTACK_PG_PORT' });
  }

  // The two engines start independently; start them side by side.
  await Promise.all([
    engines.kafka ? startKafkaLogged(s, log) : Promise.resolve(),
    engines.timescale ? startTimescaleLogged(s, log) : Promise.resolve(),
  ]);
}

async function startKafkaLogged(s: DevstackSettings, log: Log): Promise<void> {
  const started = Date.now();
  const { pid, alreadyRunning, nodes } = await startKafka({ dataDir: s.dir, host: s.host, nodes: s.kafkaNodes, log });
  const pids = nodes.map((n) => n.pid).join(', ');
  const what = nodes.length === 1 ? `pid ${pid}` : `${nodes.length} nodes, pids ${pids}`;
  log(
    alreadyRunning
      ? `kafka: already running (${what}) on ${s.kafkaBrokers}`
      : `kafka: ready on ${s.kafkaBrokers} (${what}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
}

async function startTimescaleLogged(s: DevstackSettings, log: Log): Promise<void> {
  const started = Date.now();
  const { pid, alreadyRunning, engine, versions } = await startTimescale(s, log);
  log(
    alreadyRunning
      ? `timescaledb: already running (${engine}, pid ${pid}) at ${s.databaseUrl}`
      : `timescaledb: ready at ${s.databaseUrl} (${engine}: ${versions}; pid ${pid}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
}

export async function down(s: DevstackSettings, log: Log): Promise<void> {
  const [kafka, timescale] = await Promise.all([stopKafka(s.dir), stopTimescale(s)]);
  log(kafka ? 'kafka: stopped' : 'kafka: was not running');
  log(timescale ? 'timescaledb: stopped' : 'timescaledb: was not running');
}

export function status(s: DevstackSettings): {
  kafka: { running: boolean; pid?: number; nodes: KafkaNodeStatus[] };
  timescale: TimescaleState;
} {
  return { kafka: kafkaStatus(s.dir, s.kafkaNodes), timescale: timescaleStatus(s) };
}

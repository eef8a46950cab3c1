import { z } from 'zod';
import { devstackDir } from './paths';

/**
 * The devstack's own variables. Defaults are written here once.
 * KAFKA_BROKERS / DATABASE_URL are not devstack settings: when a user sets them, tests and
 * `yarn dev` use those engines and the devstack starts nothing for them.
 */
const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
/** A port with no fixed default (derived when unset). */
const ownPort = z.coerce.number().int().min(1).max(65535).optional();

/** The TimescaleDB release the native engine builds; a source tarball of another version is refused. */
export const TIMESCALEDB_VERSION = '2.28.3';

const schema = z.object({
  DEVSTACK_HOST: z.string().min(1).default('127.0.0.1'),
  DEVSTACK_KAFKA_PORT: port(9092),
  DEVSTACK_KAFKA_CONTROLLER_PORT: port(9093),
  DEVSTACK_PG_PORT: port(6432),
  /**
   * How many Kafka nodes (each broker and controller, one static KRaft quorum): 1, or 3 for a
   * cluster that keeps acks=all writes going with one node down (replication factor 3,
   * min.insync.replicas 2).
   */
  DEVSTACK_KAFKA_BROKERS: z.enum(['1', '3'], { message: 'expected 1 or 3' }).default('1').transform(Number),
  /**
   * Ports of node i > 1 when not set one by one (DEVSTACK_KAFKA_PORT_<i>,
   * DEVSTACK_KAFKA_CONTROLLER_PORT_<i>): node 1's ports + (i - 1) * this step.
   */
  DEVSTACK_KAFKA_PORT_STEP: z.coerce.number().int().min(1).max(1000).default(10),
  DEVSTACK_KAFKA_PORT_2: ownPort,
  DEVSTACK_KAFKA_CONTROLLER_PORT_2: ownPort,
  DEVSTACK_KAFKA_PORT_3: ownPort,
  DEVSTACK_KAFKA_CONTROLLER_PORT_3: ownPort,
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
  // `up --observability`: Jaeger (UI and query API, OTLP receivers, health check) and Prometheus.
  DEVSTACK_JAEGER_UI_PORT: port(16686),
  DEVSTACK_JAEGER_QUERY_GRPC_PORT: port(16685),
  DEVSTACK_JAEGER_OTLP_GRPC_PORT: port(4317),
  DEVSTACK_JAEGER_OTLP_HTTP_PORT: port(4318),
  DEVSTACK_JAEGER_HEALTH_PORT: port(13133),
  DEVSTACK_PROMETHEUS_PORT: port(9090),
});

/** One node of the devstack's Kafka, with the variables that move its ports. */
export interface KafkaNodeSettings {
  /** KRaft node.id, 1..n. */
  id: number;
  port: number;
  controllerPort: number;
  portVariable: string;
  controllerPortVariable: string;
}

export interface DevstackSettings {
  dir: string;
  host: string;
  kafkaPort: number;
  kafkaControllerPort: number;
  /** The Kafka nodes to run (node 1 on kafkaPort / kafkaControllerPort). */
  kafkaNodes: KafkaNodeSettings[];
  pgPort: number;
  db: 'auto' | 'native' | 'pglite';
  timescaledbSource: string;
  pgConfig?: string;
  /** Where clients reach the devstack's brokers: every node, comma-separated. */
  kafkaBrokers: string;
  /** Where clients reach the devstack's database. */
  databaseUrl: string;
  jaeger: { uiPort: number; queryGrpcPort: number; otlpGrpcPort: number; otlpHttpPort: number; healthPort: number };
  prometheusPort: number;
  /** Jaeger's query API and UI. */
  jaegerUrl: string;
  /** What services set OTEL_EXPORTER_OTLP_ENDPOINT to (OTLP over HTTP). */
  otlpEndpoint: string;
  prometheusUrl: string;
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
  const kafkaNodes = nodeSettings(s);
  return {
    dir: devstackDir(env),
    host: s.DEVSTACK_HOST,
    kafkaPort: s.DEVSTACK_KAFKA_PORT,
    kafkaControllerPort: s.DEVSTACK_KAFKA_CONTROLLER_PORT,
    kafkaNodes,
    pgPort: s.DEVSTACK_PG_PORT,
    db: s.DEVSTACK_DB,
    timescaledbSource: s.DEVSTACK_TIMESCALEDB_SOURCE,
    pgConfig: s.DEVSTACK_PG_CONFIG,
    kafkaBrokers: kafkaNodes.map((n) => `${s.DEVSTACK_HOST}:${n.port}`).join(','),
    databaseUrl: `postgres://postgres@${s.DEVSTACK_HOST}:${s.DEVSTACK_PG_PORT}/postgres`,
    jaeger: {
      uiPort: s.DEVSTACK_JAEGER_UI_PORT,
      queryGrpcPort: s.DEVSTACK_JAEGER_QUERY_GRPC_PORT,
      otlpGrpcPort: s.DEVSTACK_JAEGER_OTLP_GRPC_PORT,
      otlpHttpPort: s.DEVSTACK_JAEGER_OTLP_HTTP_PORT,
      healthPort: s.DEVSTACK_JAEGER_HEALTH_PORT,
    },
    prometheusPort: s.DEVSTACK_PROMETHEUS_PORT,
    jaegerUrl: `http://${s.DEVSTACK_HOST}:${s.DEVSTACK_JAEGER_UI_PORT}`,
    otlpEndpoint: `http://${s.DEVSTACK_HOST}:${s.DEVSTACK_JAEGER_OTLP_HTTP_PORT}`,
    prometheusUrl: `http://${s.DEVSTACK_HOST}:${s.DEVSTACK_PROMETHEUS_PORT}`,
  };
}

type Parsed = z.output<typeof schema>;

/** Node i's ports: its own variables where set, else node 1's + (i - 1) * step. Two ports the same → error naming both. */
function nodeSettings(s: Parsed): KafkaNodeSettings[] {
  const nodes: KafkaNodeSettings[] = [];
  for (let id = 1; id <= s.DEVSTACK_KAFKA_BROKERS; id++) {
    const suffix = id === 1 ? '' : `_${id}`;
    const portVariable = `DEVSTACK_KAFKA_PORT${suffix}`;
    const controllerPortVariable = `DEVSTACK_KAFKA_CONTROLLER_PORT${suffix}`;
    const step = (id - 1) * s.DEVSTACK_KAFKA_PORT_STEP;
    const own = (name: string) => (s as Record<string, unknown>)[name] as number | undefined;
    nodes.push({
      id,
      port: own(portVariable) ?? s.DEVSTACK_KAFKA_PORT + step,
      controllerPort: own(controllerPortVariable) ?? s.DEVSTACK_KAFKA_CONTROLLER_PORT + step,
      portVariable,
      controllerPortVariable,
    });
  }
  const taken = new Map<number, string>([[s.DEVSTACK_PG_PORT, 'DEVSTACK_PG_PORT']]);
  for (const [port, variable] of nodes.flatMap(
    (n) =>
      [
        [n.port, n.portVariable],
        [n.controllerPort, n.controllerPortVariable],
      ] as const,
  )) {
    if (port > 65535) {
      throw new Error(
        `invalid devstack configuration:\n  ${variable} would be ${port} (node 1's port + DEVSTACK_KAFKA_PORT_STEP): set ${variable} or a smaller DEVSTACK_KAFKA_PORT_STEP`,
      );
    }
    const other = taken.get(port);
    if (other) {
      throw new Error(
        `invalid devstack configuration:\n  ${variable} and ${other} are both ${port}: give each its own port`,
      );
    }
    taken.set(port, variable);
  }
  return nodes;
}

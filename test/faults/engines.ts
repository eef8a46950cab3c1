/**
 * The fault suite's own engines, through the devstack code: a three-node Kafka (KRaft, topics at
 * replication 3, min.insync.replicas 2) and a native TimescaleDB, in a temporary DEVSTACK_DIR on
 * ports the kernel reports free, so the developer's devstack is never killed or restarted.
 * Plus the faults that act on them: kill -9 of a broker and its restart, an immediate restart of
 * the database, a database outage.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  devstackSettings,
  down,
  up,
  type DevstackSettings,
  stopKafkaNode,
  nativePaths,
  restartTimescaleImmediate,
  stopTimescale,
} from '@mockstagram/devstack';
import { freePorts } from '@mockstagram/testkit';

export type Log = (message: string) => void;

export class FaultEngines {
  private constructor(
    readonly settings: DevstackSettings,
    private readonly log: Log,
  ) {}

  static async start(log: Log): Promise<FaultEngines> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mockstagram-faults-'));
    // mkdtemp makes it 0700; the database server runs as its own account and writes its log here.
    fs.chmodSync(dir, 0o755);
    const [p1, c1, p2, c2, p3, c3, pg] = await freePorts(7);
    const settings = devstackSettings({
      ...process.env,
      DEVSTACK_DIR: dir,
      DEVSTACK_DB: 'native',
      DEVSTACK_KAFKA_BROKERS: '3',
      DEVSTACK_KAFKA_PORT: String(p1),
      DEVSTACK_KAFKA_CONTROLLER_PORT: String(c1),
      DEVSTACK_KAFKA_PORT_2: String(p2),
      DEVSTACK_KAFKA_CONTROLLER_PORT_2: String(c2),
      DEVSTACK_KAFKA_PORT_3: String(p3),
      DEVSTACK_KAFKA_CONTROLLER_PORT_3: String(c3),
      DEVSTACK_PG_PORT: String(pg),
    });
    const engines = new FaultEngines(settings, log);
    try {
      await up(settings, { kafka: true, timescale: true }, (m) => log(`[devstack] ${m}`));
    } catch (err) {
      await engines.close().catch(() => undefined);
      throw err;
    }
    return engines;
  }

  get kafkaBrokers(): string {
    return this.settings.kafkaBrokers;
  }

  get databaseUrl(): string {
    return this.settings.databaseUrl;
  }

  /** SIGKILL one Kafka node (no controlled shutdown). */
  async killBroker(nodeId: number): Promise<void> {
    const killed = await stopKafkaNode(this.settings.dir, nodeId, this.settings.kafkaNodes.length, 0, { kill: true });
    if (!killed) throw new Error(`Kafka node ${nodeId} was not running`);
  }

  /** Start the Kafka nodes that are not running; resolves when the cluster answers with all nodes. */
  async startBrokers(): Promise<void> {
    await up(this.settings, { kafka: true, timescale: false }, (m) => this.log(`[devstack] ${m}`));
  }

  /** `pg_ctl restart -m immediate`: resolves when the database accepts connections again. */
  restartDatabaseImmediately(): Promise<void> {
    return restartTimescaleImmediate(this.settings);
  }

  async stopDatabase(): Promise<void> {
    await stopTimescale(this.settings);
  }

  async startDatabase(): Promise<void> {
    await up(this.settings, { kafka: false, timescale: true }, (m) => this.log(`[devstack] ${m}`));
  }

  /** Stop everything and remove its files (the database's data too, wherever it lives). */
  async close(): Promise<void> {
    const data = nativePaths(this.settings.dir).data;
    await down(this.settings, (m) => this.log(`[devstack] ${m}`));
    if (!data.startsWith(`${this.settings.dir}/`)) fs.rmSync(path.dirname(data), { recursive: true, force: true });
    fs.rmSync(this.settings.dir, { recursive: true, force: true });
  }
}

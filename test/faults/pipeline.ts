/**
 * The pipeline under test: mock API, scheduler, two fetchers and a result-handler, each its own
 * process started as its `start` script starts it (`ServiceProcess` of @mockstagram/testkit), on the suite's
 * engines, with their own topics and schema. A service can be killed with SIGKILL and started
 * again with the same environment and port.
 */
import { InfluencerRegistry, REGISTRY_DEFAULTS } from '@mockstagram/scheduler';
import { createLogger, createPool, type Pool } from '@mockstagram/shared';
import { migrate } from '@mockstagram/shared/migrate';
import {
  createTopics,
  freshSchema,
  uniqueName,
  type TestSchema,
  freePort,
  pipelineEnvironments,
  ServiceProcess,
  type ServiceName,
} from '@mockstagram/testkit';

/** The processes of the pipeline: the fetcher runs twice. */
export type Member = 'mock-api' | 'scheduler' | 'fetcher-1' | 'fetcher-2' | 'result-handler';
export const MEMBERS: readonly Member[] = ['mock-api', 'result-handler', 'fetcher-1', 'fetcher-2', 'scheduler'];

const appOf = (m: Member): ServiceName => (m.startsWith('fetcher') ? 'fetcher' : (m as ServiceName));

export interface PipelineOptions {
  kafkaBrokers: string;
  databaseUrl: string;
  influencers: number;
  intervalSeconds: number;
}

export class Pipeline {
  readonly processes = new Map<Member, ServiceProcess>();
  private readonly ports = new Map<Member, number>();
  private readonly envs = new Map<Member, Record<string, string>>();

  private constructor(
    readonly options: PipelineOptions,
    readonly db: TestSchema,
    readonly pool: Pool,
    readonly topics: { jobs: string; results: string; dlq: string },
    readonly groups: { fetchers: string; handlers: string },
  ) {}

  static async create(options: PipelineOptions): Promise<Pipeline> {
    process.env.KAFKA_BROKERS = options.kafkaBrokers;
    process.env.DATABASE_URL = options.databaseUrl;
    const db = await freshSchema('faults');
    db.pool.on('error', () => undefined); // the database is restarted on purpose
    const pool = createPool({ connectionString: db.url, max: 4, logger: createLogger('fault-suite', 'silent') });
    await migrate({ pool, logger: createLogger('fault-suite', 'silent') });
    const created = await createTopics(['faults.jobs', 'faults.results', 'faults.dlq']);
    const [jobs, results, dlq] = created.names as [string, string, string];
    const groups = { fetchers: uniqueName('faults-fetchers'), handlers: uniqueName('faults-handlers') };
    const pipeline = new Pipeline(options, db, pool, { jobs, results, dlq }, groups);
    const { ports, envs } = await pipelineEnvironments({
      kafkaBrokers: options.kafkaBrokers,
      databaseUrl: db.url,
      topics: pipeline.topics,
      groups,
      common: { LOG_LEVEL: 'warn' },
      only: { scheduler: { SCHEDULER_TICK_CRON: '* * * * * *' } },
    });
    for (const m of MEMBERS) {
      const app = appOf(m);
      const port = m === 'fetcher-2' ? await freePort() : ports[app];
      pipeline.ports.set(m, port);
      pipeline.envs.set(m, m === 'fetcher-2' ? { ...envs.fetcher, FETCHER_HTTP_PORT: String(port) } : envs[app]);
    }
    return pipeline;
  }

  /** Start every process (the scheduler last), then register the influencers, spread over one interval. */
  async start(): Promise<void> {
    for (const m of MEMBERS) await this.startMember(m);
    const registry = new InfluencerRegistry({ ...REGISTRY_DEFAULTS, pool: this.pool });
    await registry.register(
      { range: { from: 1_000_000, to: 1_000_000 + this.options.influencers - 1 } },
      { intervalSeconds: this.options.intervalSeconds, spread: true },
    );
  }

  async startMember(m: Member): Promise<void> {
    const p = await ServiceProcess.start(appOf(m), this.ports.get(m)!, this.envs.get(m)!, 120_000);
    this.processes.set(m, p);
    // Like a supervisor (compose: restart: unless-stopped): a process that exits on its own is
    // recorded, with the end of its output, and started again.
    p.child.once('exit', (code, signal) => {
      if (this.stopping || this.killing.has(p)) return;
      this.exits.push({ member: m, code, signal, at: Date.now(), output: p.logs.split('\n').slice(-12).join('\n') });
      setTimeout(() => void this.startMember(m).catch(() => undefined), 1000);
    });
  }

  /** Processes that exited without being told to (each was started again). */
  readonly exits: { member: Member; code: number | null; signal: NodeJS.Signals | null; at: number; output: string }[] =
    [];
  private readonly killing = new Set<ServiceProcess>();
  private stopping = false;

  /** SIGKILL: no shutdown hook runs, nothing is flushed or committed. Resolves once it is gone. */
  async kill(m: Member): Promise<void> {
    const p = this.processes.get(m);
    if (!p || p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`${m} is not running`);
    this.killing.add(p);
    const gone = new Promise((resolve) => p.child.once('exit', resolve));
    p.child.kill('SIGKILL');
    await gone;
  }

  running(m: Member): boolean {
    const p = this.processes.get(m);
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  }

  url(m: Member): string {
    return `http://127.0.0.1:${this.ports.get(m)!}`;
  }

  /** Jobs the scheduler emits per second at this size and interval. */
  get jobsPerSecond(): number {
    return this.options.influencers / this.options.intervalSeconds;
  }

  /** SIGTERM everything; returns each exit code. */
  async stop(): Promise<Record<string, number | null>> {
    this.stopping = true;
    const codes: Record<string, number | null> = {};
    for (const m of [...MEMBERS].reverse()) {
      const p = this.processes.get(m);
      if (p) codes[m] = await p.stop();
    }
    return codes;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
    await this.db.drop().catch(() => undefined);
  }
}

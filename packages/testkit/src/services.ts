/**
 * The services run as the image runs them (`ServiceProcess`, the built `dist/main.js`) or from
 * source (`startMain`, tsx), and the environments that wire the four of them into one pipeline.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
// Type only: the testkit does not load the build script (nor esbuild) at run time.
import type { APPS } from '../../../scripts/build';
import { freePort } from './ports';

/** The four services, each run as its own process exactly as `yarn dev` runs it. */
export type ServiceName = (typeof APPS)[number];

const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** An app's `start` script, split into words (e.g. `node --max-old-space-size=128 dist/main.js`). */
export function startCommand(name: ServiceName): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'apps', name, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  const start = pkg.scripts?.start;
  if (!start) throw new Error(`apps/${name}/package.json has no start script`);
  return start.split(/\s+/);
}

export class ServiceProcess {
  private output = '';
  private exit: Promise<number | null>;

  private constructor(
    readonly name: ServiceName,
    readonly child: ChildProcess,
    readonly httpPort: number,
  ) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-200_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /**
   * Start the app as its `start` script does (`node <flags> dist/main.js`, the built app the image
   * runs too; jest's global setup builds it), with `env`, and wait until its /readyz answers 200.
   */
  static async start(
    name: ServiceName,
    httpPort: number,
    env: NodeJS.ProcessEnv,
    readyTimeoutMs = 60_000,
  ): Promise<ServiceProcess> {
    const [command, ...args] = startCommand(name);
    if (command !== 'node') throw new Error(`apps/${name}'s start script should run node, not ${command}`);
    const child = spawn(process.execPath, ['--enable-source-maps', ...args], {
      cwd: path.join(repoRoot, 'apps', name),
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(name, child, httpPort);
    await service.waitReady(readyTimeoutMs);
    return service;
  }

  get logs(): string {
    return this.output;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.child.exitCode !== null) {
        throw new Error(`${this.name} exited with ${this.child.exitCode} before it was ready:\n${this.output}`);
      }
      try {
        const res = await fetch(`http://127.0.0.1:${this.httpPort}/readyz`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.output}`);
      await sleep(200);
    }
  }

  /** The service's Prometheus metrics text. */
  async metrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`);
    return res.text();
  }

  /** SIGTERM and wait for the exit code (SIGKILL after timeoutMs). */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }
}

/** A service's `src/main.ts` run from source in its own node process (tsx loader), as its `dev` script runs it. */
export interface MainProcess {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  output: () => string;
  /** Resolves with its exit code. */
  exited: Promise<number | null>;
}

export function startMain(app: ServiceName, env: Record<string, string>): MainProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: path.join(repoRoot, 'apps', app),
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Where one run of the pipeline lives: its engines, topics and consumer groups. */
export interface PipelineWiring {
  kafkaBrokers: string;
  databaseUrl: string;
  topics: { jobs: string; results: string; dlq: string };
  groups: { fetchers: string; handlers: string };
  /** Variables every service gets on top (e.g. LOG_LEVEL, tracing off). */
  common?: Record<string, string>;
  /** Variables for one service only (e.g. the scheduler's tick). */
  only?: Partial<Record<ServiceName, Record<string, string>>>;
}

/**
 * Free ports and the environment of each of the four services so they form one pipeline:
 * the same engines and topics, the fetcher pointed at this mock API, every HTTP port free.
 */
export async function pipelineEnvironments(
  wiring: PipelineWiring,
): Promise<{ ports: Record<ServiceName, number>; envs: Record<ServiceName, Record<string, string>> }> {
  const ports: Record<ServiceName, number> = {
    'mock-api': await freePort(),
    scheduler: await freePort(),
    fetcher: await freePort(),
    'result-handler': await freePort(),
    api: await freePort(),
  };
  const common = {
    KAFKA_BROKERS: wiring.kafkaBrokers,
    DATABASE_URL: wiring.databaseUrl,
    TOPIC_FETCH_JOBS: wiring.topics.jobs,
    TOPIC_FETCH_RESULTS: wiring.topics.results,
    TOPIC_DLQ: wiring.topics.dlq,
    ...wiring.common,
  };
  const only = wiring.only ?? {};
  const envs: Record<ServiceName, Record<string, string>> = {
    'mock-api': { ...common, MOCK_API_PORT: String(ports['mock-api']), ...only['mock-api'] },
    scheduler: { ...common, SCHEDULER_HTTP_PORT: String(ports.scheduler), ...only.scheduler },
    fetcher: {
      ...common,
      FETCHER_HTTP_PORT: String(ports.fetcher),
      FETCHER_GROUP_ID: wiring.groups.fetchers,
      MOCK_API_URL: `http://127.0.0.1:${ports['mock-api']}`,
      ...only.fetcher,
    },
    'result-handler': {
      ...common,
      RESULT_HANDLER_HTTP_PORT: String(ports['result-handler']),
      RESULT_HANDLER_GROUP_ID: wiring.groups.handlers,
      ...only['result-handler'],
    },
    api: { DATABASE_URL: wiring.databaseUrl, ...wiring.common, API_HTTP_PORT: String(ports.api), ...only.api },
  };
  return { ports, envs };
}

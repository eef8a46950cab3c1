import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { answers200, programPid, startProgram, stopProgram } from './background';
import { PROMETHEUS, ensureGoTool, toolDir, type Log } from './go-build';
import { repoRoot } from './paths';
import { SCRAPED_SERVICES, localTargets, type ScrapeConfig } from './scrape-targets';

/**
 * Prometheus built from source (go-build.ts), scraping the services on this machine with the
 * project's own settings and alert rules from volumes/prometheus. Files under <dataDir>/prometheus:
 *
 *   prometheus.yml       written on every start: compose's global settings and rule files,
 *                        the devstack's scrape configs (scrape-targets.ts)
 *   targets/<job>.json   where each service listens (file-based discovery: rewriting a file
 *                        moves the target without a restart)
 *   data/                the TSDB
 *   prometheus.log       its log
 *   prometheus.pid       pid of the running Prometheus
 */
export const composeConfigFile = path.join(repoRoot, 'volumes', 'prometheus', 'prometheus.yml');

export function prometheusPaths(dataDir: string) {
  const root = path.join(dataDir, 'prometheus');
  return {
    root,
    config: path.join(root, 'prometheus.yml'),
    targetsDir: path.join(root, 'targets'),
    data: path.join(root, 'data'),
    logFile: path.join(root, 'prometheus.log'),
    pidFile: path.join(root, 'prometheus.pid'),
  };
}

export function prometheusBinary(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(toolDir(PROMETHEUS, env), 'prometheus');
}

/** promtool of the same build, built first if needed. */
export async function promtool(log: Log): Promise<string> {
  return (await ensureGoTool(PROMETHEUS, log)).promtool;
}

interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs: ScrapeConfig[];
}

/** The devstack's configuration: compose's, with rule files made absolute and the scrape configs replaced. */
export function devstackConfig(opts: { host: string; port: number; targetsDir: string }): PrometheusConfig {
  const compose = parseYaml(fs.readFileSync(composeConfigFile, 'utf8')) as PrometheusConfig;
  const rulesDir = path.dirname(composeConfigFile);
  return {
    global: compose.global,
    rule_files: (compose.rule_files ?? []).map((f) => path.resolve(rulesDir, f)),
    scrape_configs: [
      { job_name: 'prometheus', static_configs: [{ targets: [`${opts.host}:${opts.port}`] }] },
      ...SCRAPED_SERVICES.map((s) => ({
        job_name: s.job,
        file_sd_configs: [{ files: [path.join(opts.targetsDir, `${s.job}.json`)], refresh_interval: '5s' }],
      })),
    ],
  };
}

/**
 * Point each job at host:port targets (a job left out keeps its file). Prometheus notices
 * within seconds; files are replaced whole, never seen half-written.
 */
export function writeScrapeTargets(dataDir: string, targets: Record<string, string[]>): void {
  const { targetsDir } = prometheusPaths(dataDir);
  fs.mkdirSync(targetsDir, { recursive: true });
  for (const [job, list] of Object.entries(targets)) {
    if (!SCRAPED_SERVICES.some((s) => s.job === job))
      throw new Error(`no Prometheus job "${job}"; jobs: ${SCRAPED_SERVICES.map((s) => s.job).join(', ')}`);
    const file = path.join(targetsDir, `${job}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify([{ targets: list }], null, 2)}\n`);
    fs.renameSync(tmp, file);
  }
}

export interface StartPrometheusOptions {
  dataDir: string;
  host: string;
  port: number;
  log: Log;
  /** Targets per job; default: every service on host at its port variable (or default) from the environment. */
  targets?: Record<string, string[]>;
}

/**
 * Start Prometheus (or, when it runs already, rewrite its configuration and reload it) and
 * resolve once it is ready.
 */
export async function startPrometheus(opts: StartPrometheusOptions): Promise<{ pid: number; alreadyRunning: boolean }> {
  const { dataDir, host, port, log } = opts;
  const paths = prometheusPaths(dataDir);
  const binary = prometheusBinary();
  const url = `http://${host}:${port}`;
  const running = programPid(paths.pidFile, binary) !== undefined;
  if (!running) await ensureGoTool(PROMETHEUS, log);

  fs.mkdirSync(paths.data, { recursive: true });
  // Prometheus reads YAML; JSON is YAML.
  fs.writeFileSync(
    paths.config,
    `${JSON.stringify(devstackConfig({ host, port, targetsDir: paths.targetsDir }), null, 2)}\n`,
  );
  writeScrapeTargets(dataDir, opts.targets ?? localTargets(host));

  if (running) {
    const res = await fetch(`${url}/-/reload`, { method: 'POST' });
    if (!res.ok)
      throw new Error(`Prometheus at ${url} refused the new configuration (${res.status}): ${await res.text()}`);
  } else {
    log(`prometheus: starting on ${url} (config ${paths.config}; log: ${paths.logFile})`);
  }
  return startProgram({
    name: `Prometheus on ${host}:${port}`,
    binary,
    args: [
      `--config.file=${paths.config}`,
      `--storage.tsdb.path=${paths.data}`,
      '--storage.tsdb.retention.time=7d',
      `--web.listen-address=${host}:${port}`,
      '--web.enable-lifecycle',
    ],
    pidFile: paths.pidFile,
    logFile: paths.logFile,
    ready: () => answers200(`${url}/-/ready`),
  });
}

export function stopPrometheus(dataDir: string): Promise<boolean> {
  return stopProgram(prometheusPaths(dataDir).pidFile, prometheusBinary());
}

export function prometheusStatus(dataDir: string): { running: boolean; pid?: number } {
  const pid = programPid(prometheusPaths(dataDir).pidFile, prometheusBinary());
  return pid === undefined ? { running: false } : { running: true, pid };
}

export interface AlertState {
  name: string;
  state: 'pending' | 'firing';
  labels: Record<string, string>;
  summary?: string;
  activeAt: string;
}

/** The alerts Prometheus at url holds now (pending and firing), from its HTTP API. */
export async function currentAlerts(url: string): Promise<AlertState[]> {
  let res: Response;
  try {
    res = await fetch(`${url}/api/v1/alerts`, { signal: AbortSignal.timeout(5_000) });
  } catch (err) {
    throw new Error(
      `Prometheus at ${url} does not answer (${(err as Error).message}); start it with \`yarn devstack up --observability\``,
      { cause: err },
    );
  }
  const body = (await res.json()) as {
    data: {
      alerts: Array<{
        labels: Record<string, string>;
        annotations: Record<string, string>;
        state: string;
        activeAt: string;
      }>;
    };
  };
  return body.data.alerts
    .filter((a): a is typeof a & { state: AlertState['state'] } => a.state === 'pending' || a.state === 'firing')
    .map(({ labels: { alertname, ...labels }, annotations, state, activeAt }) => ({
      name: alertname,
      state,
      labels,
      summary: annotations.summary,
      activeAt,
    }))
    .sort((a, b) => Number(b.state === 'firing') - Number(a.state === 'firing') || a.name.localeCompare(b.name));
}

/** One line per alert: state, name, since when, its summary; README.md "Alerts" says what to do. */
export function formatAlerts(alerts: AlertState[]): string {
  if (alerts.length === 0) return 'no alerts firing or pending';
  return alerts
    .map(
      (a) =>
        `${a.state.toUpperCase().padEnd(8)} ${a.name}  since ${a.activeAt}  ${a.summary ?? JSON.stringify(a.labels)}`,
    )
    .join('\n');
}

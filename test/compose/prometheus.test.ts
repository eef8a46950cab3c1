/**
 * volumes/prometheus/prometheus.yml scrapes every app on the port that app's server listens on in
 * docker-compose.yml, and finds every replica of the scalable ones through Docker's DNS.
 * `promtool` of the Prometheus release compose runs (built from source by the devstack) checks the file too.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { promtool } from '@mockstagram/devstack';
import { parse as parseYaml } from 'yaml';
import { APPS, PORT_VARIABLES, ROOT, loadCompose, publishedPorts, read } from './support';

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  static_configs?: Array<{ targets: string[] }>;
  dns_sd_configs?: Array<{ names: string[]; type?: string; port?: number }>;
}
interface PrometheusConfig {
  global?: { scrape_interval?: string; scrape_timeout?: string };
  scrape_configs: ScrapeConfig[];
}

const config = parseYaml(read('volumes/prometheus/prometheus.yml')) as PrometheusConfig;
const compose = loadCompose();
const job = (name: string): ScrapeConfig | undefined => config.scrape_configs.find((j) => j.job_name === name);
/** host:port pairs a job scrapes (DNS SD: the name it resolves, with its port). */
const targetsOf = (j: ScrapeConfig): string[] => [
  ...(j.static_configs ?? []).flatMap((s) => s.targets),
  ...(j.dns_sd_configs ?? []).flatMap((d) => d.names.map((n) => `${n}:${d.port}`)),
];
const SCALABLE = ['fetcher', 'result-handler'];

test('scrapes every 5 s', () => {
  expect(config.global?.scrape_interval).toBe('5s');
});

test.each(APPS)('%s: a job that scrapes the service on its metrics port', (app) => {
  const j = job(app);
  expect(j).toBeDefined();
  expect(j!.metrics_path ?? '/metrics').toBe('/metrics');
  const port = String(compose.services[app].environment![PORT_VARIABLES[app]]);
  expect(targetsOf(j!)).toEqual([`${app}:${port}`]);
});

test.each(SCALABLE)('%s: found through DNS (an A record per replica), so scaled replicas are all scraped', (app) => {
  expect(job(app)!.dns_sd_configs).toEqual([expect.objectContaining({ names: [app], type: 'A' })]);
  expect(job(app)!.static_configs).toBeUndefined();
});

test('every target is a compose service (or Prometheus itself) on a port it serves', () => {
  for (const j of config.scrape_configs) {
    for (const target of targetsOf(j)) {
      const [host, port] = target.split(':');
      if (host === 'localhost') {
        expect([j.job_name, publishedPorts(compose.services.prometheus).map((p) => p.target)]).toEqual([
          j.job_name,
          [Number(port)],
        ]);
        continue;
      }
      const service = compose.services[host];
      expect([j.job_name, host, service !== undefined]).toEqual([j.job_name, host, true]);
      const env = Object.values(service.environment ?? {}).map(String);
      expect([j.job_name, target, env.includes(port)]).toEqual([j.job_name, target, true]);
    }
  }
});

test('the config is mounted where the prometheus service reads it', () => {
  const service = compose.services.prometheus;
  expect(service.volumes).toContain('./volumes/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
  expect(([] as string[]).concat(service.command ?? [])).toContain('--config.file=/etc/prometheus/prometheus.yml');
});

test(
  'promtool check config accepts it, with its rule files',
  async () => {
    const bin = await promtool((message) => console.log(`[devstack] ${message}`));
    const { stdout } = await promisify(execFile)(bin, [
      'check',
      'config',
      path.join(ROOT, 'volumes/prometheus/prometheus.yml'),
    ]);
    expect(stdout).toMatch(/SUCCESS: .*prometheus\.yml is valid prometheus config file syntax/);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  },
  30 * 60_000,
);

/**
 * One list of scraped services (packages/devstack/src/scrape-targets.ts) behind both Prometheus
 * configurations: compose's volumes/prometheus/prometheus.yml and the devstack's. Pure: reads
 * files and schemas, starts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SCRAPED_SERVICES, composeScrapeConfigs, localTargets, devstackConfig } from '@mockstagram/devstack';
import { parse as parseYaml } from 'yaml';
import { APPS, APP_SCHEMAS, PORT_VARIABLES, loadCompose, read, schemaDefault } from '../compose/support';

interface PrometheusFile {
  global: Record<string, unknown>;
  rule_files: string[];
  scrape_configs: Array<{ job_name: string }>;
}
const composeConfig = parseYaml(read('volumes/prometheus/prometheus.yml')) as PrometheusFile;

test('the list is the apps, each with the port variable its server reads and that variable’s schema default', () => {
  expect(SCRAPED_SERVICES.map((s) => s.job)).toEqual([...APPS]);
  for (const s of SCRAPED_SERVICES) {
    const app = s.job as (typeof APPS)[number];
    expect({ job: s.job, variable: s.portVariable, port: s.defaultPort }).toEqual({
      job: s.job,
      variable: PORT_VARIABLES[app],
      port: schemaDefault(APP_SCHEMAS[app], PORT_VARIABLES[app]),
    });
  }
});

test('compose runs each service on its listed port, and scales exactly the scalable ones', () => {
  const compose = loadCompose();
  for (const s of SCRAPED_SERVICES) {
    const service = compose.services[s.job];
    expect({ job: s.job, port: Number(service.environment![s.portVariable]) }).toEqual({
      job: s.job,
      port: s.defaultPort,
    });
    // a scalable service publishes no host port (replicas would clash)
    expect({ job: s.job, publishes: (service.ports ?? []).length > 0 }).toEqual({ job: s.job, publishes: !s.scalable });
  }
});

test('volumes/prometheus/prometheus.yml scrapes exactly what the list generates', () => {
  expect(composeConfig.scrape_configs).toEqual(composeScrapeConfigs());
});

test('the devstack’s configuration: compose’s global settings and rules, the same jobs, targets from files', () => {
  const targetsDir = path.join(os.tmpdir(), 'targets');
  const config = devstackConfig({ host: '127.0.0.1', port: 19090, targetsDir });
  expect(config.global).toEqual(composeConfig.global);
  expect(config.rule_files).toEqual(
    composeConfig.rule_files.map((f) =>
      path.resolve(path.dirname(path.resolve(__dirname, '../../volumes/prometheus/prometheus.yml')), f),
    ),
  );
  for (const file of config.rule_files!) expect(fs.existsSync(file)).toBe(true);
  expect(config.scrape_configs.map((j) => j.job_name)).toEqual(composeConfig.scrape_configs.map((j) => j.job_name));
  expect(config.scrape_configs[0]).toEqual({
    job_name: 'prometheus',
    static_configs: [{ targets: ['127.0.0.1:19090'] }],
  });
  for (const s of SCRAPED_SERVICES) {
    expect(config.scrape_configs.find((j) => j.job_name === s.job)?.file_sd_configs).toEqual([
      { files: [path.join(targetsDir, `${s.job}.json`)], refresh_interval: '5s' },
    ]);
  }
});

test('local targets follow the port variables, defaulting to the listed ports', () => {
  expect(localTargets('127.0.0.1', {})).toEqual(
    Object.fromEntries(SCRAPED_SERVICES.map((s) => [s.job, [`127.0.0.1:${s.defaultPort}`]])),
  );
  expect(localTargets('127.0.0.1', { FETCHER_HTTP_PORT: '18082' }).fetcher).toEqual(['127.0.0.1:18082']);
});

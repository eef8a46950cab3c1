/**
 * compose's Jaeger (jaegertracing/jaeger, run without a config: its embedded all-in-one
 * configuration) against that configuration as its source has it, read from the Go module the
 * devstack builds Jaeger from (v1.74.0 = 2.11.0): the healthcheck must ask the collector's health
 * check extension, and the devstack's configuration must keep the same pipeline and ports.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { JAEGER, devstackSettings, moduleSource, startJaeger, jaegerConfig } from '@mockstagram/devstack';
import { loadCompose, publishedPorts } from './support';

interface CollectorConfig {
  service: {
    extensions: string[];
    pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
  };
  extensions: Record<string, { http?: { endpoint?: string }; use_v2?: boolean } | null>;
  receivers: Record<string, { protocols?: Record<string, { endpoint?: string }> }>;
}

const compose = loadCompose();
const jaeger = compose.services.jaeger;
let allInOne: CollectorConfig;
const portOf = (endpoint: string | undefined) => Number(/:(\d+)$/.exec(endpoint ?? '')?.[1]);

beforeAll(async () => {
  const source = await moduleSource(JAEGER);
  allInOne = parseYaml(
    fs.readFileSync(path.join(source, 'cmd', 'jaeger', 'internal', 'all-in-one.yaml'), 'utf8'),
  ) as CollectorConfig;
}, 300_000);

test('compose runs the Jaeger release the devstack builds', () => {
  expect(jaeger.image).toBe('jaegertracing/jaeger:2.11.0');
  expect(JAEGER.version).toBe('v1.74.0');
});

test('the healthcheck asks the all-in-one’s healthcheckv2 extension on its port, at /status', () => {
  expect(allInOne.service.extensions).toContain('healthcheckv2');
  const health = allInOne.extensions.healthcheckv2!;
  expect(health.use_v2).toBe(true);
  const url = ([] as string[]).concat(jaeger.healthcheck!.test!).find((a) => a.startsWith('http://'))!;
  expect(new URL(url).port).toBe(String(portOf(health.http?.endpoint)));
  expect(new URL(url).pathname).toBe('/status');
});

test('compose publishes the UI and both OTLP receivers at the all-in-one’s ports', () => {
  const otlp = allInOne.receivers.otlp.protocols!;
  const published = publishedPorts(jaeger).map((p) => p.target);
  expect(published).toEqual(expect.arrayContaining([portOf(otlp.grpc.endpoint), portOf(otlp.http.endpoint), 16686]));
});

test('the devstack’s configuration is the all-in-one pipeline with the same default ports', () => {
  const s = devstackSettings({});
  const mine = parseYaml(jaegerConfig(s.jaeger)) as CollectorConfig;
  const theirs = allInOne.service.pipelines.traces;
  const ours = mine.service.pipelines.traces;
  expect(theirs.receivers).toEqual(expect.arrayContaining(ours.receivers));
  expect(ours).toEqual({ ...theirs, receivers: ['otlp'] });
  const otlp = (c: CollectorConfig, p: string) => portOf(c.receivers.otlp.protocols![p].endpoint);
  expect([otlp(mine, 'grpc'), otlp(mine, 'http')]).toEqual([otlp(allInOne, 'grpc'), otlp(allInOne, 'http')]);
  expect(portOf(mine.extensions.healthcheckv2!.http!.endpoint)).toBe(
    portOf(allInOne.extensions.healthcheckv2!.http!.endpoint),
  );
});

test(
  'a running Jaeger answers its health check at /status',
  async () => {
    const s = devstackSettings();
    await startJaeger({ dataDir: s.dir, host: s.host, ports: s.jaeger, log: (m) => console.log(`[devstack] ${m}`) });
    const res = await fetch(`http://${s.host}:${s.jaeger.healthPort}/status`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ healthy: true, status: 'StatusOK' });
  },
  30 * 60_000,
);

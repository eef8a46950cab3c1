/**
 * Every variable a service reads (the keys of its config schema) is set in that service's compose
 * `environment` and listed in .env.example. Settings are passed through as `${VAR:-default}` with
 * .env.example's default (compose.test.ts checks the defaults); the stack's wiring (addresses,
 * ports, directories inside the image) is fixed, and points where the stack has that thing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  APP_SCHEMAS,
  APPS,
  loadCompose,
  loadComposeRaw,
  ONE_SHOT_VARIABLES,
  PORT_VARIABLES,
  publishedPorts,
  read,
  readEnvExample,
  ROOT,
  schemaDefault,
} from '../../compose/support';

const raw = loadComposeRaw();
const compose = loadCompose();
const example = readEnvExample();

const READERS: Array<[service: string, variables: string[]]> = [
  ...APPS.map((app): [string, string[]] => [app, Object.keys(APP_SCHEMAS[app].shape)]),
  ['migrate', ONE_SHOT_VARIABLES.migrate],
  ['register', ONE_SHOT_VARIABLES.register],
];

/** Variables whose compose value is fixed: where things are inside the stack. */
const WIRING: Record<string, (service: string) => string> = {
  KAFKA_BROKERS: () => 'kafka:29092',
  DATABASE_URL: () => 'postgres://postgres:${POSTGRES_PASSWORD:-mockstagram}@timescaledb:5432/postgres',
  MOCK_API_URL: () => 'http://mock-api:3001',
  MIGRATIONS_DIR: () => '/app/migrations',
  MOCK_API_PORT: () => '3001',
  SCHEDULER_HTTP_PORT: () => '8081',
  FETCHER_HTTP_PORT: () => '8082',
  RESULT_HANDLER_HTTP_PORT: () => '8083',
  API_HTTP_PORT: () => '8084',
  OTEL_EXPORTER_OTLP_ENDPOINT: () => 'http://jaeger:4318',
  OTEL_SERVICE_NAME: (service) => service,
  DEPLOYMENT_ENVIRONMENT: () => 'compose',
};

describe.each(READERS)('%s', (service, variables) => {
  const environment = raw.services[service]?.environment ?? {};

  test('every variable it reads is in its compose environment', () => {
    expect(variables.filter((v) => !(v in environment))).toEqual([]);
  });

  test('every variable it reads is in .env.example', () => {
    expect(variables.filter((v) => !(v in example))).toEqual([]);
  });

  test('each is its own setting (${VAR:-default}) or fixed wiring', () => {
    for (const [name, value] of Object.entries(environment)) {
      const text = String(value);
      if (name in WIRING) expect([name, text]).toEqual([name, WIRING[name]!(service)]);
      else expect([name, text]).toEqual([name, expect.stringMatching(new RegExp(`^\\$\\{${name}:-[^}]*\\}$`))]);
    }
  });
});

describe('wiring points where the stack has it', () => {
  test('KAFKA_BROKERS is an advertised listener of the kafka service, and the host one is localhost:9092', () => {
    const advertised = String(compose.services.kafka!.environment!.KAFKA_ADVERTISED_LISTENERS).split(',');
    expect(advertised).toContainEqual(expect.stringMatching(/:\/\/kafka:29092$/));
    expect(advertised).toContainEqual(expect.stringMatching(/:\/\/localhost:9092$/));
    expect(String(compose.services.kafka!.environment!.KAFKA_LISTENERS)).toMatch(/:\/\/:29092\b/);
    expect(String(compose.services.kafka!.environment!.KAFKA_AUTO_CREATE_TOPICS_ENABLE)).toBe('false');
  });

  test("DATABASE_URL's password is the one timescaledb is initialised with, and Grafana gets it too", () => {
    for (const env of [{}, { POSTGRES_PASSWORD: 's3cret' }] as Array<Record<string, string>>) {
      const c = loadCompose(env);
      const password = String(c.services.timescaledb!.environment!.POSTGRES_PASSWORD);
      expect(new URL(String(c.services.scheduler!.environment!.DATABASE_URL)).password).toBe(password);
      expect(String(c.services.grafana!.environment!.POSTGRES_PASSWORD)).toBe(password);
    }
  });

  test('MOCK_API_URL is the mock-api service on its port', () => {
    const url = new URL(String(compose.services.fetcher!.environment!.MOCK_API_URL));
    expect(url.hostname).toBe('mock-api');
    expect(url.port).toBe(String(compose.services['mock-api']!.environment!.MOCK_API_PORT));
  });

  test('OTLP goes to jaeger over HTTP (4318), which jaeger publishes', () => {
    const endpoint = new URL(String(compose.services.fetcher!.environment!.OTEL_EXPORTER_OTLP_ENDPOINT));
    expect(endpoint.hostname).toBe('jaeger');
    expect(publishedPorts(compose.services.jaeger!).map((p) => p.target)).toContain(Number(endpoint.port));
  });

  test.each(APPS)("%s listens on its config's default port (the one README, Prometheus and the healthcheck use)", (app) => {
    const variable = PORT_VARIABLES[app];
    expect(Number(compose.services[app]!.environment![variable])).toBe(schemaDefault(APP_SCHEMAS[app], variable));
  });
});

test('the register one-shot registers DEV_INFLUENCERS ids from MOCK_API_ID_MIN, like `yarn dev`', () => {
  const env = compose.services.register!.environment!;
  expect(env.DEV_INFLUENCERS).toBe(example.DEV_INFLUENCERS);
  expect(env.MOCK_API_ID_MIN).toBe(example.MOCK_API_ID_MIN);
  const script = ([] as string[]).concat(compose.services.register!.command ?? []).join(' ');
  expect(script).toContain('${DEV_INFLUENCERS}');
  expect(script).toContain('${MOCK_API_ID_MIN}');
});

describe('grafana (provisioning files in volumes/grafana are mounted where they say)', () => {
  const grafana = compose.services.grafana!;
  const provisioningFiles = (dir: string): string[] =>
    fs.existsSync(path.join(ROOT, dir))
      ? fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f)).map((f) => `${dir}/${f}`)
      : [];
  const files = provisioningFiles('volumes/grafana/provisioning');

  test('provisioning and dashboards are mounted from the repository', () => {
    expect(grafana.volumes).toContain('./volumes/grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(grafana.volumes).toContain('./volumes/grafana/dashboards:/var/lib/grafana/dashboards:ro');
  });

  test('every ${VAR} a provisioning file uses is in the grafana service environment', () => {
    const withoutComments = (text: string) => text.replace(/(^|\s)#.*$/gm, '');
    const used = files.flatMap((f) => [...withoutComments(read(f)).matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((m) => m[1]!));
    expect(used.filter((v) => !(v in (grafana.environment ?? {})))).toEqual([]);
  });

  test('dashboard providers read the directory the dashboards are mounted at', () => {
    const paths = files.flatMap((f) => {
      const doc = parseYaml(read(f)) as { providers?: Array<{ options?: { path?: string } }> } | null;
      return (doc?.providers ?? []).map((p) => p.options?.path);
    });
    for (const p of paths) expect(p).toBe('/var/lib/grafana/dashboards');
  });

  test('datasources point at the compose services, on the ports they serve inside the stack', () => {
    const urls = files.flatMap((f) => {
      const doc = parseYaml(read(f)) as { datasources?: Array<{ url?: string }> } | null;
      return (doc?.datasources ?? []).map((d) => d.url).filter((u): u is string => !!u);
    });
    for (const url of urls) {
      const { hostname, port } = new URL(url.includes('://') ? url : `tcp://${url}`);
      expect(compose.services).toHaveProperty([hostname]);
      const ports = [
        ...publishedPorts(compose.services[hostname]!).map((p) => p.target),
        ...(compose.services[hostname]!.expose ?? []).map(Number),
      ];
      expect([url, ports]).toEqual([url, expect.arrayContaining([Number(port)])]);
    }
  });
});

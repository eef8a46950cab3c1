/**
 * Every variable a service reads (the keys of its config schema) is set in that service's compose
 * `environment` and listed in .env.example. Settings are passed through as `${VAR:-default}` with
 * .env.example's default (compose.test.ts checks the defaults); the stack's wiring (addresses,
 * ports, directories inside the image) is fixed, and points where the stack has that thing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DATABASE_ROLE_PASSWORD_VARIABLES, DATABASE_ROLES, type DatabaseRole } from '@mockstagram/shared';
import { parse as parseYaml } from 'yaml';
import {
  APP_SCHEMAS,
  APPS,
  dependsOn,
  type ComposeFile,
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

const HOST_VARIABLES: Record<string, string> = {
  'mock-api': 'MOCK_API_HOST',
  scheduler: 'SCHEDULER_HTTP_HOST',
  fetcher: 'FETCHER_HTTP_HOST',
  'result-handler': 'RESULT_HANDLER_HTTP_HOST',
  api: 'API_HTTP_HOST',
};

/** `service` waits for `other`, directly or through what it waits for. */
function dependsOnService(c: ComposeFile, service: string, other: string, seen = new Set<string>()): boolean {
  if (seen.has(service)) return false;
  seen.add(service);
  const direct = Object.keys(dependsOn(c.services[service]));
  return direct.includes(other) || direct.some((d) => dependsOnService(c, d, other, seen));
}

const raw = loadComposeRaw();
const compose = loadCompose();
const example = readEnvExample();

/** The database role each service that uses the database logs in as. */
const SERVICE_ROLES: Record<string, DatabaseRole> = {
  migrate: DATABASE_ROLES.migrator,
  register: DATABASE_ROLES.scheduler,
  scheduler: DATABASE_ROLES.scheduler,
  'result-handler': DATABASE_ROLES.resultHandler,
  api: DATABASE_ROLES.reader,
};

const READERS: Array<[service: string, variables: string[]]> = [
  ...APPS.map((app): [string, string[]] => [app, Object.keys(APP_SCHEMAS[app].shape)]),
  ['migrate', ONE_SHOT_VARIABLES.migrate],
  ['register', ONE_SHOT_VARIABLES.register],
];

/** Variables whose compose value is fixed: where things are inside the stack. */
const WIRING: Record<string, (service: string) => string> = {
  KAFKA_BROKERS: () => 'kafka:29092',
  // each service logs in as its own role (migrations/011_roles.sql), its password from .env
  DATABASE_URL: (service) => {
    const role = SERVICE_ROLES[service];
    const variable = DATABASE_ROLE_PASSWORD_VARIABLES[role];
    return `postgres://${role}:\${${variable}:?set ${variable} in .env (see .env.example)}@timescaledb:5432/postgres`;
  },
  // inside its container a service listens on every interface, for its peers on the compose
  // network; the host reaches only what is published, on 127.0.0.1
  MOCK_API_HOST: () => '0.0.0.0',
  SCHEDULER_HTTP_HOST: () => '0.0.0.0',
  FETCHER_HTTP_HOST: () => '0.0.0.0',
  RESULT_HANDLER_HTTP_HOST: () => '0.0.0.0',
  API_HTTP_HOST: () => '0.0.0.0',
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
      if (name in WIRING) expect([name, text]).toEqual([name, WIRING[name](service)]);
      else expect([name, text]).toEqual([name, expect.stringMatching(new RegExp(`^\\$\\{${name}:-[^}]*\\}$`))]);
    }
  });
});

describe('wiring points where the stack has it', () => {
  test('KAFKA_BROKERS is an advertised listener of the kafka service, and the host one is localhost:9092', () => {
    const advertised = String(compose.services.kafka.environment!.KAFKA_ADVERTISED_LISTENERS).split(',');
    expect(advertised).toContainEqual(expect.stringMatching(/:\/\/kafka:29092$/));
    expect(advertised).toContainEqual(expect.stringMatching(/:\/\/localhost:9092$/));
    expect(String(compose.services.kafka.environment!.KAFKA_LISTENERS)).toMatch(/:\/\/:29092\b/);
    expect(String(compose.services.kafka.environment!.KAFKA_AUTO_CREATE_TOPICS_ENABLE)).toBe('false');
  });

  test.each(Object.entries(SERVICE_ROLES))(
    '%s logs in as %s with the password .env gives that role, which db-roles sets',
    (service, role) => {
      const variable = DATABASE_ROLE_PASSWORD_VARIABLES[role];
      const c = loadCompose({ [variable]: 's3cret-for-this-role' });
      const url = new URL(String(c.services[service].environment!.DATABASE_URL));
      expect([url.username, url.password, url.hostname, url.port, url.pathname]).toEqual([
        role,
        's3cret-for-this-role',
        'timescaledb',
        '5432',
        '/postgres',
      ]);
      expect(String(c.services['db-roles'].environment![variable])).toBe('s3cret-for-this-role');
      expect(dependsOnService(c, service, 'db-roles')).toBe(true);
    },
  );

  test('the services that need no database get no DATABASE_URL', () => {
    for (const service of ['mock-api', 'fetcher'])
      expect(compose.services[service].environment!.DATABASE_URL).toBeUndefined();
  });

  test('db-roles logs in as the superuser timescaledb is initialised with, and sets every role', () => {
    const c = loadCompose({ POSTGRES_PASSWORD: 's3cret' });
    const env = c.services['db-roles'].environment!;
    expect(String(c.services.timescaledb.environment!.POSTGRES_PASSWORD)).toBe('s3cret');
    expect([env.PGHOST, env.PGUSER, env.PGPASSWORD]).toEqual(['timescaledb', 'postgres', 's3cret']);
    const script = read('volumes/timescaledb/roles.sh');
    for (const role of Object.values(DATABASE_ROLES)) {
      expect(script).toMatch(new RegExp(`ALTER ROLE ${role} LOGIN PASSWORD :'\\w+'`));
      expect(Object.keys(env)).toContain(DATABASE_ROLE_PASSWORD_VARIABLES[role]);
    }
    expect(c.services['db-roles'].volumes).toContain('./volumes/timescaledb/roles.sh:/setup/roles.sh:ro');
  });

  test("Grafana's TimescaleDB datasource logs in as the reader with the reader's password", () => {
    const c = loadCompose({ POSTGRES_READER_PASSWORD: 'r3ader' });
    const provisioned = parseYaml(read('volumes/grafana/provisioning/datasources/datasources.yml')) as {
      datasources: Array<{ uid: string; user?: string; secureJsonData?: { password?: string } }>;
    };
    const ds = provisioned.datasources.find((d) => d.uid === 'timescaledb')!;
    expect(ds.user).toBe(DATABASE_ROLES.reader);
    expect(ds.secureJsonData?.password).toBe('${POSTGRES_READER_PASSWORD}');
    expect(String(c.services.grafana.environment!.POSTGRES_READER_PASSWORD)).toBe('r3ader');
  });

  test('MOCK_API_URL is the mock-api service on its port', () => {
    const url = new URL(String(compose.services.fetcher.environment!.MOCK_API_URL));
    expect(url.hostname).toBe('mock-api');
    expect(url.port).toBe(String(compose.services['mock-api'].environment!.MOCK_API_PORT));
  });

  test('OTLP goes to jaeger over HTTP (4318), which jaeger publishes', () => {
    const endpoint = new URL(String(compose.services.fetcher.environment!.OTEL_EXPORTER_OTLP_ENDPOINT));
    expect(endpoint.hostname).toBe('jaeger');
    expect(publishedPorts(compose.services.jaeger).map((p) => p.target)).toContain(Number(endpoint.port));
  });

  test.each(APPS)("%s listens on 0.0.0.0 in its container, while its config's default is 127.0.0.1", (app) => {
    const variable = HOST_VARIABLES[app];
    expect(schemaDefault(APP_SCHEMAS[app], variable)).toBe('127.0.0.1');
    expect(example[variable]).toBe('127.0.0.1');
    expect(compose.services[app].environment![variable]).toBe('0.0.0.0');
  });

  test.each(APPS)(
    "%s listens on its config's default port (the one README, Prometheus and the healthcheck use)",
    (app) => {
      const variable = PORT_VARIABLES[app];
      expect(Number(compose.services[app].environment![variable])).toBe(schemaDefault(APP_SCHEMAS[app], variable));
    },
  );
});

test('the register one-shot registers DEV_INFLUENCERS ids from MOCK_API_ID_MIN, like `yarn dev`', () => {
  const env = compose.services.register.environment!;
  expect(env.DEV_INFLUENCERS).toBe(example.DEV_INFLUENCERS);
  expect(env.MOCK_API_ID_MIN).toBe(example.MOCK_API_ID_MIN);
  const script = ([] as string[]).concat(compose.services.register.command ?? []).join(' ');
  expect(script).toContain('${DEV_INFLUENCERS}');
  expect(script).toContain('${MOCK_API_ID_MIN}');
});

describe('grafana (provisioning files in volumes/grafana are mounted where they say)', () => {
  const grafana = compose.services.grafana;
  const provisioningFiles = (dir: string): string[] =>
    fs.existsSync(path.join(ROOT, dir))
      ? fs
          .readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
          .filter((f) => /\.ya?ml$/.test(f))
          .map((f) => `${dir}/${f}`)
      : [];
  const files = provisioningFiles('volumes/grafana/provisioning');

  test('provisioning and dashboards are mounted from the repository', () => {
    expect(grafana.volumes).toContain('./volumes/grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(grafana.volumes).toContain('./volumes/grafana/dashboards:/var/lib/grafana/dashboards:ro');
  });

  test('every ${VAR} a provisioning file uses is in the grafana service environment', () => {
    const withoutComments = (text: string) => text.replace(/(^|\s)#.*$/gm, '');
    const used = files.flatMap((f) =>
      [...withoutComments(read(f)).matchAll(/\$\{([A-Z_][A-Z0-9_]*)\}/g)].map((m) => m[1]),
    );
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
        ...publishedPorts(compose.services[hostname]).map((p) => p.target),
        ...(compose.services[hostname].expose ?? []).map(Number),
      ];
      expect([url, ports]).toEqual([url, expect.arrayContaining([Number(port)])]);
    }
  });
});

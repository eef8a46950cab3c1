/**
 * Ports: the product's port list (written down here, as the design gives it), the README's port
 * table and docker-compose.yml agree. A service that runs once publishes its port on the host's
 * 127.0.0.1 under the same number; fetcher and result-handler scale, so they publish nothing and
 * their README port is the one they listen on inside the stack (Prometheus scrapes every replica).
 */
import {
  APP_SCHEMAS,
  PORT_VARIABLES,
  loadCompose,
  publishedPorts,
  readmePortTable,
  schemaDefault,
  type App,
} from '../../compose/support';

/** The design's port list: compose service → host ports (Jaeger: UI, then OTLP gRPC and HTTP). */
const EXPECTED: Record<string, number[]> = {
  'mock-api': [3001],
  scheduler: [8081],
  fetcher: [8082],
  'result-handler': [8083],
  api: [8084],
  kafka: [9092],
  kafdrop: [9000],
  timescaledb: [6432],
  prometheus: [9090],
  grafana: [3000],
  jaeger: [16686, 4317, 4318],
  elasticsearch: [9200],
  kibana: [5601],
};
const SCALABLE = ['fetcher', 'result-handler'];
/** Published for the Docker daemon's logging driver, not for people: not in the port table. */
const PLUMBING: Record<string, number[]> = { fluentd: [24224] };

const compose = loadCompose();
const hostPorts = (service: string): number[] => [
  ...new Set(
    publishedPorts(compose.services[service])
      .filter((p) => p.protocol === 'tcp')
      .map((p) => p.published),
  ),
];

/** README names ("Kafka", "TimescaleDB", "mock-api") → compose service names. */
const serviceOf = (readmeName: string): string => readmeName.trim().toLowerCase().replace(/\s+/g, '-');

describe('docker-compose.yml', () => {
  test.each(Object.entries(EXPECTED).filter(([s]) => !SCALABLE.includes(s)))('%s publishes %j', (service, ports) => {
    expect(hostPorts(service).sort()).toEqual([...ports].sort());
  });

  test.each(SCALABLE)('%s listens on its design port inside the stack, publishes none', (service) => {
    const app = service as App;
    expect(compose.services[service].ports).toBeUndefined();
    expect((compose.services[service].expose ?? []).map(Number)).toEqual(EXPECTED[service]);
    expect(Number(compose.services[service].environment![PORT_VARIABLES[app]])).toBe(EXPECTED[service][0]);
    expect(schemaDefault(APP_SCHEMAS[app], PORT_VARIABLES[app])).toBe(EXPECTED[service][0]);
  });

  test('publishes nothing else, and only on 127.0.0.1', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const expected = [...(SCALABLE.includes(name) ? [] : (EXPECTED[name] ?? [])), ...(PLUMBING[name] ?? [])];
      expect([name, hostPorts(name).sort()]).toEqual([name, expected.sort()]);
      for (const p of publishedPorts(service)) expect([name, p.hostIp]).toEqual([name, '127.0.0.1']);
    }
  });

  test('apps publish the port their server listens on (host port = container port = config default)', () => {
    for (const app of ['mock-api', 'scheduler', 'api'] as App[]) {
      const [port] = publishedPorts(compose.services[app]);
      expect(port.target).toBe(port.published);
      expect(Number(compose.services[app].environment![PORT_VARIABLES[app]])).toBe(port.target);
      expect(schemaDefault(APP_SCHEMAS[app], PORT_VARIABLES[app])).toBe(port.target);
    }
  });

  test('TimescaleDB is on 6432 on the host like the devstack, 5432 inside', () => {
    expect(publishedPorts(compose.services.timescaledb)).toEqual([
      expect.objectContaining({ published: 6432, target: 5432 }),
    ]);
  });
});

describe("README's port table", () => {
  const table = readmePortTable();

  test('README.md has a "Ports" section with a | service | port | table', () => {
    expect(table).toBeDefined();
  });

  test('lists every service of the port list, with the same ports', () => {
    const byService = Object.fromEntries((table ?? []).map((row) => [serviceOf(row.service), row.ports]));
    for (const [service, ports] of Object.entries(EXPECTED)) {
      expect([service, byService[service]]).toEqual([service, ports]);
    }
  });

  test('names no port that the stack does not have', () => {
    for (const row of table ?? []) {
      const service = serviceOf(row.service);
      expect(compose.services).toHaveProperty([service]);
      const ports = SCALABLE.includes(service)
        ? (compose.services[service].expose ?? []).map(Number)
        : hostPorts(service);
      for (const port of row.ports) expect([service, port, ports.includes(port)]).toEqual([service, port, true]);
    }
  });
});

/**
 * `yarn devstack up --observability` when something is wrong, and the Go builds behind it: an
 * occupied port is named with its variable; no `go` says how to install it; a failed build shows
 * its log and leaves nothing half-built; a build in the cache is reused without Go. Each CLI run
 * uses its own empty DEVSTACK_DIR and points KAFKA_BROKERS / DATABASE_URL elsewhere, so nothing
 * of the suite's devstack is touched. `yarn devstack alerts` on a Prometheus whose targets are down.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { JAEGER, buildLog, ensureGoTool, toolDir, type GoTool } from '../src/go-build';
import { SCRAPED_SERVICES } from '../src/scrape-targets';
import { currentAlerts, startPrometheus, stopPrometheus } from '../src/prometheus';
import { runCli } from './run-cli';

const log = (message: string) => console.log(`[devstack] ${message}`);

function listen(port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as net.AddressInfo;
      resolve({ port: bound, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

/** Free ports for every observability variable, so nothing clashes with a running devstack. */
async function freePorts(): Promise<Record<string, string>> {
  const names = [
    'DEVSTACK_JAEGER_UI_PORT',
    'DEVSTACK_JAEGER_QUERY_GRPC_PORT',
    'DEVSTACK_JAEGER_OTLP_GRPC_PORT',
    'DEVSTACK_JAEGER_OTLP_HTTP_PORT',
    'DEVSTACK_JAEGER_HEALTH_PORT',
    'DEVSTACK_PROMETHEUS_PORT',
  ];
  const out: Record<string, string> = {};
  for (const name of names) {
    const s = await listen();
    out[name] = String(s.port);
    await s.close();
  }
  return out;
}

let dir: string;
let baseEnv: NodeJS.ProcessEnv;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devstack-observability-'));
  baseEnv = {
    ...process.env,
    DEVSTACK_DIR: path.join(dir, 'data'),
    KAFKA_BROKERS: 'external:9092',
    DATABASE_URL: 'postgres://external/db',
  };
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test.each(['DEVSTACK_JAEGER_UI_PORT', 'DEVSTACK_JAEGER_OTLP_HTTP_PORT', 'DEVSTACK_PROMETHEUS_PORT'])(
  '%s taken → up --observability fails naming the port and the variable, before starting anything',
  async (variable) => {
    const ports = await freePorts();
    const busy = await listen();
    try {
      const r = await runCli(['up', '--observability'], { ...baseEnv, ...ports, [variable]: String(busy.port) });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`127.0.0.1:${busy.port}`);
      expect(r.stderr).toContain(`set ${variable} to a free port`);
      expect(fs.existsSync(path.join(dir, 'data', 'jaeger', 'jaeger.pid'))).toBe(false);
    } finally {
      await busy.close();
    }
  },
  60_000,
);

test('go missing and nothing built → up --observability says Go is required and how to install it', async () => {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const r = await runCli(['up', '--observability'], {
    ...baseEnv,
    ...(await freePorts()),
    PATH: bin,
    DEVSTACK_CACHE_DIR: path.join(dir, 'cache'),
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(
    "Go is required to build the devstack's Jaeger and Prometheus, but `go` was not found on PATH",
  );
  expect(r.stderr).toContain('https://go.dev/doc/install');
}, 60_000);

test('a failed build throws with the end of its log and where the log is, and leaves no build behind', async () => {
  const broken: GoTool = { ...JAEGER, name: 'broken', packages: ['./cmd/no-such-command'] };
  const env = { ...process.env, DEVSTACK_CACHE_DIR: path.join(dir, 'cache') };
  const err = (await ensureGoTool(broken, log, env).catch((e: Error) => e)) as Error;
  expect(err).toBeInstanceOf(Error);
  expect(err.message).toContain(`\`go build\` of ${JAEGER.module}@${JAEGER.version} failed`);
  expect(err.message).toContain(`see ${buildLog(broken, env)}`);
  expect(err.message).toMatch(/no-such-command/);
  expect(fs.readFileSync(buildLog(broken, env), 'utf8')).toMatch(/no-such-command/);
  expect(fs.readdirSync(path.dirname(toolDir(broken, env)))).toEqual([path.basename(buildLog(broken, env))]);
}, 300_000);

test(
  'a build in the cache is reused: no Go needed once Jaeger is built',
  async () => {
    const built = await ensureGoTool(JAEGER, log);
    expect(built.jaeger).toBe(path.join(toolDir(JAEGER), 'jaeger'));
    const saved = process.env.PATH;
    process.env.PATH = '';
    try {
      expect(await ensureGoTool(JAEGER, log)).toEqual(built);
    } finally {
      process.env.PATH = saved;
    }
  },
  30 * 60_000,
);

test('yarn devstack alerts lists what fires, with its summary, and exits 3 while something does', async () => {
  // nothing listens on these: every service's target is down
  const closed = await listen();
  await closed.close();
  const port = Number((await freePorts()).DEVSTACK_PROMETHEUS_PORT);
  const dataDir = path.join(dir, 'prometheus-data');
  const targets = Object.fromEntries(SCRAPED_SERVICES.map((svc) => [svc.job, [`127.0.0.1:${closed.port}`]]));
  await startPrometheus({ dataDir, host: '127.0.0.1', port, log, targets });
  try {
    const env = { ...baseEnv, DEVSTACK_PROMETHEUS_PORT: String(port) };
    const before = await runCli(['alerts'], env);
    expect(before.code).toBe(0); // TargetDown waits a minute before it fires
    const deadline = Date.now() + 150_000;
    // each target's alert fires a minute after its own first failed scrape: wait for all of them
    const allFiring = async () =>
      (await currentAlerts(`http://127.0.0.1:${port}`)).filter((a) => a.name === 'TargetDown' && a.state === 'firing')
        .length === SCRAPED_SERVICES.length;
    while (!(await allFiring()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 2_000));
    }
    const r = await runCli(['alerts'], env);
    expect(r.code).toBe(3);
    for (const svc of SCRAPED_SERVICES) {
      expect(r.stdout).toMatch(
        new RegExp(`^FIRING +TargetDown .* ${svc.job} at 127\\.0\\.0\\.1:${closed.port} cannot be scraped$`, 'm'),
      );
    }
    expect(r.stdout).not.toMatch(/TargetDown .* prometheus at/);
  } finally {
    await stopPrometheus(dataDir);
  }
}, 300_000);

test('yarn devstack alerts with no Prometheus says how to start it', async () => {
  const r = await runCli(['alerts'], { ...baseEnv, ...(await freePorts()) });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('start it with `yarn devstack up --observability`');
});

/**
 * `yarn devstack up` on a machine where something is wrong: an occupied port is named with the
 * variable that moves it; a missing `java` says so. Each run uses its own empty DEVSTACK_DIR, so
 * the devstack the rest of the suite uses is not touched, and fails before starting anything.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './run-cli';

/** A listening socket on a kernel-chosen port: the port is occupied while it is open. */
function occupy(): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({ port, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

/** Whether 127.0.0.1:port can be bound right now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * An occupied port whose neighbours at the given offsets are free right now, so that the port
 * `up` finds taken is this one, not a neighbour some other program happens to hold.
 */
async function occupyWithFree(offsets: number[]): Promise<{ port: number; close: () => Promise<void> }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const busy = await occupy();
    const free = await Promise.all(
      offsets.map(async (o) => busy.port + o > 0 && busy.port + o < 65536 && (await bindable(busy.port + o))),
    );
    if (free.every(Boolean)) return busy;
    await busy.close();
  }
  throw new Error(`no port found whose neighbours at ${offsets.join(', ')} are free`);
}

let dir: string;
let baseEnv: NodeJS.ProcessEnv;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devstack-cli-'));
  baseEnv = { ...process.env, DEVSTACK_DIR: dir };
  delete baseEnv.KAFKA_BROKERS;
  delete baseEnv.DATABASE_URL;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('Kafka port taken → up fails naming the port and DEVSTACK_KAFKA_PORT', async () => {
  const busy = await occupy();
  try {
    const r = await runCli(['up'], {
      ...baseEnv,
      DEVSTACK_KAFKA_PORT: String(busy.port),
      DATABASE_URL: 'postgres://external/db',
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`127.0.0.1:${busy.port}`);
    expect(r.stderr).toContain('already in use');
    expect(r.stderr).toContain('set DEVSTACK_KAFKA_PORT to a free port');
  } finally {
    await busy.close();
  }
});

test('TimescaleDB port taken → up fails naming the port and DEVSTACK_PG_PORT', async () => {
  const busy = await occupy();
  try {
    const r = await runCli(['up'], { ...baseEnv, DEVSTACK_PG_PORT: String(busy.port), KAFKA_BROKERS: 'external:9092' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`127.0.0.1:${busy.port}`);
    expect(r.stderr).toContain('set DEVSTACK_PG_PORT to a free port');
  } finally {
    await busy.close();
  }
});

test('java missing → up says Java 17+ is required and how to install it', async () => {
  // A PATH holding only node: no java, and no JAVA_HOME to find one through.
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const env: NodeJS.ProcessEnv = { ...baseEnv, PATH: bin, DATABASE_URL: 'postgres://external/db' };
  delete env.JAVA_HOME;
  const r = await runCli(['up'], env);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/Java 17\+ is required/);
  expect(r.stderr).toMatch(/apt-get install/);
});

test('invalid devstack variable → names it', async () => {
  const r = await runCli(['status'], { ...baseEnv, DEVSTACK_PG_PORT: 'abc' });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('DEVSTACK_PG_PORT="abc"');
});

test('three brokers: an occupied port of node 2 (derived from node 1 by the step) → names DEVSTACK_KAFKA_CONTROLLER_PORT_2', async () => {
  // Every other port of the three nodes free, so node 2's controller is the one found taken.
  const busy = await occupyWithFree([-11, -10, -1, 9, 10]);
  try {
    // Node 1 on busy-11 / busy-10; node 2 (step 10) on busy-1 / busy: its controller port is taken.
    const env = {
      ...baseEnv,
      DEVSTACK_KAFKA_BROKERS: '3',
      DEVSTACK_KAFKA_PORT: String(busy.port - 11),
      DEVSTACK_KAFKA_CONTROLLER_PORT: String(busy.port - 10),
      DATABASE_URL: 'postgres://external/db',
    };
    const r = await runCli(['up'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`Kafka node 2's controller needs 127.0.0.1:${busy.port}`);
    expect(r.stderr).toContain('set DEVSTACK_KAFKA_CONTROLLER_PORT_2 to a free port');
    expect(fs.existsSync(path.join(dir, 'kafka'))).toBe(false); // nothing was started
  } finally {
    await busy.close();
  }
});

test('three brokers: an occupied port set for node 3 → names DEVSTACK_KAFKA_PORT_3', async () => {
  const busy = await occupy();
  try {
    // Free ports for every other listener: held together so they differ, released before up runs.
    const free = await Promise.all(Array.from({ length: 5 }, () => occupy()));
    await Promise.all(free.map((f) => f.close()));
    const [p1, c1, p2, c2, c3] = free.map((f) => String(f.port));
    const env = {
      ...baseEnv,
      DEVSTACK_KAFKA_BROKERS: '3',
      DEVSTACK_KAFKA_PORT: p1,
      DEVSTACK_KAFKA_CONTROLLER_PORT: c1,
      DEVSTACK_KAFKA_PORT_2: p2,
      DEVSTACK_KAFKA_CONTROLLER_PORT_2: c2,
      DEVSTACK_KAFKA_PORT_3: String(busy.port),
      DEVSTACK_KAFKA_CONTROLLER_PORT_3: c3,
      DATABASE_URL: 'postgres://external/db',
    };
    const r = await runCli(['up'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`Kafka node 3's broker needs 127.0.0.1:${busy.port}`);
    expect(r.stderr).toContain('set DEVSTACK_KAFKA_PORT_3 to a free port');
  } finally {
    await busy.close();
  }
});

test.each([
  [{ DEVSTACK_KAFKA_BROKERS: '2' }, 'DEVSTACK_KAFKA_BROKERS="2": expected 1 or 3'],
  [{ DEVSTACK_KAFKA_BROKERS: 'three' }, 'DEVSTACK_KAFKA_BROKERS="three": expected 1 or 3'],
  [{ DEVSTACK_KAFKA_BROKERS: '3', DEVSTACK_KAFKA_PORT_2: 'abc' }, 'DEVSTACK_KAFKA_PORT_2="abc"'],
  [
    { DEVSTACK_KAFKA_BROKERS: '3', DEVSTACK_KAFKA_CONTROLLER_PORT_3: '70000' },
    'DEVSTACK_KAFKA_CONTROLLER_PORT_3="70000"',
  ],
  [{ DEVSTACK_KAFKA_BROKERS: '3', DEVSTACK_KAFKA_PORT_STEP: '0' }, 'DEVSTACK_KAFKA_PORT_STEP="0"'],
  [
    {
      DEVSTACK_KAFKA_BROKERS: '3',
      DEVSTACK_KAFKA_PORT: '9092',
      DEVSTACK_KAFKA_CONTROLLER_PORT: '9093',
      DEVSTACK_KAFKA_PORT_STEP: '1',
    },
    'DEVSTACK_KAFKA_PORT_2 and DEVSTACK_KAFKA_CONTROLLER_PORT are both 9093',
  ],
  [
    { DEVSTACK_KAFKA_BROKERS: '3', DEVSTACK_KAFKA_PORT: '65500', DEVSTACK_KAFKA_PORT_STEP: '20' },
    'DEVSTACK_KAFKA_PORT_3 would be 65540',
  ],
])('invalid Kafka cluster variables %o → up names them', async (vars, message) => {
  const r = await runCli(['up'], { ...baseEnv, ...vars, DATABASE_URL: 'postgres://external/db' });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('invalid devstack configuration');
  expect(r.stderr).toContain(message);
});

test('unknown command → usage and a non-zero exit', async () => {
  const r = await runCli(['upp'], baseEnv);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('unknown command "upp"');
  expect(r.stderr).toContain('usage: yarn devstack');
});

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
    const r = await runCli(['up'], { ...baseEnv, DEVSTACK_KAFKA_PORT: String(busy.port), DATABASE_URL: 'postgres://external/db' });
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

test('unknown command → usage and a non-zero exit', async () => {
  const r = await runCli(['upp'], baseEnv);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('unknown command "upp"');
  expect(r.stderr).toContain('usage: yarn devstack');
});

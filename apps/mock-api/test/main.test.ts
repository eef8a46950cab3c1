import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

/** Runs src/main.ts in its own node process (tsx loader), like `yarn workspace @mockstagram/mock-api start`. */
function start(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: path.join(__dirname, '..'),
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitFor(check: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('main', () => {
  test('serves on MOCK_API_PORT and exits 0 on SIGTERM, even with a hung request open', async () => {
    const port = await freePort();
    const proc = start({ MOCK_API_PORT: String(port), MOCK_API_HANG_RATE: '1' });
    try {
      await waitFor(() => proc.output().includes('mock-api listening'));
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      await ready.text();
      const hung = fetch(`http://127.0.0.1:${port}/api/v1/influencers/1234567`).catch(() => 'dropped');
      await new Promise((r) => setTimeout(r, 100));
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(await hung).toBe('dropped');
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('a taken port is an error naming the port and MOCK_API_PORT', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, r));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const proc = start({ MOCK_API_PORT: String(port) });
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toContain(`port ${port} is already in use; set MOCK_API_PORT to a free port`);
    } finally {
      blocker.close();
    }
  });

  test('a bad variable is named, with what it expects', async () => {
    const proc = start({ MOCK_API_PORT: '0', MOCK_API_ERROR_RATE: '3' });
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain('MOCK_API_ERROR_RATE="3": expected a number between 0 and 1');
  });
});

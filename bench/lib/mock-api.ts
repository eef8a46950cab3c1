/** The mock API as its own process pinned to one core, and wrk against it. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCommand } from '@mockstagram/testkit';
import { freePort, pinned, requireTool, run, shellLine, stopChild, waitUntil } from './proc';
import { repoRoot } from './report';

export const WRK_INSTALL = 'apt-get install -y wrk   (Debian/Ubuntu, as root)';

export interface MockApi {
  url: string;
  command: string;
  stop: () => Promise<void>;
}

/** Starts the built mock API (its start script) on a free port, pinned to `core`, faults off, logging at warn. */
export async function startMockApi(core = 0): Promise<MockApi> {
  const port = await freePort();
  // As it ships: the built app (bench/cli.ts builds the apps first) run by its start script.
  const [, ...args] = startCommand('mock-api');
  const cmd = pinned(core, [process.execPath, ...args]);
  const env = { MOCK_API_PORT: String(port), LOG_LEVEL: 'warn' };
  const child: ChildProcess = spawn(cmd[0], cmd.slice(1), {
    cwd: path.join(repoRoot, 'apps', 'mock-api'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    `the mock API at ${url}/readyz`,
    async () => {
      if (child.exitCode !== null) throw new Error(`mock API exited with ${child.exitCode}`);
      try {
        const res = await fetch(`${url}/readyz`);
        await res.text();
        return res.ok;
      } catch {
        return false;
      }
    },
    30_000,
  );
  return {
    url,
    command: `${shellLine(cmd, env)}   (cwd: apps/mock-api, after yarn build)`,
    stop: () => stopChild(child),
  };
}

const RANDOM_IDS_LUA =
  'math.randomseed(os.time())\nrequest = function()\n  return wrk.format("GET", "/api/v1/influencers/" .. math.random(1000000, 1999999))\nend\n';

export interface WrkOptions {
  seconds: number;
  connections: number;
  core: number;
  /** A random existing id per request (Lua script) instead of one fixed id. */
  randomIds: boolean;
}

/** Runs wrk (1 thread, keep-alive) pinned to `core` and returns requests/s and the command. */
export async function wrk(apiUrl: string, o: WrkOptions): Promise<{ rps: number; command: string; output: string }> {
  requireTool('wrk', WRK_INSTALL);
  const args = ['wrk', '-t1', `-c${o.connections}`, `-d${o.seconds}s`];
  let script: string | undefined;
  if (o.randomIds) {
    script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-wrk-')), 'random-ids.lua');
    fs.writeFileSync(script, RANDOM_IDS_LUA);
    args.push('-s', script);
  }
  args.push(`${apiUrl}/api/v1/influencers/1234567`);
  const cmd = pinned(o.core, args);
  try {
    const r = await run(cmd, { timeoutMs: (o.seconds + 30) * 1000 });
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1];
    if (r.code !== 0 || rps === undefined) throw new Error(`wrk failed (${r.code}): ${r.stdout}${r.stderr}`);
    const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout)?.[1];
    if (non2xx) throw new Error(`wrk saw ${non2xx} non-2xx responses:\n${r.stdout}`);
    const command =
      shellLine(cmd).replace(script ?? '\0', 'random-ids.lua') +
      (script ? `   (random-ids.lua: ${JSON.stringify(RANDOM_IDS_LUA)})` : '');
    return { rps: Number(rps), command, output: r.stdout };
  } finally {
    if (script) fs.rmSync(path.dirname(script), { recursive: true, force: true });
  }
}

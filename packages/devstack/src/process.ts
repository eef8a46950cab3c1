import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Pid files for the engines the devstack starts in the background. */

export function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function writePid(pidFile: string, pid: number): void {
  fs.mkdirSync(path.dirname(pidFile), { recursive: true });
  fs.writeFileSync(pidFile, `${pid}\n`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/** A detached engine that died after its parent exited can linger as a zombie until reaped: it is not running. */
function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** The pid recorded in pidFile if that process is still running. */
export function runningPid(pidFile: string): number | undefined {
  const pid = readPid(pidFile);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

/**
 * SIGTERM the process recorded in pidFile, wait up to timeoutMs for it to exit,
 * then SIGKILL. Removes the pid file. Returns false when nothing was running.
 */
export async function stopPid(pidFile: string, timeoutMs = 30_000): Promise<boolean> {
  const pid = runningPid(pidFile);
  if (pid === undefined) {
    fs.rmSync(pidFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) killGroup(pid);
  while (isAlive(pid)) await sleep(50);
  fs.rmSync(pidFile, { force: true });
  return true;
}

/**
 * SIGKILL the process named in `pidFile` (no shutdown of any kind: a crash, for fault tests) and
 * wait until it is gone; the pid file stays, as a crash leaves it. False when it was not running.
 */
export async function killPid(pidFile: string): Promise<boolean> {
  const pid = runningPid(pidFile);
  if (pid === undefined) return false;
  killGroup(pid);
  while (isAlive(pid)) await sleep(50);
  return true;
}

/**
 * SIGKILL the process group the engine leads (engines are spawned detached, so each leads its
 * own group): a wrapper such as tsx would otherwise die and leave its child running.
 */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    process.kill(pid, 'SIGKILL');
  }
}

/** Poll check() until it resolves true, or fail after timeoutMs with the message of its last error. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  {
    timeoutMs = 60_000,
    intervalMs = 250,
    alive,
  }: { timeoutMs?: number; intervalMs?: number; alive?: () => boolean } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (alive && !alive()) throw new Error(`${what}: the process exited before it became ready`);
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`${what}: not ready after ${timeoutMs / 1000}s${detail}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Run a command to completion; resolves with its exit code and its stdout and stderr together,
 * which are also appended to `logFile` when given.
 */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; logFile?: string } = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    const chunks: Buffer[] = [];
    const log = opts.logFile ? fs.createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
    const collect = (chunk: Buffer) => {
      chunks.push(chunk);
      log?.write(chunk);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (err) => {
      log?.end();
      reject(err);
    });
    child.once('close', (code) => {
      const output = Buffer.concat(chunks).toString('utf8');
      const done = () => resolve({ code: code ?? 1, output });
      if (log) log.end(done);
      else done();
    });
  });
}

/** What a log got since `offset` (its size before a start), its last `lines` lines. */
export function logSince(file: string, offset: number, lines = 40): string {
  try {
    return fs
      .readFileSync(file)
      .subarray(offset)
      .toString('utf8')
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  } catch {
    return '(no log)';
  }
}

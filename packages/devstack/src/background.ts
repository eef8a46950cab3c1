import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { isAlive, runningPid, stopPid, waitFor, writePid } from './process';

/**
 * One engine binary run in the background like the devstack's Kafka: detached (it outlives the
 * command that started it), its stdout and stderr appended to a log file, its pid in a pid file,
 * and started only when that pid file names no live process of the same binary.
 */
export interface BackgroundProgram {
  /** For messages, e.g. "jaeger". */
  name: string;
  binary: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  pidFile: string;
  logFile: string;
  /** Resolves true once the program serves; errors count as not yet. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

/** On Linux, check that a pid from a pid file still runs `binary` and is not a reused pid. */
function runs(pid: number, binary: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === binary;
  } catch (err) {
    // No /proc (macOS): trust the pid file.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync('/proc/self');
  }
}

/** The pid of the live program the pid file names, if any (a stale pid file is removed). */
export function programPid(pidFile: string, binary: string): number | undefined {
  const pid = runningPid(pidFile);
  if (pid === undefined) return undefined;
  if (runs(pid, binary)) return pid;
  fs.rmSync(pidFile, { force: true });
  return undefined;
}

/** The last lines of a log, for error messages. */
export function logTail(file: string, lines = 15): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd();
    return `--- last lines of ${file} ---\n${text.split('\n').slice(-lines).join('\n')}`;
  } catch {
    return '';
  }
}

/**
 * Start the program unless it runs already, and resolve once ready() says so. When it exits or
 * does not become ready in time, it is stopped and the error carries the end of its log.
 */
export async function startProgram(p: BackgroundProgram): Promise<{ pid: number; alreadyRunning: boolean }> {
  const timeoutMs = p.readyTimeoutMs ?? 60_000;
  const existing = programPid(p.pidFile, p.binary);
  if (existing !== undefined) {
    await waitFor(p.name, p.ready, { timeoutMs, alive: () => isAlive(existing) });
    return { pid: existing, alreadyRunning: true };
  }
  const out = fs.openSync(p.logFile, 'a');
  const child = spawn(p.binary, p.args, { detached: true, stdio: ['ignore', out, out], env: p.env ?? process.env });
  fs.closeSync(out);
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid as number));
    child.once('error', reject);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  child.unref();
  writePid(p.pidFile, pid);
  try {
    await waitFor(p.name, p.ready, { timeoutMs, alive: () => !exited && isAlive(pid) });
  } catch (err) {
    if (!exited && isAlive(pid)) await stopPid(p.pidFile, 10_000);
    fs.rmSync(p.pidFile, { force: true });
    throw new Error(`${(err as Error).message}\n${logTail(p.logFile)}`, { cause: err });
  }
  return { pid, alreadyRunning: false };
}

/** SIGTERM (SIGKILL after timeoutMs); false when it was not running. */
export async function stopProgram(pidFile: string, binary: string, timeoutMs = 15_000): Promise<boolean> {
  if (programPid(pidFile, binary) === undefined) {
    fs.rmSync(pidFile, { force: true });
    return false;
  }
  return stopPid(pidFile, timeoutMs);
}

/** True when GET url answers 200. */
export async function answers200(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.status === 200;
}

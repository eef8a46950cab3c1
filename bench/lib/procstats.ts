/** Peak RSS and CPU seconds of processes, from /proc (Linux). */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ; 100 on Linux everywhere that matters). */
const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The q-quantile (0..1) of ascending `sorted` (nearest rank); NaN when empty. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Of the processes whose command line matches `pattern` (pgrep -f), the one that has used the most
 * CPU: the engine itself rather than a wrapper (yarn, tsx cli) that started it.
 */
export function pgrepBusiest(pattern: string): number | undefined {
  const r = spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const pids = r.stdout
    .trim()
    .split('\n')
    .map(Number)
    .filter((p) => p > 0 && p !== process.pid);
  pids.sort((a, b) => (cpuSeconds(b) ?? 0) - (cpuSeconds(a) ?? 0));
  return pids[0];
}

/** utime + stime of `pid` in seconds; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after the comm: state(3) ... utime(14) stime(15) → indexes 11 and 12 here
    return (Number(f[11]) + Number(f[12])) / HZ;
  } catch {
    return undefined;
  }
}

/** Pids whose parent is `pid` (from /proc/<pid>/task/<tid>/children). */
function childrenOf(pid: number): number[] {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((task) => fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/))
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * CPU seconds of `pid` and everything below it: its own utime + stime, its reaped children's
 * (cutime + cstime, which the kernel adds when a child is waited for), and the live children's,
 * recursively. A PostgreSQL server does its work in backends the postmaster forks per
 * connection and reaps when they end; this counts all of them. Undefined when `pid` is gone.
 */
export function treeCpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / HZ;
    return own + childrenOf(pid).reduce((sum, child) => sum + (treeCpuSeconds(child) ?? 0), 0);
  } catch {
    return undefined;
  }
}

/** VmHWM and VmRSS of `pid` in MiB; undefined when it is gone. */
export function memory(pid: number): { hwmMiB: number; rssMiB: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { hwmMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
  } catch {
    return undefined;
  }
}

export interface ProcFigures {
  name: string;
  pid: number;
  /** Peak RSS (max of VmHWM and polled VmRSS); undefined when not tracked (engines started before). */
  peakRssMiB?: number;
  cpuWindowSeconds: number;
  cpuTotalSeconds: number;
}

interface Watched {
  name: string;
  pid: number;
  trackRss: boolean;
  tree: boolean;
  peakRssMiB: number;
  lastCpu: number;
}

/** Watches named processes (the services run as node processes themselves, no wrapper). */
export class ProcWatch {
  private readonly procs: Watched[] = [];

  /**
   * `trackRss`: also report its peak RSS (the services; not the engines). `tree`: count the CPU of
   * the process and all its descendants (a PostgreSQL server and its backends).
   */
  add(name: string, pid: number, trackRss: boolean, { tree = false } = {}): void {
    this.procs.push({
      name,
      pid,
      trackRss,
      tree,
      peakRssMiB: 0,
      lastCpu: (tree ? treeCpuSeconds : cpuSeconds)(pid) ?? 0,
    });
  }

  poll(): void {
    for (const p of this.procs) {
      const m = memory(p.pid);
      if (m) p.peakRssMiB = Math.max(p.peakRssMiB, m.hwmMiB || 0, m.rssMiB || 0);
      const c = (p.tree ? treeCpuSeconds : cpuSeconds)(p.pid);
      if (c !== undefined) p.lastCpu = c;
    }
  }

  cpuSnapshot(): Map<string, number> {
    return new Map(this.procs.map((p) => [p.name, p.lastCpu]));
  }

  figures(start: Map<string, number>, end: Map<string, number>): ProcFigures[] {
    return this.procs.map((p) => ({
      name: p.name,
      pid: p.pid,
      ...(p.trackRss ? { peakRssMiB: p.peakRssMiB } : {}),
      cpuWindowSeconds: (end.get(p.name) ?? p.lastCpu) - (start.get(p.name) ?? 0),
      cpuTotalSeconds: p.lastCpu,
    }));
  }
}

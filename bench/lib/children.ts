/**
 * Stopping a bench early (SIGINT or SIGTERM to the bench process alone, e.g. `kill -INT`) would
 * leave the services, the mock API, Telegraf and the load generators it started running. This
 * sends SIGTERM to every descendant of this process (read from /proc: the benches run on Linux),
 * children first, then exits with 128 + the signal's number. The services shut down gracefully
 * on SIGTERM; topics and schemas of the interrupted run are left behind (their names are unique).
 */
import fs from 'node:fs';
import os from 'node:os';

/** Pids of every process below `root`, deepest first. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      walk(child);
      out.push(child);
    }
  };
  walk(root);
  return out;
}

export function stopChildrenOnSignal(log: (line: string) => void = console.error): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      const pids = descendants(process.pid);
      log(`${signal}: stopping ${pids.length} process(es) this bench started`);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      process.exit(128 + os.constants.signals[signal]);
    });
  }
}

/**
 * Figures of one benchmark: several runs per measurement, summarized as median / min / max,
 * printed as a table and written as JSON to bench/results/<name>-<timestamp>.json together with
 * the machine (cores, load), the versions of what was measured and the exact commands.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const resultsDir = path.join(repoRoot, 'bench', 'results');

export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

export interface Measurement extends Summary {
  /** Short name, e.g. `db.insert.devstack.hypertable`. */
  key: string;
  /** What it is, in words. */
  label: string;
  unit: string;
  runs: number[];
  /** Further figures per run or for the whole measurement (latencies, CPU, ...). */
  extra?: Record<string, unknown>;
  /** Key of the ceiling this is a fraction of, and that fraction (median / ceiling median). */
  ceilingKey?: string;
  fraction?: number;
}

export interface Versions {
  node: string;
  java?: string;
  kafka?: string;
  /** `SELECT version()` through the devstack front (or DATABASE_URL). */
  postgres?: string;
  timescaledb?: string;
  [other: string]: string | undefined;
}

export class Report {
  readonly started = new Date();
  readonly measurements: Measurement[] = [];
  readonly commands: string[] = [];
  readonly notes: string[] = [];
  readonly failures: string[] = [];
  versions: Versions = { node: process.version };
  private readonly loadBefore = os.loadavg();

  constructor(
    readonly name: string,
    readonly invocation: string,
    readonly settings: Record<string, unknown> = {},
  ) {}

  command(cmd: string): void {
    if (!this.commands.includes(cmd)) this.commands.push(cmd);
  }

  note(text: string): void {
    this.notes.push(text);
    console.log(`  note: ${text}`);
  }

  fail(what: string, err: unknown): void {
    const text = `${what}: ${err instanceof Error ? err.message : String(err)}`;
    this.failures.push(text);
    console.log(`  FAILED ${text}`);
  }

  add(m: Omit<Measurement, keyof Summary>): Measurement {
    const full: Measurement = { ...m, ...summarize(m.runs) };
    this.measurements.push(full);
    const runs = m.runs.map((r) => fmt(r)).join(', ');
    console.log(`  ${m.label}: ${fmt(full.median)} ${m.unit} (runs: ${runs})`);
    return full;
  }

  /** Sets `fraction` of every measurement with a `ceilingKey` from the given ceilings (key → median). */
  relateTo(ceilings: Map<string, number>): void {
    for (const m of this.measurements) {
      if (!m.ceilingKey) continue;
      const c = ceilings.get(m.ceilingKey);
      if (c && Number.isFinite(c)) m.fraction = m.median / c;
    }
  }

  table(): string {
    const head = ['measurement', 'unit', 'median', 'min', 'max', 'runs', 'of ceiling'];
    const rows = this.measurements.map((m) => [
      m.label,
      m.unit,
      fmt(m.median),
      fmt(m.min),
      fmt(m.max),
      String(m.runs.length),
      m.fraction === undefined ? '' : `${(100 * m.fraction).toFixed(0)} % of ${m.ceilingKey}`,
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) =>
      r.map((c, i) => (i >= 2 && i <= 5 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
    return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
  }

  /** Prints the table and writes the JSON; returns the file written. */
  finish(): string {
    const file = path.join(resultsDir, `${this.name}-${stamp(this.started)}.json`);
    fs.mkdirSync(resultsDir, { recursive: true });
    const json = {
      benchmark: this.name,
      invocation: this.invocation,
      started: this.started.toISOString(),
      finished: new Date().toISOString(),
      machine: machine(this.loadBefore),
      versions: this.versions,
      settings: this.settings,
      measurements: this.measurements,
      commands: this.commands,
      notes: this.notes,
      failures: this.failures,
    };
    fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`\n== ${this.name} (${json.machine.cores} cores, load before ${json.machine.loadBefore.join(' ')}) ==`);
    console.log(this.table());
    if (this.failures.length) console.log(`failures:\n${this.failures.map((f) => `  - ${f}`).join('\n')}`);
    console.log(`written: ${path.relative(repoRoot, file)}`);
    return file;
  }
}

function machine(loadBefore: number[]) {
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadBefore: loadBefore.map((l) => Number(l.toFixed(2))),
    loadAfter: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(Math.abs(n) >= 10 ? 1 : 2);
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
}

/**
 * Per measurement key, the median from the newest bench/results/<name>-*.json that has it (so a
 * `ceilings --only api` run does not hide the database ceilings of an earlier full run), and the
 * files used.
 */
export function latestMedians(name: string): { values: Map<string, number>; files: string[] } {
  const values = new Map<string, number>();
  const files: string[] = [];
  if (!fs.existsSync(resultsDir)) return { values, files };
  const names = fs
    .readdirSync(resultsDir)
    .filter((f) => f.startsWith(`${name}-`) && f.endsWith('.json'))
    .sort()
    .reverse();
  for (const f of names) {
    const file = path.join(resultsDir, f);
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { measurements?: Measurement[] };
    let used = false;
    for (const m of json.measurements ?? []) {
      if (!values.has(m.key) && Number.isFinite(m.median)) {
        values.set(m.key, m.median);
        used = true;
      }
    }
    if (used) files.push(path.relative(repoRoot, file));
  }
  return { values, files };
}

/** First line of `java -version` (it prints to stderr). */
export function javaVersion(): string | undefined {
  const r = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stderr.split('\n')[0]?.trim() : undefined;
}

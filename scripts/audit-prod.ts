/**
 * `yarn audit:prod`: `npm audit --omit=dev` over exactly the packages yarn.lock installs.
 *
 * Yarn 1's own `yarn audit` and npm's audit both ask the registry's audit endpoint; npm needs a
 * package-lock.json, which this repository does not keep (yarn.lock is the lockfile). So, in a
 * temporary directory: the root and workspace package.json files and yarn.lock are copied,
 * `npm install --package-lock-only --ignore-scripts` writes a package-lock.json (npm takes the
 * versions from yarn.lock), every non-optional package in it is checked to be a version
 * yarn.lock resolves (else the audit would judge other code than ours), and
 * `npm audit --omit=dev --json` runs on it. Nothing is written to the work tree.
 *
 *   yarn audit:prod                     # exit 0: no high or critical finding; 1: some, listed
 *   yarn audit:prod --inventory FILE    # also write the production packages, one name@version a line
 *
 * Exit 2 when no audit could run (the endpoint refused or did not answer): the error is printed
 * as npm gave it, and nothing is claimed about vulnerabilities. docs/security.md keeps the
 * findings and what was done about each.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = path.resolve(__dirname, '..');

/** Every name@version yarn.lock resolves (an `alias@npm:real@range` entry counts as the real name). */
export function yarnLockVersions(text: string): Set<string> {
  const out = new Set<string>();
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    const header = lines[0];
    const version = lines.map((l) => /^\s+version "([^"]+)"/.exec(l)?.[1]).find(Boolean);
    if (!header || header.startsWith(' ') || !version) continue;
    for (let spec of header.replace(/:$/, '').split(', ')) {
      spec = spec.replace(/^"|"$/g, '');
      const alias = spec.indexOf('@npm:');
      if (alias > 0) spec = spec.slice(alias + '@npm:'.length);
      const at = spec.lastIndexOf('@');
      out.add(`${at > 0 ? spec.slice(0, at) : spec}@${version}`);
    }
  }
  return out;
}

interface LockPackage {
  name?: string;
  version?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  link?: boolean;
}

interface PackageLock {
  packages: Record<string, LockPackage>;
}

interface Installed {
  name: string;
  version: string;
  dev: boolean;
  optional: boolean;
}

/** The installed packages of a package-lock.json (v2/v3), workspaces and links left out. */
export function lockPackages(lock: PackageLock): Installed[] {
  const out: Installed[] = [];
  for (const [where, p] of Object.entries(lock.packages)) {
    if (!where.includes('node_modules/') || p.link || !p.version) continue;
    out.push({
      name: p.name ?? where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length),
      version: p.version,
      dev: p.dev === true,
      optional: p.optional === true || p.devOptional === true,
    });
  }
  return out;
}

/** Production packages, one name@version each, sorted. */
export function productionInventory(lock: PackageLock): string[] {
  return [
    ...new Set(
      lockPackages(lock)
        .filter((p) => !p.dev)
        .map((p) => `${p.name}@${p.version}`),
    ),
  ].sort();
}

/**
 * Non-optional packages whose version yarn.lock does not resolve. Optional ones are left out:
 * npm lists every platform's optional binary (esbuild's, for example); yarn.lock only those it
 * saw.
 */
export function notFromYarnLock(lock: PackageLock, yarn: Set<string>): string[] {
  return lockPackages(lock)
    .filter((p) => !p.optional && !yarn.has(`${p.name}@${p.version}`))
    .map((p) => `${p.name}@${p.version}`);
}

export interface Finding {
  name: string;
  severity: string;
  range: string;
  advisories: string[];
  fix: string;
}

export type AuditResult =
  { ran: true; counts: Record<string, number>; serious: Finding[] } | { ran: false; error: string };

interface AuditVia {
  title?: string;
  url?: string;
  severity?: string;
  range?: string;
}

interface AuditJson {
  auditReportVersion?: number;
  vulnerabilities?: Record<
    string,
    {
      severity: string;
      range: string;
      via: Array<string | AuditVia>;
      fixAvailable: boolean | { name: string; version: string; isSemVerMajor?: boolean };
    }
  >;
  metadata?: { vulnerabilities?: Record<string, number> };
  error?: { summary?: string; detail?: string };
  message?: string;
  statusCode?: number;
}

/** npm audit's --json output → its counts and the high and critical findings, or why none ran. */
export function readAudit(stdout: string): AuditResult {
  let json: AuditJson;
  try {
    json = JSON.parse(stdout) as AuditJson;
  } catch {
    return { ran: false, error: `npm audit printed no JSON report:\n${stdout.trim()}` };
  }
  if (json.auditReportVersion === undefined || !json.vulnerabilities) {
    const status = json.statusCode !== undefined ? ` (HTTP ${json.statusCode})` : '';
    return { ran: false, error: `${json.message ?? json.error?.summary ?? 'npm audit failed'}${status}` };
  }
  const serious: Finding[] = [];
  for (const [name, v] of Object.entries(json.vulnerabilities)) {
    if (v.severity !== 'high' && v.severity !== 'critical') continue;
    const advisories = v.via.map((via) =>
      typeof via === 'string' ? `through ${via}` : `${via.title ?? '?'} (${via.url ?? 'no url'}, ${via.range ?? '?'})`,
    );
    const fix =
      v.fixAvailable === false
        ? 'no fix available'
        : v.fixAvailable === true
          ? 'fix available'
          : `fix: ${v.fixAvailable.name}@${v.fixAvailable.version}${v.fixAvailable.isSemVerMajor ? ' (semver major)' : ''}`;
    serious.push({ name, severity: v.severity, range: v.range, advisories, fix });
  }
  return { ran: true, counts: json.metadata?.vulnerabilities ?? {}, serious };
}

/** The root package.json, every workspace's and yarn.lock, copied into dir. */
function copyManifests(dir: string): void {
  const root = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { workspaces?: string[] };
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(dir, 'package.json'));
  fs.copyFileSync(path.join(repoRoot, 'yarn.lock'), path.join(dir, 'yarn.lock'));
  for (const pattern of root.workspaces ?? []) {
    if (!pattern.endsWith('/*')) throw new Error(`workspace pattern ${pattern}: only "<dir>/*" is handled`);
    const parent = pattern.slice(0, -2);
    for (const entry of fs.readdirSync(path.join(repoRoot, parent))) {
      const manifest = path.join(parent, entry, 'package.json');
      if (!fs.existsSync(path.join(repoRoot, manifest))) continue;
      fs.mkdirSync(path.join(dir, parent, entry), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, manifest), path.join(dir, manifest));
    }
  }
}

/** The environment without the npm_config_* variables yarn sets for its scripts: npm reads its own configuration. */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_config_/i.test(k)));
}

async function npm(dir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npm', args, { cwd: dir, env: npmEnv(), maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error('`npm` was not found on PATH: it comes with Node.js (see the README’s prerequisites)', {
        cause: err,
      });
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function main(argv: string[]): Promise<number> {
  const inventoryAt = argv.indexOf('--inventory');
  const inventoryFile = inventoryAt >= 0 ? argv[inventoryAt + 1] : undefined;
  if (inventoryAt >= 0 && !inventoryFile) throw new Error('--inventory needs a file to write');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mockstagram-audit-'));
  try {
    copyManifests(dir);
    const install = await npm(dir, ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund']);
    if (install.code !== 0) {
      console.error(`npm install --package-lock-only failed (exit ${install.code}):\n${install.stderr.trim()}`);
      return 2;
    }
    const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8')) as PackageLock;
    const strays = notFromYarnLock(lock, yarnLockVersions(fs.readFileSync(path.join(dir, 'yarn.lock'), 'utf8')));
    if (strays.length > 0) {
      console.error(
        `npm resolved ${strays.length} package(s) to versions yarn.lock does not have, so its audit would not be of what yarn installs:\n  ${strays.join('\n  ')}`,
      );
      return 2;
    }
    const inventory = productionInventory(lock);
    console.log(`production packages (npm's --omit=dev set, versions as yarn.lock resolves them): ${inventory.length}`);
    if (inventoryFile) {
      fs.writeFileSync(path.resolve(inventoryFile), `${inventory.join('\n')}\n`);
      console.log(`inventory written to ${inventoryFile}`);
    }

    const audit = await npm(dir, ['audit', '--omit=dev', '--json']);
    const result = readAudit(audit.stdout);
    if (!result.ran) {
      console.error(`no audit ran: ${result.error}`);
      if (audit.stderr.trim()) console.error(audit.stderr.trim());
      return 2;
    }
    console.log(
      `npm audit --omit=dev: ${Object.entries(result.counts)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
    );
    for (const f of result.serious) {
      console.log(`${f.severity.toUpperCase()} ${f.name} ${f.range} — ${f.fix}`);
      for (const a of f.advisories) console.log(`  ${a}`);
    }
    return result.serious.length > 0 ? 1 : 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(err.message);
      process.exit(2);
    },
  );
}

/**
 * Readers for the compose stack's files, for tests that check them without Docker: the compose file
 * (YAML with anchors and merge keys, Compose's `${VAR}` interpolation), the Dockerfile's stages and
 * instructions, .env.example, the README's port table, the workspaces and their config schemas.
 */
import fs from 'node:fs';
import path from 'node:path';
import { databaseEnv, logEnv, migrationEnv } from '@mockstagram/shared';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { apiEnv } from '@mockstagram/api';
import { fetcherEnv } from '@mockstagram/fetcher';
import { mockApiEnv } from '@mockstagram/mock-api';
import { resultHandlerEnv } from '@mockstagram/result-handler';
import { registryEnv, schedulerEnv } from '@mockstagram/scheduler';
import { APPS } from '../../scripts/build';

export const ROOT = path.resolve(__dirname, '..', '..');
export const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');
export const exists = (file: string): boolean => fs.existsSync(path.join(ROOT, file));

// ---------------------------------------------------------------------------------------------
// The compose file

export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string; target?: string; args?: Record<string, string> };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: Array<string | { target: number; published?: string | number; host_ip?: string; protocol?: string }>;
  expose?: Array<string | number>;
  volumes?: Array<string | { type?: string; source?: string; target: string }>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  logging?: { driver?: string; options?: Record<string, string> };
  restart?: string;
  container_name?: string;
  working_dir?: string;
  [key: string]: unknown;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
}

/** docker-compose.yml as YAML gives it (anchors and `<<` merge keys resolved), before interpolation. */
export function loadComposeRaw(): ComposeFile {
  return parseYaml(read('docker-compose.yml'), { merge: true }) as ComposeFile;
}

/**
 * The passwords docker-compose.yml requires from .env (`${NAME:?...}`, no default): the
 * timescaledb superuser's, one per database role (migrations/011_roles.sql), Grafana's admin's.
 */
export const PASSWORD_VARIABLES = [
  'POSTGRES_PASSWORD',
  'POSTGRES_MIGRATOR_PASSWORD',
  'POSTGRES_SCHEDULER_PASSWORD',
  'POSTGRES_RESULT_HANDLER_PASSWORD',
  'POSTGRES_READER_PASSWORD',
  'GRAFANA_ADMIN_PASSWORD',
] as const;

/** A .env with only the passwords, each a distinct value, for reading the file as `up` would. */
export const TEST_PASSWORDS: Record<string, string> = Object.fromEntries(
  PASSWORD_VARIABLES.map((name) => [name, `test-${name.toLowerCase().replace(/_/g, '-')}`]),
);

/**
 * docker-compose.yml after Compose's interpolation with `env` over {@link TEST_PASSWORDS}
 * (default: only the passwords set, so every other default applies).
 */
export function loadCompose(env: Record<string, string> = {}): ComposeFile {
  return interpolateDeep(loadComposeRaw(), { ...TEST_PASSWORDS, ...env }) as ComposeFile;
}

/** One `${...}` / `$NAME` reference found in a string. */
export interface VariableReference {
  name: string;
  /** `:-`, `-`, `:?`, `?`, `:+`, `+`, or '' for a bare `${NAME}` / `$NAME`. */
  operator: string;
  /** The text after the operator (the default, the error message or the alternative). */
  argument: string;
}

/**
 * Compose's interpolation (https://docs.docker.com/reference/compose-file/interpolation/):
 * `$$` is a literal `$`; `${NAME}` / `$NAME`; `${NAME:-default}` (unset or empty), `${NAME-default}`
 * (unset); `${NAME:?message}`, `${NAME?message}` fail; `${NAME:+alt}`, `${NAME+alt}` substitute
 * when set. Nested references inside an argument are interpolated too.
 */
export function interpolate(text: string, env: Record<string, string>, found?: VariableReference[]): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      // find the matching brace (arguments may hold nested ${...})
      let depth = 1;
      let j = i + 2;
      for (; j < text.length && depth > 0; j++) {
        if (text[j] === '{') depth++;
        else if (text[j] === '}') depth--;
      }
      if (depth !== 0) throw new Error(`unterminated \${ in ${JSON.stringify(text)}`);
      const body = text.slice(i + 2, j - 1);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(body);
      if (!m) throw new Error(`invalid interpolation \${${body}} in ${JSON.stringify(text)}`);
      const [, name, operator = '', argument = ''] = m;
      found?.push({ name: name, operator, argument });
      const value = env[name];
      const set = value !== undefined;
      const nonEmpty = set && value !== '';
      const arg = () => interpolate(argument, env, found);
      switch (operator) {
        case '':
          out += value ?? '';
          break;
        case ':-':
          out += nonEmpty ? value : arg();
          break;
        case '-':
          out += set ? value : arg();
          break;
        case ':?':
        case '?':
          if (operator === ':?' ? !nonEmpty : !set)
            throw new Error(`required variable ${name} is missing: ${argument}`);
          out += value;
          break;
        case ':+':
          out += nonEmpty ? arg() : '';
          break;
        case '+':
          out += set ? arg() : '';
          break;
      }
      i = j;
      continue;
    }
    const bare = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (bare) {
      found?.push({ name: bare[0], operator: '', argument: '' });
      out += env[bare[0]] ?? '';
      i += 1 + bare[0].length;
      continue;
    }
    out += c; // a lone `$` stays
    i++;
  }
  return out;
}

/** Interpolates every string value (not keys) of a parsed YAML document. */
export function interpolateDeep(value: unknown, env: Record<string, string>, found?: VariableReference[]): unknown {
  if (typeof value === 'string') return interpolate(value, env, found);
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, env, found));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, env, found)]));
  }
  return value;
}

/** Every `${...}` reference in the compose file (the `x-` blocks included). */
export function composeVariableReferences(): VariableReference[] {
  const found: VariableReference[] = [];
  interpolateDeep(loadComposeRaw(), TEST_PASSWORDS, found);
  return found;
}

export function dependsOn(service: ComposeService): Record<string, string> {
  const d = service.depends_on;
  if (!d) return {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v.condition]));
}

export interface PublishedPort {
  hostIp?: string;
  published: number;
  target: number;
  protocol: string;
}

/** A service's `ports`, short or long syntax, as numbers (ranges are not used in this file). */
export function publishedPorts(service: ComposeService): PublishedPort[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object') {
      return {
        hostIp: p.host_ip,
        published: Number(p.published),
        target: Number(p.target),
        protocol: p.protocol ?? 'tcp',
      };
    }
    const [spec, protocol = 'tcp'] = p.split('/');
    const parts = spec.split(':');
    if (parts.length === 3)
      return { hostIp: parts[0], published: Number(parts[1]), target: Number(parts[2]), protocol };
    if (parts.length === 2) return { published: Number(parts[0]), target: Number(parts[1]), protocol };
    throw new Error(`port "${p}" publishes no fixed host port`);
  });
}

export function buildArgs(
  service: ComposeService,
): { context: string; dockerfile: string; target?: string; args: Record<string, string> } | undefined {
  const b = service.build;
  if (b === undefined) return undefined;
  if (typeof b === 'string') return { context: b, dockerfile: 'Dockerfile', args: {} };
  return { context: b.context ?? '.', dockerfile: b.dockerfile ?? 'Dockerfile', target: b.target, args: b.args ?? {} };
}

// ---------------------------------------------------------------------------------------------
// Dockerfiles

export interface Instruction {
  keyword: string;
  /** The rest of the instruction, continuation lines joined with a space. */
  args: string;
}

export interface Stage {
  /** `FROM <image>` as written (before ARG substitution). */
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string | undefined>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trimEnd();
    if (pending === '' && /^\s*#/.test(line)) continue; // comment (or parser directive)
    if (pending !== '' && /^\s*#/.test(line)) continue; // comment inside a continuation
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1).trim() + ' ';
      continue;
    }
    const full = (pending + line.trim()).trim();
    pending = '';
    if (full === '') continue;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(full)!;
    instructions.push({ keyword: m[1].toUpperCase(), args: m[2].trim() });
  }
  const globalArgs: Record<string, string | undefined> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`cannot read FROM ${ins.args}`);
      stages.push({ from: m[1], name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword === 'ARG') {
        const [name, ...rest] = ins.args.split('=');
        globalArgs[name.trim()] = rest.length ? rest.join('=').trim() : undefined;
      }
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return { globalArgs, stages };
}

export function stage(dockerfile: Dockerfile, name: string): Stage {
  const s = dockerfile.stages.find((st) => st.name === name);
  if (!s) throw new Error(`the Dockerfile has no stage "${name}"`);
  return s;
}

/** The image a stage starts from, with global ARG defaults substituted; undefined when it is another stage. */
export function baseImage(dockerfile: Dockerfile, st: Stage): string | undefined {
  const image = st.from.replace(
    /\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g,
    (_m, name: string) => dockerfile.globalArgs[name] ?? '',
  );
  return dockerfile.stages.some((other) => other.name === image) ? undefined : image;
}

/** `CMD ["a", "b"]` → `a b`; shell form as written. */
export function execForm(args: string): string[] {
  return args.trim().startsWith('[') ? (JSON.parse(args) as string[]) : ['/bin/sh', '-c', args];
}

/** `COPY [--from=x] [--chown=y] src... dest` → { from, sources, dest }. */
export function copyArgs(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
  }
  const dest = words.pop()!;
  return { from, sources: words, dest };
}

/** An image reference pinned by a version tag (not `latest`) or a digest. */
export function isPinned(image: string): boolean {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const lastSegment = image.split('/').pop()!;
  const colon = lastSegment.lastIndexOf(':');
  if (colon < 0) return false;
  const tag = lastSegment.slice(colon + 1);
  return tag !== '' && tag !== 'latest' && /\d/.test(tag) && !tag.includes('$');
}

// ---------------------------------------------------------------------------------------------
// Workspaces, scripts, schemas

export interface Workspace {
  /** e.g. `apps/fetcher` */
  dir: string;
  pkg: {
    name: string;
    scripts?: Record<string, string>;
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
}

export const rootPackage = (): {
  workspaces: string[];
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
} => JSON.parse(read('package.json'));

/** Every workspace of the root package.json (its globs are `<dir>/*`). */
export function workspaces(): Workspace[] {
  const out: Workspace[] = [];
  for (const glob of rootPackage().workspaces) {
    const base = glob.replace(/\/\*$/, '');
    for (const entry of fs.readdirSync(path.join(ROOT, base)).sort()) {
      const dir = `${base}/${entry}`;
      if (exists(`${dir}/package.json`)) out.push({ dir, pkg: JSON.parse(read(`${dir}/package.json`)) });
    }
  }
  return out;
}

/** The apps, by compose service name (= folder name under apps/): the list `yarn build` builds. */
export { APPS };
export type App = (typeof APPS)[number];

/** Every variable each app reads: the keys of its config schema. */
export const APP_SCHEMAS: Record<App, z.ZodObject> = {
  'mock-api': mockApiEnv,
  scheduler: schedulerEnv,
  fetcher: fetcherEnv,
  'result-handler': resultHandlerEnv,
  api: apiEnv,
};

/** The variable holding the port of an app's HTTP server (/metrics, /healthz, /readyz). */
export const PORT_VARIABLES: Record<App, string> = {
  'mock-api': 'MOCK_API_PORT',
  scheduler: 'SCHEDULER_HTTP_PORT',
  fetcher: 'FETCHER_HTTP_PORT',
  'result-handler': 'RESULT_HANDLER_HTTP_PORT',
  api: 'API_HTTP_PORT',
};

/** What the one-shot services read: `yarn migrate` (migrate-cli.ts) and the register CLI (cli.ts). */
export const ONE_SHOT_VARIABLES: Record<'migrate' | 'register', string[]> = {
  migrate: [
    ...Object.keys(databaseEnv.shape),
    ...Object.keys(logEnv.shape),
    ...Object.keys(migrationEnv.shape),
    'MIGRATIONS_DIR',
  ],
  register: Object.keys(registryEnv.shape),
};

/** The default a schema gives a variable (parsing an empty environment). */
export function schemaDefault(schema: z.ZodObject, variable: string): unknown {
  return schema.safeParse({}).data?.[variable];
}

// ---------------------------------------------------------------------------------------------
// .env.example and README

export function readEnvExample(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of read('.env.example').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2]!;
  }
  return env;
}

/** Rows `| service | port |` of the README's "Ports" section: service as written, every number in the port cell. */
export function readmePortTable(): Array<{ service: string; ports: number[] }> | undefined {
  const text = read('README.md');
  const section = /^##+\s+Ports\s*$([\s\S]*?)(?=^##?\s|$(?![\s\S]))/m.exec(text);
  if (!section) return undefined;
  const rows: Array<{ service: string; ports: number[] }> = [];
  for (const line of section[1].split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || /^-+$/.test(cells[1]) || cells[1].toLowerCase() === 'service') continue;
    const ports = [...cells[2].matchAll(/\b\d{2,5}\b/g)].map((m) => Number(m[0]));
    rows.push({ service: cells[1].replace(/[`*]/g, ''), ports });
  }
  return rows.length ? rows : undefined;
}

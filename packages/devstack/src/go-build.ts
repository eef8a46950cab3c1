import fs from 'node:fs';
import path from 'node:path';
import { cacheDir } from './paths';
import { run } from './process';

/**
 * Tools the devstack builds from their own Go sources, fetched through the Go module proxy:
 * built once per pinned version into <cacheDir>/go/<name>-<version>/, outside the work tree,
 * and reused while every binary is there. `go install module@version` refuses these modules
 * (their go.mod has replace / exclude directives), so the module is downloaded with
 * `go mod download` and built inside its own tree, as its main module, with its own go.sum.
 */
export interface GoTool {
  /** Directory name in the cache and the word used in messages. */
  name: string;
  module: string;
  /** The module version; the cache is keyed by it. */
  version: string;
  /** Packages of the module to build, e.g. ./cmd/jaeger. The binary is named after the last path element. */
  packages: string[];
  /** `-X` flags, so `--version` prints the release the module version stands for. */
  ldflags?: string[];
}

/** Jaeger v2 (module v1.74.0 is the commit of Jaeger 2.11.0, compose's image). */
export const JAEGER: GoTool = {
  name: 'jaeger',
  module: 'github.com/jaegertracing/jaeger',
  version: 'v1.74.0',
  packages: ['./cmd/jaeger'],
  ldflags: ['-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v2.11.0'],
};

/** Prometheus and promtool (module v0.307.3 is the commit of Prometheus 3.7.3, compose's image). */
export const PROMETHEUS: GoTool = {
  name: 'prometheus',
  module: 'github.com/prometheus/prometheus',
  version: 'v0.307.3',
  packages: ['./cmd/prometheus', './cmd/promtool'],
  ldflags: [
    '-X github.com/prometheus/common/version.Version=3.7.3',
    '-X github.com/prometheus/common/version.Branch=v3.7.3',
  ],
};

export type Log = (message: string) => void;

const goInstallHint =
  'Install Go 1.24.6 or newer (https://go.dev/doc/install: unpack the release tarball into /usr/local/go and put ' +
  '/usr/local/go/bin on PATH), then run the command again. The first build fetches the sources through the Go module proxy.';

export function toolDir(tool: GoTool, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheDir(env), 'go', `${tool.name}-${tool.version}`);
}

/** Where the build of `tool` logs (kept after a failure). */
export function buildLog(tool: GoTool, env: NodeJS.ProcessEnv = process.env): string {
  return `${toolDir(tool, env)}.log`;
}

function binaryNames(tool: GoTool): string[] {
  return tool.packages.map((p) => path.posix.basename(p));
}

/** The tool's binaries by name when they are all built, otherwise undefined. */
export function builtBinaries(tool: GoTool, env: NodeJS.ProcessEnv = process.env): Record<string, string> | undefined {
  const dir = toolDir(tool, env);
  const entries = binaryNames(tool).map((name) => [name, path.join(dir, name)] as const);
  return entries.every(([, file]) => isExecutable(file)) ? Object.fromEntries(entries) : undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** Throws with how to install Go unless `go` runs. Returns its version line. */
export async function checkGo(): Promise<string> {
  try {
    const { code, output } = await run('go', ['version'], {});
    if (code !== 0) throw new Error(`\`go version\` exited with ${code}: ${output.trim()}. ${goInstallHint}`);
    return output.trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        `Go is required to build the devstack's Jaeger and Prometheus, but \`go\` was not found on PATH. ${goInstallHint}`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * The module's source tree in Go's module cache (read-only), downloaded through the module proxy
 * if it is not there yet. Also what tests read the tools' own defaults from.
 */
export async function moduleSource(tool: GoTool, logFile?: string): Promise<string> {
  await checkGo();
  const download = await run('go', ['mod', 'download', '-json', `${tool.module}@${tool.version}`], { logFile });
  // stdout is one JSON object; stderr (in the same output) may hold progress lines
  const dir = download.code === 0 ? /"Dir":\s*("(?:[^"\\]|\\.)*")/.exec(download.output)?.[1] : undefined;
  if (!dir) {
    const where = logFile ? `; see ${logFile}` : '';
    throw new Error(
      `${tool.name}: \`go mod download ${tool.module}@${tool.version}\` failed (exit ${download.code})${where}:\n${lastLines(download.output, 20)}`,
    );
  }
  return JSON.parse(dir) as string;
}

/** Builds in progress in this process, so concurrent callers share one build. */
const building = new Map<string, Promise<Record<string, string>>>();

/**
 * The tool's binaries, building them first when they are not in the cache. A failed build
 * throws with the end of its log and the log's path; nothing half-built is left in the cache.
 */
export function ensureGoTool(
  tool: GoTool,
  log: Log,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, string>> {
  const built = builtBinaries(tool, env);
  if (built) return Promise.resolve(built);
  const key = toolDir(tool, env);
  let pending = building.get(key);
  if (!pending) {
    pending = build(tool, log, env).finally(() => building.delete(key));
    building.set(key, pending);
  }
  return pending;
}

async function build(tool: GoTool, log: Log, env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const goVersion = await checkGo();
  const dir = toolDir(tool, env);
  const logFile = buildLog(tool, env);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  fs.writeFileSync(logFile, `${goVersion}\n`);
  const started = Date.now();
  log(
    `${tool.name}: building ${tool.module}@${tool.version} from source with Go (once; several minutes on a small machine; log: ${logFile})`,
  );

  const sourceDir = await moduleSource(tool, logFile);

  // Build next to the final directory and rename, so the cache holds a complete build or none.
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const args = ['build', '-trimpath', '-mod=readonly', '-o', `${tmp}${path.sep}`];
  if (tool.ldflags) args.push(`-ldflags=${tool.ldflags.join(' ')}`);
  const result = await run('go', [...args, ...tool.packages], { cwd: sourceDir, logFile });
  if (result.code !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(
      `${tool.name}: \`go build\` of ${tool.module}@${tool.version} failed (exit ${result.code}); see ${logFile}:\n${lastLines(result.output, 20)}`,
    );
  }
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    // Another process finished the same build first: keep its binaries.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!builtBinaries(tool, env)) throw err;
  }
  const binaries = builtBinaries(tool, env);
  if (!binaries)
    throw new Error(
      `${tool.name}: the build finished but ${dir} lacks ${binaryNames(tool).join(', ')}; see ${logFile}`,
    );
  log(`${tool.name}: built in ${((Date.now() - started) / 1000).toFixed(0)} s into ${dir}`);
  return binaries;
}

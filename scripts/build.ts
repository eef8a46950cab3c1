/**
 * `yarn build`: each app's `src/main.ts` → `apps/<app>/dist/main.js`, one CommonJS file per app
 * made by esbuild, which is what the apps' `start` scripts and the image run
 * (`node --max-old-space-size=128 --max-semi-space-size=8 dist/main.js`); and the two one-shots
 * the image runs besides them, bundled the same way (ONE_SHOTS), so the runtime image needs no
 * TypeScript loader at all.
 *
 * Why: run from TypeScript through tsx, a service carries tsx's loader (a second V8 isolate on
 * its own thread) and compiles at start, which costs memory (docs/performance.md, "What was
 * tuned": Memory).
 *
 * What is bundled: our own code, @mockstagram/shared included (it is TypeScript). Every other
 * package stays an ordinary `require` of node_modules, as from source, so the dependency versions
 * and files are exactly the installed ones. Type checking is `yarn typecheck`'s job; esbuild only
 * strips types. `yarn dev` runs the sources with tsx, jest through @swc/jest; the pipeline tests
 * and `yarn bench` build first and run the built files (jest's global setup, bench/cli.ts).
 *
 * The api also gets its page (`buildPage`): src/page/app.ts with its dependencies (uPlot)
 * bundled for the browser into apps/api/dist/public/page.js (+ page.css), beside index.html.
 *
 *   yarn build                 # all the apps and the one-shots
 *   yarn build fetcher         # some of them (apps or one-shots, by name)
 */
import fs from 'node:fs';
import path from 'node:path';
import { build, type Plugin } from 'esbuild';

export const APPS = ['mock-api', 'scheduler', 'fetcher', 'result-handler', 'api'] as const;

const repoRoot = path.resolve(__dirname, '..');

/** Bare imports stay `require`s, except our workspace packages, which are bundled. */
const dependenciesStayExternal: Plugin = {
  name: 'dependencies-stay-external',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@mockstagram/') ? undefined : { path: args.path, external: true },
    );
  },
};

/**
 * The one-shot commands the image runs (compose's `migrate` and `register` services), relative to
 * the repository: `yarn migrate` and the scheduler's CLI. Each output sits at the same depth as its
 * source, so paths the code resolves from __dirname (the migrations directory) stay right.
 */
export const ONE_SHOTS = {
  migrate: { entry: 'packages/shared/src/migrate-cli.ts', outfile: 'packages/shared/dist/migrate-cli.js' },
  register: { entry: 'apps/scheduler/src/cli.ts', outfile: 'apps/scheduler/dist/cli.js' },
} as const;
export type OneShot = keyof typeof ONE_SHOTS;

async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [path.join(repoRoot, entry)],
    outfile: path.join(repoRoot, outfile),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [dependenciesStayExternal],
  });
  console.log(`built ${outfile}`);
}

/** Builds `apps/<app>/dist/main.js` for each of `apps`. */
export async function buildApps(apps: readonly string[] = APPS): Promise<void> {
  for (const app of apps) {
    if (!(APPS as readonly string[]).includes(app))
      throw new Error(`unknown app "${app}"; expected one of ${APPS.join(', ')}`);
    await bundle(`apps/${app}/src/main.ts`, `apps/${app}/dist/main.js`);
    if (app === 'api') await buildPage();
  }
}

/** The api's page: one browser bundle with uPlot inside, and its HTML, into apps/api/dist/public. */
export async function buildPage(): Promise<void> {
  const pageDir = path.join(repoRoot, 'apps', 'api', 'src', 'page');
  const outdir = path.join(repoRoot, 'apps', 'api', 'dist', 'public');
  await build({
    entryPoints: { page: path.join(pageDir, 'app.ts') },
    outdir,
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
    minify: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  fs.copyFileSync(path.join(pageDir, 'index.html'), path.join(outdir, 'index.html'));
  console.log(`built ${path.relative(repoRoot, path.join(outdir, 'page.js'))}`);
}

/** Builds each one-shot's bundle (default: both). */
export async function buildOneShots(names: readonly OneShot[] = Object.keys(ONE_SHOTS) as OneShot[]): Promise<void> {
  for (const name of names) await bundle(ONE_SHOTS[name].entry, ONE_SHOTS[name].outfile);
}

async function main(names: string[]): Promise<void> {
  if (names.length === 0) {
    await buildApps();
    await buildOneShots();
    return;
  }
  const known = [...APPS, ...Object.keys(ONE_SHOTS)];
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0)
    throw new Error(`unknown app or one-shot "${unknown[0]}"; expected some of ${known.join(', ')}`);
  await buildApps(names.filter((n) => (APPS as readonly string[]).includes(n)));
  await buildOneShots(names.filter((n): n is OneShot => n in ONE_SHOTS));
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}

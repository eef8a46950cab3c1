/**
 * `yarn build`: each app's `src/main.ts` → `apps/<app>/dist/main.js`, one CommonJS file per app
 * made by esbuild, which is what the apps' `start` scripts and the image run
 * (`node --max-old-space-size=128 --max-semi-space-size=8 dist/main.js`).
 *
 * Why: run from TypeScript through tsx, a service carries tsx's loader (a second V8 isolate on
 * its own thread) and compiles at start; the fetcher sat at ~150 MiB RSS idle that way and
 * ~100 MiB from the built file (issue 5's memory target is 150 MB at peak).
 *
 * What is bundled: our own code, @mockstagram/shared included (it is TypeScript). Every other
 * package stays an ordinary `require` of node_modules, as from source, so the dependency versions
 * and files are exactly the installed ones. Type checking is `yarn typecheck`'s job; esbuild only
 * strips types. `yarn dev` and the unit tests run the sources with tsx; the pipeline tests and
 * `yarn bench` build first and run the built files (jest's global setup, bench/cli.ts).
 *
 * The api also gets its page (`buildPage`): src/page/app.ts with its dependencies (uPlot)
 * bundled for the browser into apps/api/dist/public/page.js (+ page.css), beside index.html.
 *
 *   yarn build                 # all the apps
 *   yarn build fetcher         # some of them
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
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@mockstagram/') ? undefined : { path: args.path, external: true }));
  },
};

/** Builds `apps/<app>/dist/main.js` for each of `apps`. */
export async function buildApps(apps: readonly string[] = APPS): Promise<void> {
  for (const app of apps) {
    if (!(APPS as readonly string[]).includes(app)) throw new Error(`unknown app "${app}"; expected one of ${APPS.join(', ')}`);
    const outfile = path.join(repoRoot, 'apps', app, 'dist', 'main.js');
    await build({
      entryPoints: [path.join(repoRoot, 'apps', app, 'src', 'main.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node24',
      sourcemap: 'linked',
      logLevel: 'warning',
      plugins: [dependenciesStayExternal],
    });
    console.log(`built ${path.relative(repoRoot, outfile)}`);
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

if (require.main === module) {
  buildApps(process.argv.length > 2 ? process.argv.slice(2) : APPS).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}

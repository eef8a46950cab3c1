/**
 * The Dockerfile builds and runs the apps the way the workspace scripts do: its install steps cover
 * every workspace manifest (so `--frozen-lockfile` sees the whole lockfile), it type-checks with the
 * root `typecheck` script and builds with the root `build` script, the runtime holds production
 * dependencies only, and no TypeScript tooling (tsx, esbuild) or sources: an app runs its `start`
 * script (its built `dist/main.js`), migrate and register their bundles (scripts/build.ts
 * ONE_SHOTS), as the non-root `node` user with a /healthz healthcheck on the app's port.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ONE_SHOTS } from '../../scripts/build';
import {
  ROOT,
  APP_SCHEMAS,
  APPS,
  PORT_VARIABLES,
  baseImage,
  buildArgs,
  copyArgs,
  execForm,
  isPinned,
  loadCompose,
  parseDockerfile,
  read,
  rootPackage,
  schemaDefault,
  stage,
  workspaces,
  type Stage,
} from './support';

const dockerfile = parseDockerfile(read('Dockerfile'));
const root = rootPackage();
const all = workspaces();
const byName = new Map(all.map((w) => [w.pkg.name, w]));
const compose = loadCompose();

const args = (st: Stage, keyword: string): string[] =>
  st.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const lastArgs = (st: Stage, keyword: string): string | undefined => args(st, keyword).pop();
/** The stage an instruction list inherits from, following FROM <stage> chains. */
const chain = (st: Stage): Stage[] => {
  const parent = dockerfile.stages.find((other) => other.name === st.from);
  return parent ? [...chain(parent), st] : [st];
};
const inherited = (st: Stage, keyword: string): string | undefined =>
  chain(st)
    .flatMap((s) => args(s, keyword))
    .pop();
const manifestsCopied = (st: Stage): string[] =>
  args(st, 'COPY')
    .map(copyArgs)
    .filter((c) => c.from === undefined)
    .flatMap((c) => c.sources)
    .sort();

/** The apps plus the workspaces they depend on at run time (dependencies, not devDependencies). */
function runtimeWorkspaces(): string[] {
  const out = new Set<string>();
  const visit = (dir: string) => {
    if (out.has(dir)) return;
    out.add(dir);
    const ws = all.find((w) => w.dir === dir)!;
    for (const dep of Object.keys(ws.pkg.dependencies ?? {})) {
      const target = byName.get(dep);
      if (target) visit(target.dir);
    }
  };
  APPS.forEach((app) => visit(`apps/${app}`));
  return [...out].sort();
}

test('stages: deps -> build (type check) and prod-deps -> runtime-base -> migrate / app (the default target, last)', () => {
  expect(dockerfile.stages.map((s) => s.name)).toEqual([
    'deps',
    'build',
    'prod-deps',
    'runtime-base',
    'migrate',
    'app',
  ]);
  expect(stage(dockerfile, 'build').from).toBe('deps');
});

test('every image it starts from is pinned: node 24 (LTS) on Debian bookworm (slim), by version', () => {
  const images = dockerfile.stages.map((s) => baseImage(dockerfile, s)).filter((i): i is string => i !== undefined);
  expect(images.length).toBeGreaterThan(0);
  for (const image of images) {
    expect(isPinned(image)).toBe(true);
    expect(image).toMatch(/^node:24\.\d+\.\d+-bookworm-slim$/);
  }
});

test('deps copies package.json of the root and of every workspace, and yarn.lock, then installs them frozen', () => {
  const deps = stage(dockerfile, 'deps');
  expect(manifestsCopied(deps)).toEqual(
    ['package.json', 'yarn.lock', ...all.map((w) => `${w.dir}/package.json`)].sort(),
  );
  const install = args(deps, 'RUN').find((r) => r.includes('yarn install'));
  expect(install).toMatch(/yarn install --frozen-lockfile\b/);
  expect(install).not.toMatch(/--production/);
});

test('build runs only root scripts that exist, the type check and the build among them', () => {
  const runs = args(stage(dockerfile, 'build'), 'RUN');
  const scripts = runs.flatMap((r) => [...r.matchAll(/\byarn (?:run )?([a-z][\w:-]*)/g)].map((m) => m[1]));
  expect(scripts).toContain('typecheck');
  expect(scripts).toContain('build');
  for (const script of scripts) expect(root.scripts).toHaveProperty([script]);
});

test('prod-deps installs production dependencies only, of the apps and the workspaces they need', () => {
  const prod = stage(dockerfile, 'prod-deps');
  expect(manifestsCopied(prod)).toEqual(
    ['package.json', 'yarn.lock', ...runtimeWorkspaces().map((d) => `${d}/package.json`)].sort(),
  );
  expect(args(prod, 'RUN').find((r) => r.includes('yarn install'))).toMatch(
    /yarn install --frozen-lockfile --production\b/,
  );
});

test('runtime-base: production node_modules, the built apps and one-shots and the migrations, no sources; NODE_ENV=production, user node, SIGTERM', () => {
  const base = stage(dockerfile, 'runtime-base');
  const copies = args(base, 'COPY').map(copyArgs);
  expect(copies).toContainEqual({ from: 'prod-deps', sources: ['/app'], dest: './' });
  const fromBuild = copies.filter((c) => c.from === 'build').flatMap((c) => c.sources);
  for (const name of APPS) expect(fromBuild).toContain(`/app/apps/${name}/dist`);
  for (const { outfile } of Object.values(ONE_SHOTS))
    expect(fromBuild).toContain(`/app/${path.posix.dirname(outfile)}`);
  expect(fromBuild).toContain('/app/migrations');
  expect(fromBuild.filter((f) => /\/src$|tsconfig/.test(f))).toEqual([]);
  expect(copies.filter((c) => c.from === undefined)).toEqual([]); // nothing unchecked from the context
  expect(args(base, 'ENV').join(' ')).toMatch(/\bNODE_ENV=production\b/);
  expect(args(base, 'ENV').join(' ')).toMatch(/\bPATH=\/app\/node_modules\/\.bin:/);
  expect(lastArgs(base, 'USER')).toBe('node');
  expect(lastArgs(base, 'STOPSIGNAL')).toBe('SIGTERM');
});

/** Every package a `yarn install --production` of these workspaces installs: their dependencies, transitively. */
function productionPackages(): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string, from: string) => {
    if (seen.has(name) || name.startsWith('@mockstagram/')) return;
    // node's resolution: the nearest node_modules up from the requiring package
    let dir = from;
    let manifest: string | undefined;
    for (;;) {
      const candidate = path.join(dir, 'node_modules', name, 'package.json');
      if (fs.existsSync(candidate)) {
        manifest = candidate;
        break;
      }
      if (dir === ROOT || dir === path.dirname(dir)) break;
      dir = path.dirname(dir);
    }
    if (!manifest) return; // an optional dependency not installed on this platform
    seen.add(name);
    const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }))
      visit(dep, path.dirname(manifest));
  };
  for (const dir of runtimeWorkspaces()) {
    const ws = all.find((w) => w.dir === dir)!;
    for (const dep of Object.keys(ws.pkg.dependencies ?? {})) visit(dep, path.join(ROOT, dir));
  }
  return seen;
}

test('the runtime image carries no TypeScript tooling: no tsx, esbuild or typescript among the production dependencies', () => {
  const prod = productionPackages();
  expect(prod.size).toBeGreaterThan(20);
  expect(prod.has('pino')).toBe(true);
  expect(['tsx', 'esbuild', 'typescript', '@swc/core'].filter((p) => prod.has(p))).toEqual([]);
});

test('the one-shots the image runs are bundles `yarn build` makes, beside the apps', () => {
  const build = stage(dockerfile, 'build');
  expect(args(build, 'RUN').join(' ')).toMatch(/yarn build\b(?! \S)/); // all of it, not some apps
  expect(ONE_SHOTS.migrate.entry).toBe(root.scripts.migrate.replace(/^tsx /, ''));
  const scheduler = byName.get('@mockstagram/scheduler')!;
  expect(`apps/scheduler/${scheduler.pkg.scripts!.register.replace(/^tsx (\S+) register$/, '$1')}`).toBe(
    ONE_SHOTS.register.entry,
  );
});

test('migrate runs the bundled `yarn migrate` from /app', () => {
  const migrate = stage(dockerfile, 'migrate');
  expect(inherited(migrate, 'WORKDIR')).toBe('/app');
  expect(execForm(lastArgs(migrate, 'CMD')!)).toEqual(['node', ONE_SHOTS.migrate.outfile]);
  expect(inherited(migrate, 'USER')).toBe('node');
});

describe('app', () => {
  const app = stage(dockerfile, 'app');

  test('APP is a build argument that picks the app directory, checked against the apps that exist', () => {
    expect(args(app, 'ARG')).toContain('APP');
    expect(args(app, 'ENV')).toContain('APP=${APP}');
    expect(lastArgs(app, 'WORKDIR')).toBe('/app/apps/${APP}');
    const check = args(app, 'RUN').find((r) => r.startsWith('case "${APP}"'));
    const listed = /case "\$\{APP\}" in\s+([\w|-]+)\)/.exec(check ?? '')?.[1]?.split('|');
    expect(listed?.sort()).toEqual(
      all
        .filter((w) => w.dir.startsWith('apps/'))
        .map((w) => w.dir.slice('apps/'.length))
        .sort(),
    );
  });

  test.each(APPS)("%s: the command is the app's `start` script", (name) => {
    const ws = all.find((w) => w.dir === `apps/${name}`)!;
    expect(execForm(lastArgs(app, 'CMD')!).join(' ')).toBe(ws.pkg.scripts?.start);
  });

  test("the healthcheck asks /healthz on each app's port variable, with its config default", () => {
    const healthcheck = lastArgs(app, 'HEALTHCHECK')!;
    expect(healthcheck).toMatch(/\/healthz/);
    const table = Object.fromEntries(
      [...healthcheck.matchAll(/'?([a-z-]+)'?: \['([A-Z_]+)', (\d+)\]/g)].map((m) => [m[1], [m[2], Number(m[3])]]),
    );
    for (const name of APPS) {
      expect([name, table[name]]).toEqual([
        name,
        [PORT_VARIABLES[name], schemaDefault(APP_SCHEMAS[name], PORT_VARIABLES[name])],
      ]);
    }
  });

  test('runs as node', () => {
    expect(inherited(app, 'USER')).toBe('node');
  });
});

describe('docker-compose.yml uses the stages as the scripts do', () => {
  test.each(APPS)(
    '%s is built as target app with APP set to its name and keeps its command (the start script)',
    (name) => {
      const service = compose.services[name];
      expect(buildArgs(service)).toEqual({
        context: '.',
        dockerfile: 'Dockerfile',
        target: 'app',
        args: { APP: name },
      });
      expect(service.command).toBeUndefined();
      expect(service.entrypoint).toBeUndefined();
    },
  );

  test('migrate is built as target migrate and keeps its command (the root migrate script)', () => {
    const service = compose.services.migrate;
    expect(buildArgs(service)).toEqual({ context: '.', dockerfile: 'Dockerfile', target: 'migrate', args: {} });
    expect(service.command).toBeUndefined();
  });

  test("register runs the scheduler's bundled CLI (its `register` script, built) in the scheduler image", () => {
    const service = compose.services.register;
    expect(buildArgs(service)).toEqual({
      context: '.',
      dockerfile: 'Dockerfile',
      target: 'app',
      args: { APP: 'scheduler' },
    });
    // the app stage's working directory is apps/<APP>
    const built = path.posix.relative('apps/scheduler', ONE_SHOTS.register.outfile);
    expect(([] as string[]).concat(service.command ?? []).join(' ')).toContain(`exec node ${built} register `);
  });
});

test('.dockerignore keeps host node_modules, .git, .env and the devstack data out of the build context', () => {
  const ignored = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const pattern of ['**/node_modules', '.git', '.env', '.devstack']) expect(ignored).toContain(pattern);
  // the type check needs the sources, tests and benches that tsconfig.json includes
  for (const needed of ['apps', 'packages', 'test', 'bench', 'tsconfig.json', 'migrations'])
    expect(ignored).not.toContain(needed);
});

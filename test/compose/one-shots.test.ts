/**
 * The one-shots the image runs, as it runs them: `node packages/shared/dist/migrate-cli.js` and,
 * from apps/scheduler, `node dist/cli.js register <range>` (scripts/build.ts ONE_SHOTS), built
 * here and run on the real TimescaleDB in a schema of their own, with no TypeScript loader.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ONE_SHOTS, buildOneShots } from '../../scripts/build';
import { freshSchema, type TestSchema } from '@mockstagram/testkit';
import { ROOT, loadCompose } from './support';

const run = promisify(execFile);
let db: TestSchema;

beforeAll(async () => {
  await buildOneShots();
  db = await freshSchema('oneshots');
}, 120_000);

afterAll(async () => {
  await db?.drop();
});

test('the bundles load nothing of tsx or esbuild', () => {
  for (const { outfile } of Object.values(ONE_SHOTS)) {
    const code = fs.readFileSync(path.join(ROOT, outfile), 'utf8');
    expect([outfile, /require\("(tsx|esbuild)[/"]/.test(code)]).toEqual([outfile, false]);
  }
});

test('migrate, then register as compose runs them: the schema is there and the influencers registered', async () => {
  const env = { PATH: process.env.PATH!, DATABASE_URL: db.url, LOG_LEVEL: 'warn' };
  // compose sets MIGRATIONS_DIR to the image's /app/migrations; here the default finds the repository's
  expect(loadCompose().services.migrate.environment!.MIGRATIONS_DIR).toBe('/app/migrations');
  await run(process.execPath, [ONE_SHOTS.migrate.outfile], { cwd: ROOT, env });
  const { rows: tables } = await db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('influencers', 'follower_counts')",
    [db.schema],
  );
  expect(tables[0].n).toBe(2);

  const cwd = path.join(ROOT, 'apps', 'scheduler');
  const { stdout } = await run(
    process.execPath,
    [path.relative(cwd, path.join(ROOT, ONE_SHOTS.register.outfile)), 'register', '1000000-1000009'],
    { cwd, env },
  );
  expect(stdout).toMatch(/10/);
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM influencers WHERE active');
  expect(rows[0].n).toBe(10);
}, 120_000);

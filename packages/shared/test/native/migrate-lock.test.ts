/**
 * Two `yarn migrate` processes at once on a real server: the advisory lock lets one apply the
 * migrations while the other waits, and every migration is applied exactly once. (On PGlite
 * every connection shares one session, whose advisory locks are re-entrant, so the lock cannot
 * exclude there: this runs on the native engine only.)
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { freshSchema, type TestSchema } from '@mockstagram/testkit';
import { MIGRATION_LOCK_ID, readMigrations } from '../../src/migrate';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
let db: TestSchema;

beforeAll(async () => {
  db = await freshSchema('migrate_lock');
});
afterAll(async () => {
  await db?.drop();
});

interface Run {
  code: number | null;
  lines: { msg?: string; applied?: string[] }[];
}

/** `yarn migrate` as a process; `onLine` sees each log line as it is written. */
function migrateProcess(onLine: (msg: string) => void): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'packages/shared/src/migrate-cli.ts')], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Run['lines'] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts.filter(Boolean)) {
      const line = JSON.parse(part) as Run['lines'][number];
      lines.push(line);
      onLine(line.msg ?? '');
    }
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, lines })));
}

test('while the lock is held both runs wait; released, one applies every migration and the other none', async () => {
  const holder = new Client({ connectionString: db.url });
  await holder.connect();
  try {
    await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    let waiting = 0;
    let onBothWaiting: () => void = () => undefined;
    const bothWaiting = new Promise<void>((resolve) => (onBothWaiting = resolve));
    const seen = (msg: string) => {
      if (/holds the lock; waiting/.test(msg) && ++waiting === 2) onBothWaiting();
    };
    const runs = [migrateProcess(seen), migrateProcess(seen)];
    await bothWaiting;
    // Nothing was applied while the lock was held by someone else.
    const before = await holder.query(`SELECT to_regclass($1) AS t`, [`"${db.schema}".schema_migrations`]);
    expect(before.rows[0].t).toBeNull();
    await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);

    const [a, b] = await Promise.all(runs);
    expect([a.code, b.code]).toEqual([0, 0]);
    const appliedBy = [a, b].map((r) => r.lines.find((l) => l.applied !== undefined)?.applied ?? []);
    const expected = readMigrations().map((m) => m.name);
    expect(appliedBy.map((list) => list.length).sort()).toEqual([0, expected.length]);
    expect(appliedBy.flat()).toEqual(expected);

    const { rows } = await holder.query<{ version: number; n: string }>(
      'SELECT version, count(*) AS n FROM schema_migrations GROUP BY version ORDER BY version',
    );
    expect(rows.map((r) => [r.version, Number(r.n)])).toEqual(readMigrations().map((m) => [m.version, 1]));
  } finally {
    await holder.end();
  }
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MigrationError, readMigrations, splitStatements } from '../src/migrate';

function dirWith(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('readMigrations', () => {
  it('orders files numerically and notes the no-transaction marker', () => {
    const dir = dirWith({
      '10_later.sql': 'SELECT 10;',
      '002_b.sql': '-- migrate:no-transaction\nSELECT 2;',
      '001_a.sql': 'SELECT 1;',
      'README.md': 'ignored',
    });
    const ms = readMigrations(dir);
    expect(ms.map((m) => [m.version, m.name, m.transactional])).toEqual([
      [1, '001_a.sql', true],
      [2, '002_b.sql', false],
      [10, '10_later.sql', true],
    ]);
    expect(ms[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects badly named and duplicate files', () => {
    expect(() => readMigrations(dirWith({ 'add_index.sql': '' }))).toThrow(MigrationError);
    expect(() => readMigrations(dirWith({ 'add_index.sql': '' }))).toThrow('must be named NNN_name.sql');
    expect(() => readMigrations(dirWith({ '001_a.sql': '', '1_b.sql': '' }))).toThrow('have the same number 1');
  });

  it('reads the repository migrations', () => {
    const names = readMigrations().map((m) => m.name);
    expect(names[0]).toBe('001_timescaledb.sql');
    expect(names).toContain('003_follower_counts.sql');
  });
});

describe('splitStatements', () => {
  it('splits at top-level semicolons only', () => {
    const sql = `
      -- a comment; with a semicolon
      CREATE TABLE t (a text DEFAULT 'x;y', "odd;name" int);
      /* block; /* nested; */ still comment; */
      CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
      SELECT 'it''s; fine', $$;$$;
      -- trailing comment only
    `;
    expect(splitStatements(sql)).toEqual([
      `-- a comment; with a semicolon
      CREATE TABLE t (a text DEFAULT 'x;y', "odd;name" int)`,
      `/* block; /* nested; */ still comment; */
      CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql`,
      `SELECT 'it''s; fine', $$;$$`,
    ]);
  });

  it('keeps a last statement without a semicolon', () => {
    expect(splitStatements('SELECT 1; SELECT $1')).toEqual(['SELECT 1', 'SELECT $1']);
  });
});

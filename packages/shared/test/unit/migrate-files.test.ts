import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MigrationError, readMigrations } from '../../src/migrate';

function dirWith(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('readMigrations', () => {
  it('orders files numerically', () => {
    const dir = dirWith({
      '10_later.sql': 'SELECT 10;',
      '002_b.sql': 'SELECT 2;',
      '001_a.sql': 'SELECT 1;',
      'README.md': 'ignored',
    });
    const ms = readMigrations(dir);
    expect(ms.map((m) => [m.version, m.name])).toEqual([
      [1, '001_a.sql'],
      [2, '002_b.sql'],
      [10, '10_later.sql'],
    ]);
    expect(ms[0].checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects badly named and duplicate files', () => {
    expect(() => readMigrations(dirWith({ 'add_index.sql': '' }))).toThrow(MigrationError);
    expect(() => readMigrations(dirWith({ 'add_index.sql': '' }))).toThrow('must be named NNN_name.sql');
    expect(() => readMigrations(dirWith({ '001_a.sql': '', '1_b.sql': '' }))).toThrow('have the same number 1');
  });

  it('refuses a file marked to run outside a transaction, naming it', () => {
    const dir = dirWith({ '001_a.sql': 'SELECT 1;', '002_b.sql': '-- migrate:no-transaction\nSELECT 2;' });
    expect(() => readMigrations(dir)).toThrow(MigrationError);
    expect(() => readMigrations(dir)).toThrow(
      /^002_b\.sql: "-- migrate:no-transaction" is not supported; every file runs in one transaction/,
    );
  });

  it('reads the repository migrations', () => {
    const names = readMigrations().map((m) => m.name);
    expect(names[0]).toBe('001_timescaledb.sql');
    expect(names).toContain('003_follower_counts.sql');
  });
});

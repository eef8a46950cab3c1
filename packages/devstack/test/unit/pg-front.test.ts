import { serialize } from 'pg-protocol';
import {
  errorResponse,
  firstValue,
  parameterStatus,
  readCString,
  readyForQuery,
  summarize,
  withName,
} from '../../src/pg-front/codec';
import { Baton } from '../../src/pg-front/ownership';
import { parseStartupOptions } from '../../src/pg-front/settings';
import { copyFromStdin, settingStatement, splitStatements } from '../../src/pg-front/statements';

/** The pure parts of the PGlite wire front; the front itself is tested on PGlite (test/pglite). */

const one = (sql: string) => {
  const [statement, ...rest] = splitStatements(sql);
  expect(rest).toEqual([]);
  return statement;
};

/** A DataRow with one text column (or NULL). */
function dataRow(value: string | null): Buffer {
  const bytes = value === null ? Buffer.alloc(0) : Buffer.from(value);
  const body = Buffer.alloc(2 + 4 + bytes.length);
  body.writeInt16BE(1, 0);
  body.writeInt32BE(value === null ? -1 : bytes.length, 2);
  bytes.copy(body, 6);
  const head = Buffer.alloc(5);
  head[0] = 0x44;
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

describe('statements', () => {
  it('rewrites COPY ... FROM STDIN to read the blob, and tells binary from text', () => {
    expect(copyFromStdin(one('COPY t (a, b) FROM STDIN'))).toEqual({
      sql: "COPY t (a, b) FROM '/dev/blob'",
      binary: false,
    });
    expect(copyFromStdin(one('copy t from stdin with (format binary)'))).toEqual({
      sql: "copy t from '/dev/blob' with (format binary)",
      binary: true,
    });
    expect(copyFromStdin(one("COPY t FROM STDIN (FORMAT 'binary')"))?.binary).toBe(true);
  });

  it('does not take COPY TO STDOUT, or a COPY inside a literal or a comment, for COPY FROM STDIN', () => {
    expect(copyFromStdin(one('COPY t TO STDOUT'))).toBeUndefined();
    expect(copyFromStdin(one("SELECT 'COPY t FROM STDIN'"))).toBeUndefined();
    expect(copyFromStdin(one('/* COPY t FROM STDIN */ SELECT 1'))).toBeUndefined();
  });

  it('recognises plain session SET / RESET / DISCARD ALL, under their canonical names', () => {
    expect(settingStatement(one("SET search_path = 'a', public"))).toEqual({ kind: 'set', name: 'search_path' });
    expect(settingStatement(one('SET SESSION TIME ZONE UTC'))).toEqual({ kind: 'set', name: 'timezone' });
    expect(settingStatement(one("SET SCHEMA 'x'"))).toEqual({ kind: 'set', name: 'search_path' });
    expect(settingStatement(one('SET statement_timeout TO DEFAULT'))).toEqual({
      kind: 'reset',
      name: 'statement_timeout',
    });
    expect(settingStatement(one('RESET ALL'))).toEqual({ kind: 'reset', name: 'all' });
    expect(settingStatement(one('discard all'))).toEqual({ kind: 'reset', name: 'all' });
  });

  it('leaves alone what is not a session setting it can replay', () => {
    for (const sql of [
      'SET LOCAL search_path = x',
      'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
      'SET ROLE bob',
      'SET NAMES utf8',
      'RESET ROLE',
      "SELECT 'SET x = 1'",
    ]) {
      expect(settingStatement(one(sql))).toBeUndefined();
    }
  });
});

describe('startup options', () => {
  it('reads -c name=value and --name=value, with backslash-escaped spaces', () => {
    expect(
      parseStartupOptions('-c search_path=a,public --statement-timeout=5s -cwork_mem=4MB -c application_name=my\\ app'),
    ).toEqual([
      ['search_path', 'a,public'],
      ['statement_timeout', '5s'],
      ['work_mem', '4MB'],
      ['application_name', 'my app'],
    ]);
    expect(parseStartupOptions('-c novalue -x')).toEqual([]);
  });
});

describe('codec', () => {
  it('summarizes a response: the last ReadyForQuery status, and whether it holds an error', () => {
    expect(summarize(Buffer.concat([dataRow('x'), readyForQuery('T')]))).toEqual({ hasError: false, ready: 'T' });
    expect(summarize(Buffer.concat([errorResponse('ERROR', '22012', 'division by zero'), readyForQuery('E')]))).toEqual(
      { hasError: true, ready: 'E' },
    );
    expect(summarize(dataRow('x'))).toEqual({ hasError: false });
  });

  it('reads the first value of a response, undefined after an error', () => {
    expect(firstValue(Buffer.concat([dataRow('"$user", public'), dataRow('second'), readyForQuery('I')]))).toBe(
      '"$user", public',
    );
    expect(firstValue(Buffer.concat([dataRow(null), readyForQuery('I')]))).toBeNull();
    expect(firstValue(Buffer.concat([errorResponse('ERROR', '42704', 'nope'), readyForQuery('I')]))).toBeUndefined();
  });

  it('renames a statement inside a Parse message and keeps the rest byte for byte', () => {
    const parse = serialize.parse({ name: 'getUser', text: 'SELECT $1::int', types: [23] });
    const renamed = withName(parse, 5, 'c7_getUser');
    expect(readCString(renamed, 5)).toBe('c7_getUser');
    expect(Buffer.from(renamed)).toEqual(serialize.parse({ name: 'c7_getUser', text: 'SELECT $1::int', types: [23] }));
  });

  it('writes ParameterStatus and ReadyForQuery as PostgreSQL does', () => {
    expect(Buffer.from(parameterStatus('a', 'b'))).toEqual(Buffer.from([0x53, 0, 0, 0, 8, 0x61, 0, 0x62, 0]));
    expect(Buffer.from(readyForQuery('I'))).toEqual(Buffer.from([0x5a, 0, 0, 0, 5, 0x49]));
  });
});

describe('ownership', () => {
  it('grants the session first come first served, and a cancelled wait resolves false', async () => {
    const baton = new Baton();
    const [a, b, c] = [{}, {}, {}];
    const order: string[] = [];
    expect(await baton.acquire(a)).toBe(true);
    const bGot = baton.acquire(b).then((ok) => (order.push('b'), ok));
    const cGot = baton.acquire(c).then((ok) => (order.push('c'), ok));
    expect(baton.waiting).toBe(2);
    baton.cancel(c);
    expect(await cGot).toBe(false);
    baton.release(b); // not the holder: nothing happens
    expect(baton.holder).toBe(a);
    baton.release(a);
    expect(await bGot).toBe(true);
    expect(baton.holder).toBe(b);
    expect(order).toEqual(['c', 'b']);
  });
});

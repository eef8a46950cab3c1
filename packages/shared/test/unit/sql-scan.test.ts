import { maskSql, splitStatements } from '../../src/sql-scan';

const texts = (sql: string) => splitStatements(sql).map((s) => s.text.trim());

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
    expect(texts(sql)).toEqual([
      `-- a comment; with a semicolon
      CREATE TABLE t (a text DEFAULT 'x;y', "odd;name" int)`,
      `/* block; /* nested; */ still comment; */
      CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql`,
      `SELECT 'it''s; fine', $$;$$`,
    ]);
  });

  it('keeps a last statement without a semicolon; $1 is a parameter, not a dollar quote', () => {
    expect(texts('SELECT 1; SELECT $1')).toEqual(['SELECT 1', 'SELECT $1']);
  });

  it("gives each statement's offsets in the original text", () => {
    const sql = "SELECT 'a;b'; SELECT 2";
    expect(splitStatements(sql).map(({ start, end }) => sql.slice(start, end))).toEqual(["SELECT 'a;b'", ' SELECT 2']);
  });

  // The cases below are where the migration runner's former splitter and the wire front's lexer
  // disagreed; these are PostgreSQL's answers.

  it("reads a backslash-escaped quote inside E'...' as part of the string", () => {
    expect(texts("SELECT E'it\\'s; here'; SELECT 2")).toEqual(["SELECT E'it\\'s; here'", 'SELECT 2']);
    expect(texts("SELECT e'\\\\'; SELECT 2")).toEqual(["SELECT e'\\\\'", 'SELECT 2']);
  });

  it("treats a backslash in a plain '...' string as an ordinary character", () => {
    expect(texts("SELECT 'a\\'; SELECT 2")).toEqual(["SELECT 'a\\'", 'SELECT 2']);
  });

  it('opens no dollar quote at a $ that continues an identifier', () => {
    expect(texts('SELECT 1 AS x$y$; SELECT 2')).toEqual(['SELECT 1 AS x$y$', 'SELECT 2']);
  });

  it('leaves out a statement that is only a nested block comment', () => {
    expect(texts('SELECT 1; /* a /* b */ c; */')).toEqual(['SELECT 1']);
    expect(texts('/* a /* b */ c */ ; -- x\n')).toEqual([]);
  });

  it('runs an unterminated literal or comment to the end of the text', () => {
    expect(texts("SELECT 'open; SELECT 2")).toEqual(["SELECT 'open; SELECT 2"]);
    expect(texts('SELECT $t$ open; SELECT 2')).toEqual(['SELECT $t$ open; SELECT 2']);
    expect(texts('SELECT 1 /* open; SELECT 2')).toEqual(['SELECT 1 /* open; SELECT 2']);
  });
});

describe('maskSql', () => {
  it('blanks literals, quoted identifiers, dollar bodies and comments, keeping length and newlines', () => {
    const sql = `SET search_path = 'a;b', "Q"; -- c\nSELECT $x$ copy $x$ /* d */`;
    const masked = maskSql(sql);
    expect(masked).toHaveLength(sql.length);
    expect(masked).toBe(
      `SET search_path = '   ', " "; ${' '.repeat(4)}\nSELECT $x$${' '.repeat(6)}$x$ ${' '.repeat(7)}`,
    );
  });
});

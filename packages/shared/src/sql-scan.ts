/**
 * The one SQL lexer of the repository: finds what in a SQL text is code and what is a literal or a
 * comment, enough to split a text into statements and to recognise a statement by its keywords.
 * It follows PostgreSQL's rules: '...' (a quote inside doubled; with standard_conforming_strings,
 * the default, a backslash is literal except in E'...'), "..." identifiers, $tag$...$tag$ bodies
 * (a `$` that continues an identifier, as in `a$b$`, opens none), `--` to the end of the line and
 * nested block comments. Used by the devstack's PGlite wire front; it lives here so that the
 * migration runner can use the same one should it need to split a file.
 *
 * @module
 */

/**
 * The SQL with string literals, quoted identifiers, dollar-quoted bodies and comments replaced by
 * spaces (same length, so offsets still match the original).
 */
export function maskSql(sql: string): string {
  const out = sql.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < out.length; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < sql.length && depth > 0) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      blank(i, j);
      i = j;
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && i > 0 && /[eE]/.test(sql[i - 1]) && (i < 2 || !/[\w$]/.test(sql[i - 2]));
      let j = i + 1;
      while (j < sql.length) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j++;
      }
      blank(i + 1, j);
      i = j + 1;
    } else if (c === '$' && (i === 0 || !/[\w$]/.test(sql[i - 1]))) {
      const tag = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(i, i + 64));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        const stop = end < 0 ? sql.length : end;
        blank(i + tag[0].length, stop);
        i = end < 0 ? sql.length : end + tag[0].length;
      } else i++;
    } else i++;
  }
  return out.join('');
}

export interface Statement {
  /** Offsets in the original SQL. */
  start: number;
  end: number;
  text: string;
  masked: string;
}

/** The statements of `sql`, split at the semicolons outside literals and comments; empty ones (blank or only comments) left out. */
export function splitStatements(sql: string): Statement[] {
  const masked = maskSql(sql);
  const out: Statement[] = [];
  let start = 0;
  const push = (end: number) => {
    if (masked.slice(start, end).trim() !== '') {
      out.push({ start, end, text: sql.slice(start, end), masked: masked.slice(start, end) });
    }
  };
  for (let i = 0; i < masked.length; i++) {
    if (masked[i] === ';') {
      push(i);
      start = i + 1;
    }
  }
  push(masked.length);
  return out;
}

/**
 * The statements the wire front must recognise in what clients send: COPY ... FROM STDIN (which it
 * emulates) and plain session-level SET / RESET / DISCARD ALL (whose settings it replays per
 * connection). Matched on the statement with literals and comments masked (`@mockstagram/shared`'s
 * SQL lexer), so a keyword inside a string or a comment does not count.
 */
import type { Statement } from '@mockstagram/shared/sql-scan';

export { splitStatements, type Statement } from '@mockstagram/shared/sql-scan';

const COPY_FROM_STDIN = /^\s*copy\b[\s\S]*?\bfrom\s+(stdin)\b/i;

/** For a COPY ... FROM STDIN statement: the same statement reading '/dev/blob', and whether it is binary. */
export function copyFromStdin(statement: Statement): { sql: string; binary: boolean } | undefined {
  const match = COPY_FROM_STDIN.exec(statement.masked);
  if (!match) return undefined;
  const at = match.index + match[0].length - match[1].length;
  const sql = `${statement.text.slice(0, at)}'/dev/blob'${statement.text.slice(at + match[1].length)}`;
  const options = statement.masked.slice(at + match[1].length);
  const binary = /\bbinary\b/i.test(options) || /\bformat\s*\(?\s*'binary'/i.test(statement.text.slice(at));
  return { sql, binary };
}

const SET_STATEMENT =
  /^\s*set\s+(?:session\s+)?(?!local\b|transaction\b|constraints\b|role\b|session\b|characteristics\b)(time\s+zone|schema|[a-z_][\w.]*)\b/i;
const RESET_STATEMENT = /^\s*reset\s+(all|time\s+zone|session\s+authorization|role|[a-z_][\w.]*)\s*$/i;

export interface SettingChange {
  kind: 'set' | 'reset';
  /** Lower case; 'all' for RESET ALL / DISCARD ALL. */
  name: string;
}

/** A plain session-level SET or RESET (or DISCARD ALL, which resets all settings). */
export function settingStatement(statement: Statement): SettingChange | undefined {
  if (/^\s*discard\s+all\s*$/i.test(statement.masked)) return { kind: 'reset', name: 'all' };
  const canonical = (name: string) => {
    const n = name.toLowerCase().replace(/\s+/g, ' ');
    return n === 'time zone' ? 'timezone' : n === 'schema' ? 'search_path' : n;
  };
  const reset = RESET_STATEMENT.exec(statement.masked);
  if (reset) {
    const name = canonical(reset[1]);
    if (name === 'session authorization' || name === 'role') return undefined;
    return { kind: 'reset', name };
  }
  const set = SET_STATEMENT.exec(statement.masked);
  if (set) {
    const name = canonical(set[1]);
    if (name === 'names' || name === 'client_encoding') return undefined;
    if (/\b(to|=)\s*default\s*$/i.test(statement.masked)) return { kind: 'reset', name };
    return { kind: 'set', name };
  }
  return undefined;
}

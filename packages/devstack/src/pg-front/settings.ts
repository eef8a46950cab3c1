/**
 * Session settings, per connection, over the one Postgres session: startup parameters
 * (`options=-c search_path=...`, `application_name`, ...) and plain `SET` / `RESET` statements sent
 * as simple queries are remembered per connection and re-applied (or reset) when ownership passes to
 * a connection whose settings differ. Settings changed any other way (set_config(), SET LOCAL,
 * SET inside a function) are shared by all connections.
 */
import { errorMessagesOf, errorResponse, firstValue, FrontError, concat, summarize } from './codec';
import type { SettingChange } from './statements';

/** Runs one simple query on the Postgres session (the caller owns it). */
export type ExecQuery = (sql: string) => Promise<Uint8Array>;

/** A value no setting has: "changed, value not known". */
const UNKNOWN = '\u0000unknown';

/** `-c name=value` / `--name=value` pairs of the startup `options` parameter. */
export function parseStartupOptions(options: string): Array<[string, string]> {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < options.length; i++) {
    const c = options[i];
    if (c === '\\' && i + 1 < options.length) {
      word += options[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < words.length; i++) {
    let setting: string | undefined;
    if (words[i] === '-c') setting = words[++i];
    else if (words[i].startsWith('-c')) setting = words[i].slice(2);
    else if (words[i].startsWith('--')) setting = words[i].slice(2);
    if (!setting) continue;
    const eq = setting.indexOf('=');
    if (eq > 0) out.push([setting.slice(0, eq).toLowerCase().replace(/-/g, '_'), setting.slice(eq + 1)]);
  }
  return out;
}

/** Settings clients commonly change: their values at start are what a connection without them gets. */
export const BASELINE_SETTINGS = [
  'search_path',
  'timezone',
  'datestyle',
  'intervalstyle',
  'application_name',
  'client_min_messages',
  'statement_timeout',
  'lock_timeout',
  'extra_float_digits',
];

/** Startup parameters that are not settings (or that this front deliberately ignores). */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication', 'client_encoding']);

export const sqlLiteral = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** What this front has done to the Postgres session's settings; one per front, shared by its connections. */
export class SharedSettings {
  /**
   * Settings this front changed in the Postgres session, with their current value (UNKNOWN after a
   * RESET). A setting not in here has its baseline value.
   */
  readonly applied = new Map<string, string>();
  /** Each setting's value before any connection changed it: what a connection without it gets. */
  readonly baseline = new Map<string, string>();

  constructor(private readonly execQuery: ExecQuery) {}

  /** Record the current value of settings not seen before (the caller owns the session). */
  async learnBaselines(names: Iterable<string>): Promise<void> {
    for (const name of names) {
      if (this.baseline.has(name) || this.applied.has(name) || name === 'all') continue;
      const value = firstValue(await this.execQuery(`SELECT current_setting(${sqlLiteral(name)}, true)`));
      if (typeof value === 'string') this.baseline.set(name, value);
    }
  }
}

/** One connection's settings, and their replay onto the Postgres session. */
export class ConnectionSettings {
  /** Settings from the startup packet (parameters and `options`). */
  private readonly startup = new Map<string, string>();
  /** Settings this connection asked for (startup parameters, SET), as set_config() values. */
  private readonly wanted = new Map<string, string>();
  private checked = false;

  constructor(
    private readonly shared: SharedSettings,
    private readonly execQuery: ExecQuery,
  ) {}

  /** Take the settings of the startup packet. */
  fromStartup(params: Record<string, string>): void {
    for (const [name, value] of Object.entries(params)) {
      if (!NOT_SETTINGS.has(name.toLowerCase())) this.startup.set(name.toLowerCase(), value);
    }
    if (params.options) for (const [name, value] of parseStartupOptions(params.options)) this.startup.set(name, value);
    for (const [name, value] of this.startup) this.wanted.set(name, value);
  }

  /**
   * After SET/RESET statements of this connection ran: record the values as this connection's.
   * RESET goes back to the connection's startup value, else the server's baseline, as in Postgres
   * (PGlite's own RESET is not reliable: RESET search_path gives pg_catalog).
   */
  async remember(changes: SettingChange[]): Promise<void> {
    const { applied, baseline } = this.shared;
    for (const change of changes) {
      if (change.kind === 'reset') {
        const names =
          change.name === 'all'
            ? new Set([...baseline.keys(), ...applied.keys(), ...this.wanted.keys()])
            : [change.name];
        for (const name of names) {
          if (!baseline.has(name) && !applied.has(name)) continue; // never changed through this front
          const startup = this.startup.get(name);
          if (startup === undefined) this.wanted.delete(name);
          else this.wanted.set(name, startup);
          applied.set(name, UNKNOWN);
        }
        continue;
      }
      // Read the value back in set_config() form (e.g. a search_path list) to re-apply it later.
      const value = firstValue(await this.execQuery(`SELECT current_setting(${sqlLiteral(change.name)}, true)`));
      if (typeof value === 'string') {
        this.wanted.set(change.name, value);
        applied.set(change.name, value);
      }
    }
    await this.apply();
  }

  /**
   * Make the Postgres session's settings this connection's, if another connection changed them.
   * Resolves with the names it had to give up (empty when all applied).
   * @throws {@link FrontError} when the connection's own settings are invalid the first time (as
   *   Postgres refuses a connection with an invalid startup option).
   */
  async apply(): Promise<string[]> {
    const { applied, baseline } = this.shared;
    if (applied.size === 0 && this.wanted.size === 0) return [];
    await this.shared.learnBaselines([...this.wanted.keys()]);
    const changes: Array<[string, string]> = [];
    for (const name of new Set([...applied.keys(), ...this.wanted.keys()])) {
      const want = this.wanted.get(name) ?? baseline.get(name);
      if (want !== undefined && applied.get(name) !== want) changes.push([name, want]);
    }
    if (changes.length === 0) return [];

    const response = await this.execQuery(
      `SELECT ${changes.map(([n, v]) => `set_config(${sqlLiteral(n)}, ${sqlLiteral(v)}, false)`).join(', ')}`,
    );
    if (summarize(response).hasError) {
      // The whole SELECT failed, so nothing changed. The first time, refuse the connection; later
      // (a value that no longer applies) go on without it.
      const errors = errorMessagesOf(response);
      if (!this.checked) {
        throw new FrontError(
          concat(errors.length > 0 ? errors : [errorResponse('FATAL', '22023', 'invalid connection setting')]),
          'invalid setting',
        );
      }
      for (const [name] of changes) this.wanted.delete(name);
      return changes.map(([name]) => name);
    }
    this.checked = true;
    for (const [name, value] of changes) {
      if (value === baseline.get(name) && !this.wanted.has(name)) applied.delete(name);
      else applied.set(name, value);
    }
    return [];
  }
}

/**
 * What Grafana does to a PostgreSQL panel or variable query before the database sees it, done here
 * so a test can run the dashboards' SQL against a real TimescaleDB.
 *
 * Grafana works in two steps, and so does {@link expandSql}:
 * 1. In the browser, template variables are replaced (`$var`, `${var}`, `${var:format}`, `[[var]]`,
 *    and the built-ins `$__interval`, `$__interval_ms`, `$__from`, `$__to`, and in variable queries
 *    `$__searchFilter`). The PostgreSQL datasource formats a multi-value variable as quoted literals
 *    joined by commas (`'a','b'`), a single value as is.
 * 2. On the server (pkg/tsdb/grafana-postgresql-datasource/macros.go), `$__interval_ms`,
 *    `$__interval`, `$__unixEpochFrom()`, `$__unixEpochTo()` are replaced, then every `$__name(args)`
 *    macro. With `timescaledb: true` in the datasource, `$__timeGroup(col, 5m)` becomes
 *    `time_bucket('300.000s',col)`.
 *
 * Only what this repository's dashboards need (plus the trivial neighbours) is implemented. Anything
 * else — an unknown macro, a fill argument, an unknown format, or any `$...` left over at the end —
 * throws, so a dashboard that starts using something new fails its test until this file learns it.
 */

export interface VariableValue {
  /** Current value(s): a multi-value variable has an array (Grafana passes strings). */
  value: string | string[];
  /** The variable allows several values (Grafana quotes it in SQL even with one selected). */
  multi?: boolean;
  includeAll?: boolean;
}

export interface ExpandOptions {
  from: Date;
  to: Date;
  /** The panel interval Grafana computed ({@link panelIntervalMs}). */
  intervalMs: number;
  /** Dashboard variables by name. */
  variables?: Record<string, VariableValue>;
  /**
   * Only for variable queries: what the user typed in the drop-down ('' = nothing). Grafana then
   * defines `$__searchFilter` as the text followed by `%`, or `%` alone.
   */
  searchFilter?: string;
}

/** Grafana's template variable syntax (public/app/features/variables/utils.ts). */
const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^}]+))?(?::([^}]+))?}/g;
/** The server's macro syntax: `$name(args)`, args without ')'. */
const MACRO_REGEX = /\$([_a-zA-Z0-9]+)\(([^)]*)\)/g;

/** Expands `sql` the way Grafana would for the given time range, interval and variables. */
export function expandSql(sql: string, options: ExpandOptions): string {
  const browser = replaceVariables(sql, options);
  const server = replaceMacros(replaceIntervals(browser, options), options);
  const left = /\$\w+|\$\{[^}]*\}?|\[\[\w+/.exec(server);
  if (left) {
    throw new Error(
      `"${left[0]}" is left unexpanded (unknown variable or macro: teach test/grafana/grafana-sql.ts) in:\n${server}`,
    );
  }
  return server;
}

// ---------------------------------------------------------------------------------------------
// Step 1: template variables (browser)

function replaceVariables(sql: string, options: ExpandOptions): string {
  return sql.replace(
    VARIABLE_REGEX,
    (match, g1?: string, g2?: string, g3?: string, g4?: string, fieldPath?: string, g6?: string) => {
      const name = g1 ?? g2 ?? g4;
      const format = g3 ?? g6;
      if (name === undefined) return match;
      if (fieldPath !== undefined) throw new Error(`${match}: field paths are not supported by this expander`);
      const builtIn = builtInVariable(name, options);
      if (builtIn !== undefined) return format === undefined ? builtIn : formatValue(builtIn, format);
      const variable = options.variables?.[name];
      if (variable === undefined) return match; // Grafana leaves unknown names alone (macros, typos)
      return format === undefined ? sqlInterpolate(variable) : formatValue(variable.value, format);
    },
  );
}

function builtInVariable(name: string, options: ExpandOptions): string | undefined {
  switch (name) {
    case '__interval':
      return formatInterval(options.intervalMs);
    case '__interval_ms':
      return String(options.intervalMs);
    case '__from':
      return String(options.from.getTime());
    case '__to':
      return String(options.to.getTime());
    case '__searchFilter':
      return options.searchFilter === undefined ? undefined : `${options.searchFilter}%`;
    default:
      return undefined;
  }
}

/** The PostgreSQL datasource's `interpolateVariable` (the default format in SQL). */
function sqlInterpolate(variable: VariableValue): string {
  const { value } = variable;
  if (Array.isArray(value)) return value.map(quoteLiteral).join(',');
  return variable.multi || variable.includeAll ? quoteLiteral(value) : value;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Grafana's explicit formats (`${var:csv}` ...), those this expander knows. */
function formatValue(value: string | string[], format: string): string {
  const values = Array.isArray(value) ? value : [value];
  switch (format) {
    case 'csv':
    case 'raw':
      return values.join(',');
    case 'sqlstring':
      return values.map(quoteLiteral).join(',');
    case 'singlequote':
      return values.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(',');
    case 'doublequote':
      return values.map((v) => `"${v.replace(/"/g, '\\"')}"`).join(',');
    case 'pipe':
      return values.join('|');
    default:
      throw new Error(`variable format "${format}" is not supported by this expander`);
  }
}

// ---------------------------------------------------------------------------------------------
// Step 2: server-side interval replacement and macros

function replaceIntervals(sql: string, options: ExpandOptions): string {
  return sql
    .split('$__interval_ms')
    .join(String(options.intervalMs))
    .split('$__interval')
    .join(formatInterval(options.intervalMs))
    .split('$__unixEpochFrom()')
    .join(String(Math.floor(options.from.getTime() / 1000)))
    .split('$__unixEpochTo()')
    .join(String(Math.floor(options.to.getTime() / 1000)));
}

function replaceMacros(sql: string, options: ExpandOptions): string {
  return sql.replace(MACRO_REGEX, (match, name: string, rawArgs: string, offset: number) => {
    // Like Grafana: "$__timeGroup(...)," is the pre-5.3 spelling that adds the alias.
    const macro = name === '__timeGroup' && sql[offset + match.length] === ',' ? '__timeGroupAlias' : name;
    const args = rawArgs.split(',').map((a) => a.trim());
    return evaluateMacro(macro, args, options);
  });
}

function evaluateMacro(name: string, args: string[], { from, to }: ExpandOptions): string {
  const column = (): string => {
    if (args[0] === '') throw new Error(`missing time column argument for macro ${name}`);
    return args[0];
  };
  switch (name) {
    case '__time':
      return `${column()} AS "time"`;
    case '__timeEpoch':
      return `extract(epoch from ${column()}) as "time"`;
    case '__timeFilter':
      return `${column()} BETWEEN '${rfc3339(from)}' AND '${rfc3339(to)}'`;
    case '__timeFrom':
      return `'${rfc3339(from)}'`;
    case '__timeTo':
      return `'${rfc3339(to)}'`;
    case '__timeGroup': {
      if (args.length < 2) throw new Error(`macro ${name} needs time column and interval and optional fill value`);
      if (args.length > 2) throw new Error(`macro ${name}: fill modes are not supported by this expander`);
      const seconds = parseIntervalMs(args[1].replace(/^'+|'+$/g, '')) / 1000;
      return `time_bucket('${seconds.toFixed(3)}s',${column()})`; // the datasource has timescaledb: true
    }
    case '__timeGroupAlias':
      return `${evaluateMacro('__timeGroup', args, { from, to, intervalMs: 0 })} AS "time"`;
    case '__unixEpochFilter':
      return `${column()} >= ${Math.floor(from.getTime() / 1000)} AND ${column()} <= ${Math.floor(to.getTime() / 1000)}`;
    default:
      throw new Error(
        `unknown macro "$${name}" (Grafana would answer: unknown macro); teach test/grafana/grafana-sql.ts if it is real`,
      );
  }
}

// ---------------------------------------------------------------------------------------------
// Time and interval formats

/** Go's time.RFC3339Nano in UTC: no fractional part when it is zero, trailing zeros trimmed. */
export function rfc3339(time: Date): string {
  return time.toISOString().replace(/\.(\d*?)0*Z$/, (_m, digits: string) => (digits === '' ? 'Z' : `.${digits}Z`));
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/** gtime.ParseInterval for the plain forms: `<n><unit>` with ms, s, m, h, d, w, y. */
export function parseIntervalMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(text);
  if (!match) throw new Error(`error parsing interval ${text}`);
  return Number(match[1]) * UNIT_MS[match[2]];
}

/** How Grafana writes an interval: the largest unit that fits, floored (60000 → "1m"). */
export function formatInterval(ms: number): string {
  for (const unit of ['y', 'd', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit]) return `${Math.floor(ms / UNIT_MS[unit])}${unit}`;
  }
  return `${Math.max(1, Math.floor(ms))}ms`;
}

/** Grafana's rangeutil.roundInterval: the "nice" interval for a raw one, in ms. */
export function roundInterval(ms: number): number {
  const steps: [number, number][] = [
    [10, 1],
    [15, 10],
    [35, 20],
    [75, 50],
    [150, 100],
    [350, 200],
    [750, 500],
    [1500, 1000],
    [3500, 2000],
    [7500, 5000],
    [12500, 10000],
    [17500, 15000],
    [25000, 20000],
    [45000, 30000],
    [90000, 60000],
    [210000, 120000],
    [450000, 300000],
    [750000, 600000],
    [1050000, 900000],
    [1500000, 1200000],
    [2700000, 1800000],
    [5400000, 3600000],
    [9000000, 7200000],
    [16200000, 10800000],
    [32400000, 21600000],
    [86400000, 43200000],
    [604800000, 86400000],
    [1814400000, 604800000],
    [3628800000, 2592000000],
  ];
  for (const [below, nice] of steps) if (ms < below) return nice;
  return 31536000000;
}

/**
 * The interval Grafana gives a panel: (to − from) / max data points, rounded to a nice value, and
 * at least the datasource's minimum interval (`timeInterval`, 1 m for TimescaleDB here).
 */
export function panelIntervalMs(from: Date, to: Date, maxDataPoints: number, minIntervalMs: number): number {
  return Math.max(roundInterval((to.getTime() - from.getTime()) / maxDataPoints), minIntervalMs);
}

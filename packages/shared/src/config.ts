/**
 * Configuration from environment variables.
 *
 * A service describes its configuration as ONE zod object schema keyed by the environment
 * variable names themselves, with coercion and defaults written once, in the schema:
 *
 * ```ts
 * const schema = z.object({
 *   ...kafkaEnv.shape,
 *   ...logEnv.shape,
 *   FETCHER_CONCURRENCY: envVar.positiveInt(32),
 *   FETCHER_HTTP_PORT: envVar.port(8082),
 * });
 * const config = configOrExit(schema); // config.FETCHER_CONCURRENCY is a number
 * ```
 *
 * Empty variables (`FOO=`) count as unset, so a blank line in `.env` falls back to the default.
 * A renamed variable's old name can be accepted for one release (see {@link Renamed}).
 *
 * @module
 */
import { z } from 'zod';

/** Environment variables as Node gives them. */
export type Env = Record<string, string | undefined>;

/** One variable that failed validation. */
export interface ConfigProblem {
  /** The environment variable, e.g. `FETCHER_CONCURRENCY`. */
  variable: string;
  /** The raw value given, or `undefined` when the variable is not set. */
  value: string | undefined;
  /** What the variable must hold, e.g. `a positive integer`. */
  expected: string;
}

/**
 * Thrown by {@link loadConfig}. The message lists every bad variable on its own line, e.g.
 *
 * ```
 * invalid configuration:
 *   FETCHER_CONCURRENCY="abc": expected a positive integer
 *   DATABASE_URL is not set: expected a postgres:// URL
 * ```
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super(['invalid configuration:', ...problems.map((p) => `  ${formatProblem(p)}`)].join('\n'));
  }
}

/** `NAME="value": expected ...` (passwords in URLs are masked). */
export function formatProblem(p: ConfigProblem): string {
  return p.value === undefined
    ? `${p.variable} is not set: expected ${p.expected}`
    : `${p.variable}=${JSON.stringify(maskPassword(p.value))}: expected ${p.expected}`;
}

/**
 * Old variable name → its new name, for variables renamed within an app. The old name is
 * accepted for one release: {@link loadConfig} reads it when the new one is unset and reports
 * the rename through {@link ConfigOptions.onRenamed}; both set to different values is a
 * {@link ConfigError}.
 */
export type Renamed = Readonly<Record<string, string>>;

export interface ConfigOptions {
  /** Variables renamed in this release (see {@link Renamed}). */
  renamed?: Renamed;
  /**
   * Called once per load when old names were used, with one line naming each `old → new`.
   * Default: that line on stderr.
   */
  onRenamed?: (message: string) => void;
}

const writeLine = (line: string): void => void process.stderr.write(`${line}\n`);

/**
 * Validates `env` against `schema` and returns the typed, coerced, defaulted result.
 * Variables not named in the schema are ignored. Empty strings count as unset.
 *
 * @throws {@link ConfigError} naming every bad variable, the value given and what is expected.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Env = process.env,
  { renamed = {}, onRenamed = writeLine }: ConfigOptions = {},
): z.output<S> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const renameProblems: ConfigProblem[] = [];
  const used: string[] = [];
  const readFrom = new Map<string, string>(); // new name → the old name its value came from
  for (const [oldName, newName] of Object.entries(renamed)) {
    if (!(newName in schema.shape))
      throw new Error(`renamed: ${newName} (the new name of ${oldName}) is not in the schema`);
    const value = env[oldName];
    if (value === undefined || value === '') continue;
    used.push(`${oldName} → ${newName}`);
    if (input[newName] === undefined) {
      input[newName] = value;
      readFrom.set(newName, oldName);
    } else if (input[newName] !== value)
      renameProblems.push({
        variable: oldName,
        value,
        expected: `to be unset: it is the old name of ${newName}, which is set to ${JSON.stringify(
          maskPassword(input[newName]),
        )}`,
      });
  }
  if (renameProblems.length > 0) throw new ConfigError(renameProblems);
  if (used.length > 0) {
    const message = `deprecated environment variables (read for this release only; rename them): ${used.join(', ')}`;
    onRenamed(message);
  }

  const result = schema.safeParse(input);
  if (result.success) return result.data;

  const problems = new Map<string, ConfigProblem>();
  for (const issue of result.error.issues) {
    const variable = String(issue.path[0] ?? '(config)');
    if (problems.has(variable)) continue; // one line per variable is enough
    const field = schema.shape[variable] as z.ZodType | undefined;
    const expected = (field && expectation(field)) ?? issue.message;
    const oldName = readFrom.get(variable);
    problems.set(variable, {
      variable: oldName ?? variable,
      value: input[variable],
      expected: oldName ? `${expected} (it is the old name of ${variable})` : expected,
    });
  }
  throw new ConfigError([...problems.values()]);
}

/**
 * {@link loadConfig} for a `main.ts`: on a {@link ConfigError} prints it to stderr (and to the
 * logger, if given) and exits with code 2; any other error is rethrown.
 */
export function configOrExit<S extends z.ZodObject>(
  schema: S,
  {
    logger,
    env = process.env,
    ...options
  }: ConfigOptions & { logger?: { error(obj: object, msg: string): void }; env?: Env } = {},
): z.output<S> {
  try {
    return loadConfig(schema, env, options);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger?.error({ problems: err.problems }, 'invalid configuration');
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------------------------------------
// Building blocks for variables. Each carries a description used in error messages.

const intervalUnit =
  '(?:microseconds?|milliseconds?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|h|days?|d|weeks?|w|months?|mons?|years?|y)';
const intervalPattern = new RegExp(`^\\s*\\d+\\s*${intervalUnit}(?:\\s+\\d+\\s*${intervalUnit})*\\s*$`, 'i');

/** Schema builders for typical variables; each has its default as the argument. */
export const envVar = {
  /** A whole number > 0, e.g. a concurrency or batch size. */
  positiveInt: (defaultValue: number) =>
    z.coerce.number().int().positive().describe('a positive integer').default(defaultValue),
  /** A whole number >= 0, e.g. a delay in milliseconds that may be zero. */
  nonNegativeInt: (defaultValue: number) =>
    z.coerce.number().int().nonnegative().describe('an integer >= 0').default(defaultValue),
  /** A share or probability between 0 and 1. */
  ratio: (defaultValue: number) =>
    z.coerce.number().min(0).max(1).describe('a number between 0 and 1').default(defaultValue),
  /** A TCP port 0–65535 (0 lets the OS pick one, handy in tests). */
  port: (defaultValue: number) =>
    z.coerce.number().int().min(0).max(65535).describe('a TCP port (0-65535)').default(defaultValue),
  /** `true/false`, `1/0`, `yes/no`, `on/off` (unlike `z.coerce.boolean()`, "false" is false). */
  boolean: (defaultValue: boolean) => z.stringbool().describe('true or false').default(defaultValue),
  /**
   * The address an HTTP server listens on: an IP address or host name. Services default to
   * 127.0.0.1 (this machine only); a container sets 0.0.0.0 so its network's peers reach it.
   */
  host: (defaultValue: string) =>
    z
      .string()
      .regex(/^[A-Za-z0-9.:_-]+$/)
      .describe('an IP address or host name to listen on, e.g. 127.0.0.1 or 0.0.0.0')
      .default(defaultValue),
  /** A non-empty string. */
  string: (defaultValue: string) => z.string().min(1).describe('a non-empty string').default(defaultValue),
  /** Comma-separated list → `string[]` (items trimmed, empty items dropped); must not be empty. */
  list: (defaultValue: string) =>
    z
      .string()
      .default(defaultValue)
      .transform((s) =>
        s
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x.length > 0),
      )
      .pipe(z.array(z.string()).min(1))
      .describe('a comma-separated list, e.g. "a,b"'),
  /** A PostgreSQL interval of the form `<n> <unit>[ <n> <unit>...]`, e.g. `7 days`, `1 day 12 hours`. */
  interval: (defaultValue: string) =>
    z
      .string()
      .regex(intervalPattern)
      .describe('a PostgreSQL interval such as "7 days" or "12 hours"')
      .default(defaultValue),
};

/** Pino's levels, most to least severe; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `LOG_LEVEL` (default `info`). */
export const logEnv = z.object({
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
});

/**
 * Kafka connection and topic names. Every service that talks to Kafka spreads this in.
 *
 * - `KAFKA_BROKERS` — comma-separated `host:port` list → `string[]`. Default `127.0.0.1:9092`.
 * - `KAFKA_CLIENT_ID` — optional here; each service's schema makes its own name the default.
 * - `TOPIC_FETCH_JOBS` — default `mockstagram.fetch-jobs`.
 * - `TOPIC_FETCH_RESULTS` — default `mockstagram.fetch-results`.
 * - `TOPIC_DLQ` — default `mockstagram.dlq`.
 * - `TOPIC_PARTITIONS` — partitions a topic is created (or grown) with. Default 12.
 * - `KAFKA_TOPIC_REPLICATION_FACTOR` — replicas of each partition of a topic the services create.
 *   Default -1: the broker's `default.replication.factor` (1 on the one-node devstack, 3 on the
 *   three-node one), so one setting fits every cluster and the cluster's operators decide. An
 *   existing topic keeps its replication (Kafka changes it only by reassignment).
 * - `KAFKA_TOPIC_MIN_INSYNC_REPLICAS` — `min.insync.replicas` set on a topic the services create:
 *   the replicas an acks=all write must reach, else it fails with NOT_ENOUGH_REPLICAS instead of
 *   being acknowledged by too few. Unset (the default): no topic override, the broker's
 *   `min.insync.replicas` applies (and follows it when the operators change it).
 */
export const kafkaEnv = z.object({
  KAFKA_BROKERS: envVar.list('127.0.0.1:9092'),
  KAFKA_CLIENT_ID: z.string().min(1).describe('a non-empty string').optional(),
  TOPIC_FETCH_JOBS: envVar.string('mockstagram.fetch-jobs'),
  TOPIC_FETCH_RESULTS: envVar.string('mockstagram.fetch-results'),
  TOPIC_DLQ: envVar.string('mockstagram.dlq'),
  TOPIC_PARTITIONS: envVar.positiveInt(12),
  KAFKA_TOPIC_REPLICATION_FACTOR: z.coerce
    .number()
    .int()
    .refine((n) => n === -1 || (n >= 1 && n <= 32767))
    .describe("an integer from 1 to 32767, or -1 for the broker's default.replication.factor")
    .default(-1),
  KAFKA_TOPIC_MIN_INSYNC_REPLICAS: z.coerce
    .number()
    .int()
    .positive()
    .describe("a positive integer (empty = the broker's min.insync.replicas)")
    .optional(),
});

/**
 * PostgreSQL / TimescaleDB connection.
 *
 * - `DATABASE_URL` — default `postgres://postgres@127.0.0.1:6432/postgres` (the devstack).
 * - `DATABASE_POOL_SIZE` — max connections per process. Default 10.
 */
export const databaseEnv = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//)
    .describe('a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:6432/postgres'),
  DATABASE_POOL_SIZE: envVar.positiveInt(10),
});

/**
 * What `yarn migrate` reads (besides {@link databaseEnv} and {@link logEnv}).
 *
 * - `FOLLOWER_COUNTS_COMPRESS_AFTER` — chunks older than this are compressed. Default `7 days`.
 * - `FOLLOWER_COUNTS_RETAIN_FOR` — raw samples older than this are dropped. Default `365 days`.
 *
 * - `RANKINGS_REFRESH_EVERY` — how often the rank / average snapshot is rebuilt (008). Default `1 minute`.
 * - `SUSPICIOUS_DETECTION_EVERY` — how often suspicious detection runs (008). Default `1 day`.
 * - `SUSPICIOUS_DETECTION_AT` — its first run: this long after the next midnight UTC. Default `2 hours`.
 *
 * They are substituted into their migration when it is first applied; see migrations/README.md
 * for changing them on a database that already has them.
 */
export const migrationEnv = z.object({
  FOLLOWER_COUNTS_COMPRESS_AFTER: envVar.interval('7 days'),
  FOLLOWER_COUNTS_RETAIN_FOR: envVar.interval('365 days'),
  RANKINGS_REFRESH_EVERY: envVar.interval('1 minute'),
  SUSPICIOUS_DETECTION_EVERY: envVar.interval('1 day'),
  SUSPICIOUS_DETECTION_AT: envVar.interval('2 hours'),
});

/** The samplers `OTEL_TRACES_SAMPLER` accepts (the OpenTelemetry specification's built-in ones). */
export const TRACES_SAMPLERS = [
  'parentbased_traceidratio',
  'traceidratio',
  'parentbased_always_on',
  'always_on',
  'parentbased_always_off',
  'always_off',
] as const;
export type TracesSampler = (typeof TRACES_SAMPLERS)[number];

/**
 * Tracing (OpenTelemetry), read by every service's `src/telemetry.ts` before anything else is
 * loaded. The names are OpenTelemetry's standard ones, but the values are validated here (an
 * invalid one stops the service naming it) and handed to the SDK explicitly: the SDK's own
 * environment parsing would silently fall back to a default.
 *
 * - `OTEL_EXPORTER_OTLP_ENDPOINT` — OTLP/HTTP base URL, e.g. `http://jaeger:4318`; spans go to
 *   `<endpoint>/v1/traces`. Unset: spans are still created (log lines carry `trace_id` and
 *   `span_id`, context still crosses Kafka) but not exported.
 * - `OTEL_SERVICE_NAME` — the `service.name` resource attribute; unset = the service's own name
 *   (`scheduler`, `fetcher`, ...).
 * - `OTEL_TRACES_SAMPLER` — default `parentbased_traceidratio`: a trace started here is kept with
 *   probability `OTEL_TRACES_SAMPLER_ARG`; a span whose parent came from another service (Kafka
 *   headers) follows the parent's decision, so a job's trace is kept or dropped as a whole.
 * - `OTEL_TRACES_SAMPLER_ARG` — the ratio for the `*traceidratio` samplers, 0..1. Default 1.
 * - `DEPLOYMENT_ENVIRONMENT` — the `deployment.environment.name` resource attribute. Default `development`.
 */
export const telemetryEnv = z.object({
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .regex(/^https?:\/\/[^/\s]+(\/\S*)?$/)
    .describe('an http:// or https:// URL such as "http://jaeger:4318" (the OTLP/HTTP base; /v1/traces is appended)')
    .optional(),
  OTEL_SERVICE_NAME: z.string().min(1).describe('a non-empty string').optional(),
  OTEL_TRACES_SAMPLER: z.enum(TRACES_SAMPLERS).default('parentbased_traceidratio'),
  OTEL_TRACES_SAMPLER_ARG: envVar.ratio(1),
  DEPLOYMENT_ENVIRONMENT: envVar.string('development'),
});

// ---------------------------------------------------------------------------------------------

/** Human description of what a schema accepts, derived from `.describe()` or its checks. */
function expectation(schema: z.ZodType): string | undefined {
  if (schema.description) return schema.description;
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  switch (def.type) {
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
    case 'readonly':
    case 'catch':
      return expectation(def.innerType as z.ZodType);
    case 'pipe':
      return expectation(def.in as z.ZodType) ?? expectation(def.out as z.ZodType);
    case 'number': {
      const n = schema as unknown as z.ZodNumber;
      const checks = ((def.checks as Array<{ _zod: { def: Record<string, unknown> } }>) ?? []).map((c) => c._zod.def);
      const kind = n.isInt ? 'integer' : 'number';
      const lower = checks.find((c) => c.check === 'greater_than');
      const upper = checks.find((c) => c.check === 'less_than');
      if (lower && !upper && lower.value === 0) return lower.inclusive ? `an ${kind} >= 0` : `a positive ${kind}`;
      const parts = [`${kind === 'integer' ? 'an' : 'a'} ${kind}`];
      if (lower) parts.push(`${lower.inclusive ? '>=' : '>'} ${String(lower.value)}`);
      if (upper) parts.push(`${lower ? 'and ' : ''}${upper.inclusive ? '<=' : '<'} ${String(upper.value)}`);
      return parts.join(' ');
    }
    case 'enum':
      return `one of ${Object.values(def.entries as Record<string, string>).join(', ')}`;
    case 'boolean':
      return 'true or false';
    case 'string': {
      const format = (schema as unknown as { format?: string | null }).format;
      return format ? `a ${format}` : 'a string';
    }
    default:
      return undefined;
  }
}

function maskPassword(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

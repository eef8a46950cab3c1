/**
 * `@mockstagram/shared` — what every Mockstagram service builds on.
 * One module per concern; everything is re-exported here except the migration runner
 * (`@mockstagram/shared/migrate`), which no app needs at run time, the SQL lexer
 * (`@mockstagram/shared/sql-scan`) and the tracing SDK (`@mockstagram/shared/telemetry`).
 *
 * Importing this barrel loads everything, the Kafka client, pg and express included. Code that must
 * not (the api, which has no Kafka; the devstack; each app's telemetry.ts, which must run before
 * those load) imports the module it needs through its own entry point instead, one file at the
 * package's root per module (`@mockstagram/shared/config`, `/db`, `/http`, `/logger`, `/metrics`,
 * `/roles`, `/shutdown`), never by its path under src/.
 *
 * @packageDocumentation
 */
export * from './config';
export * from './logger';
export * from './metrics';
export * from './http';
export * from './shutdown';
export * from './schemas';
export * from './dlq';
export * from './kafka';
export * from './stage';
export * from './db';
export * from './roles';
export * from './tracing';
// Not './telemetry' (the SDK): apps import `@mockstagram/shared/telemetry` first, from their src/telemetry.ts.

/**
 * `@mockstagram/shared` — what every Mockstagram service builds on.
 * One module per concern; everything is re-exported here except the migration runner
 * (`@mockstagram/shared/migrate`), which no app needs at run time.
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
// Not './telemetry' (the SDK): apps import it by path, first, from their src/telemetry.ts.

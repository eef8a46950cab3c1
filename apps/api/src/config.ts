/**
 * Every environment variable the api reads, with its default (the one place they are written):
 * its own `API_HTTP_PORT` and `API_HTTP_HOST`, and the shared database, log and tracing ones.
 * apps/api/README.md, "Variables", says what each one does. No Kafka: the api only reads
 * TimescaleDB.
 *
 * @module
 */
import { databaseEnv, envVar, logEnv, telemetryEnv } from '@mockstagram/shared/config';
import { z } from 'zod';

/** What `yarn detect-suspicious` reads. */
export const detectEnv = z.object({
  ...databaseEnv.shape,
  ...logEnv.shape,
});

/** What the api service reads. */
export const apiEnv = z.object({
  ...detectEnv.shape,
  ...telemetryEnv.shape,
  API_HTTP_PORT: envVar.port(8084),
  API_HTTP_HOST: envVar.host('127.0.0.1'),
});

export type ApiConfig = z.output<typeof apiEnv>;

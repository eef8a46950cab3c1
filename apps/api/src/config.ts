/**
 * Every environment variable the api reads, with its default (the one place they are written).
 *
 * - `API_HTTP_PORT` (8084): the API, the page at `/`, /metrics, /healthz, /readyz.
 * - `API_HTTP_HOST` (127.0.0.1): the address it listens on (compose: 0.0.0.0, inside the container).
 * - Database (`DATABASE_URL`, `DATABASE_POOL_SIZE`) and `LOG_LEVEL`: see @mockstagram/shared.
 * - Tracing: `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`,
 *   `OTEL_TRACES_SAMPLER_ARG`, `DEPLOYMENT_ENVIRONMENT` (`telemetryEnv` in @mockstagram/shared).
 *
 * No Kafka: the api only reads TimescaleDB.
 *
 * @module
 */
import { databaseEnv, envVar, logEnv, telemetryEnv } from '@mockstagram/shared/src/config';
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

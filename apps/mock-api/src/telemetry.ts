/**
 * Starts OpenTelemetry for the mock-api: the FIRST import of src/main.ts, so that it runs before
 * any other module is loaded (instrumentations patch modules as they load). Imports nothing of
 * the app; shared's telemetry module is imported by path, not through the package index (which
 * would load pg, the Kafka client and express first).
 *
 * Tracer name (instrumentation scope) = service name: `trace.getTracer('mock-api')`.
 * Spans: `GET /api/v1/influencers/:id` (SERVER) when the request carries a sampled
 * `traceparent` (the fetcher's HTTP client span); nothing for other requests.
 */
import { startTelemetry } from '@mockstagram/shared/telemetry';
import { version } from '../package.json';

export const telemetry = startTelemetry({ service: 'mock-api', version });

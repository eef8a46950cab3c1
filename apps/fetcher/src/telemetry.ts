/**
 * Starts OpenTelemetry for the fetcher: the FIRST import of src/main.ts, so that it runs before
 * any other module is loaded (instrumentations patch modules as they load). Imports nothing of
 * the app; shared's telemetry module is imported by path, not through the package index (which
 * would load pg, the Kafka client and express first).
 *
 * Tracer name (instrumentation scope) = service name: `trace.getTracer('fetcher')`.
 * Spans: `fetch-job process` (CONSUMER) per job; under it one `GET /api/v1/influencers/:id`
 * (CLIENT, src/api-client.ts) per HTTP attempt and `fetch-result publish` / `dead-letter publish` (PRODUCER).
 */
import { startTelemetry } from '@mockstagram/shared/telemetry';
import { version } from '../package.json';

// No instrumentations: the HTTP client's spans are made by src/api-client.ts (see why there).
export const telemetry = startTelemetry({ service: 'fetcher', version });

/**
 * Starts OpenTelemetry for the fetcher: the FIRST import of src/main.ts, so that it runs before
 * any other module is loaded (instrumentations patch modules as they load). Imports nothing of
 * the app; shared's telemetry module is imported by path, not through the package index (which
 * would load pg, kafkajs and express first).
 *
 * Tracer name (instrumentation scope) = service name: `trace.getTracer('fetcher')`.
 * Spans: `fetch-job process` (CONSUMER) per job; under it one `GET` (CLIENT, undici instrumentation)
 * per HTTP attempt and `fetch-result publish` / `dead-letter publish` (PRODUCER).
 */
// Instrumentation of the HTTP client: undici publishes every request on Node's diagnostics
// channels, which this instrumentation listens to (so it traces `Pool.request`, whenever undici
// was loaded); it creates a CLIENT span per attempt, child of the active span, with the HTTP
// semantic-convention attributes, and adds `traceparent` to the request.
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { startTelemetry } from '@mockstagram/shared/src/telemetry';
import { version } from '../package.json';

export const telemetry = startTelemetry({ service: 'fetcher', version, instrumentations: [new UndiciInstrumentation()] });

/**
 * Starts OpenTelemetry for the result-handler: the FIRST import of src/main.ts, so that it runs before
 * any other module is loaded (instrumentations patch modules as they load). Imports nothing of
 * the app; shared's telemetry module is imported by path, not through the package index (which
 * would load pg, the Kafka client and express first).
 *
 * Tracer name (instrumentation scope) = service name: `trace.getTracer('result-handler')`.
 * Spans: `fetch-result process` (CONSUMER) per message; `follower_counts insert` (CLIENT) per
 * flush, in its own trace, linked to the messages it stored.
 */
import { startTelemetry } from '@mockstagram/shared/telemetry';
import { version } from '../package.json';

export const telemetry = startTelemetry({ service: 'result-handler', version });

/**
 * Starts OpenTelemetry for the scheduler: the FIRST import of src/main.ts, so that it runs before
 * any other module is loaded (instrumentations patch modules as they load). Imports nothing of
 * the app; shared's telemetry module is imported by path, not through the package index (which
 * would load pg, the Kafka client and express first).
 *
 * Tracer name (instrumentation scope) = service name: `trace.getTracer('scheduler')`.
 * Spans: `fetch-job publish` (PRODUCER), one per job, the root of the job's trace.
 */
import { startTelemetry } from '@mockstagram/shared/telemetry';
import { version } from '../package.json';

export const telemetry = startTelemetry({ service: 'scheduler', version });

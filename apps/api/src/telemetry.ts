/**
 * Starts OpenTelemetry for the api: the FIRST import of src/main.ts, so that it runs before any
 * other module is loaded. Imports nothing of the app; shared's telemetry module by path.
 */
import { startTelemetry } from '@mockstagram/shared/telemetry';
import { version } from '../package.json';

export const telemetry = startTelemetry({ service: 'api', version });

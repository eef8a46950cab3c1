/**
 * `@mockstagram/shared/telemetry`: the OpenTelemetry SDK start (`startTelemetry`), kept out of the
 * `@mockstagram/shared` barrel. Each app's `src/telemetry.ts` imports it FIRST, before anything that
 * loads pg, the Kafka client or express (which the barrel does), so that the SDK's instrumentations
 * patch those modules when they load. Code that only needs `./tracing` takes it from the barrel and
 * does not load the SDK.
 *
 * @packageDocumentation
 */
export * from './src/telemetry';

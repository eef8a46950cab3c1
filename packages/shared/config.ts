/**
 * `@mockstagram/shared/config`: the configuration helpers alone (environment schemas, `configOrExit`), without the rest of
 * the package: for code that must not load the Kafka client through the `@mockstagram/shared`
 * barrel (the api, which reads TimescaleDB only; the devstack).
 *
 * @packageDocumentation
 */
export * from './src/config';

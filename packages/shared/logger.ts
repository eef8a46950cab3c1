/**
 * `@mockstagram/shared/logger`: the logger alone, without the rest of the package: for code that must not load the Kafka client
 * through the `@mockstagram/shared` barrel (the api).
 *
 * @packageDocumentation
 */
export * from './src/logger';

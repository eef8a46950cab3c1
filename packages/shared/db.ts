/**
 * `@mockstagram/shared/db`: the PostgreSQL pool and transactions alone, without the rest of the package: for code that must
 * not load the Kafka client through the `@mockstagram/shared` barrel (the api, the devstack).
 *
 * @packageDocumentation
 */
export * from './src/db';

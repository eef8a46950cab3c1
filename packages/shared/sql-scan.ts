/**
 * `@mockstagram/shared/sql-scan`: the SQL lexer (no dependencies), kept out of the `@mockstagram/shared` barrel:
 * the devstack's PGlite wire front uses it and must not load the Kafka client through the barrel.
 *
 * @packageDocumentation
 */
export * from './src/sql-scan';

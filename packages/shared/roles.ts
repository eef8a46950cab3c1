/**
 * `@mockstagram/shared/roles`: the pipeline's database roles alone (also in the `@mockstagram/shared` barrel): for the
 * devstack, which must not load the Kafka client, pg and express through the barrel.
 *
 * @packageDocumentation
 */
export * from './src/roles';

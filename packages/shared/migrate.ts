/**
 * `@mockstagram/shared/migrate`: the migration runner, kept out of the `@mockstagram/shared` barrel
 * so that the bundled apps (which never migrate) do not carry it. Used by `yarn migrate`, the
 * devstack and the tests.
 *
 * @packageDocumentation
 */
export * from './src/migrate';

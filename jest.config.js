// Jest runs TypeScript through @swc/jest: it only strips types (fast on 2 cores);
// type checking is done once for the whole tree by `yarn typecheck` (tsc), which `yarn test` runs first.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testMatch: ['<rootDir>/{apps,packages}/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  // Tests of the PGlite wire front itself run only on that engine: `yarn test:pglite`.
  testPathIgnorePatterns: process.env.DEVSTACK_DB === 'pglite' ? ['/node_modules/'] : ['/node_modules/', '/test/pglite/'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  // Integration tests share one Kafka broker and one database on a 2-core machine.
  maxWorkers: 1,
  testTimeout: 120_000,
};

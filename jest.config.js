// Jest runs TypeScript through @swc/jest: it only strips types (fast on 2 cores);
// type checking is done once for the whole tree by `yarn typecheck` (tsc), which `yarn test` runs first.
//
// Two projects, told apart by directory (as node-postgres keeps test/unit apart from test/integration):
// - unit: `test/unit/` of a workspace, and the root's `test/unit/`. Pure logic and static checks of
//   the repository's files; they need nothing but Node, so no global setup (`yarn test:unit`).
// - integration: every other test. The global setup builds the apps and makes sure a real Kafka
//   broker and a real TimescaleDB answer (the devstack brings up what is not given).
// `yarn test` runs both; a path given to `yarn jest` runs the global setup only if it selects an
// integration test.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }],
  // @platformatic/kafka (the Kafka client) and its own packages are ESM only; jest loads modules
  // itself (no require(esm)), so their files are turned into CommonJS.
  '/node_modules/@platformatic/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
};
const transformIgnorePatterns = ['/node_modules/(?!@platformatic/)'];
const unitTests = ['<rootDir>/{apps,packages}/*/test/unit/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'];

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      testMatch: unitTests,
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      transformIgnorePatterns,
      testMatch: ['<rootDir>/{apps,packages}/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
      // test/pglite: the PGlite wire front itself, run on that engine only (`yarn test:pglite`);
      // test/native: what only a real server can do (sessions that lock apart, background jobs).
      testPathIgnorePatterns: [
        '/node_modules/',
        '/test/unit/',
        process.env.DEVSTACK_DB === 'pglite' ? '/test/native/' : '/test/pglite/',
      ],
      globalSetup: '<rootDir>/test/global-setup.ts',
    },
  ],
  // Integration tests share one Kafka broker and one database on a 2-core machine.
  maxWorkers: 1,
  testTimeout: 120_000,
};

// Jest runs TypeScript through @swc/jest: it only strips types (fast on 2 cores);
// type checking is done once for the whole tree by `yarn typecheck` (tsc), which `yarn test` runs first.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }],
    // @platformatic/kafka (the Kafka client) and its own packages are ESM only; jest loads
    // modules itself (no require(esm)), so their files are turned into CommonJS.
    '/node_modules/@platformatic/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!@platformatic/)'],
  testMatch: ['<rootDir>/{apps,packages}/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  // test/pglite: the PGlite wire front itself, run on that engine only (`yarn test:pglite`);
  // test/native: what only a real server can do (sessions that lock apart, background jobs).
  testPathIgnorePatterns: ['/node_modules/', process.env.DEVSTACK_DB === 'pglite' ? '/test/native/' : '/test/pglite/'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  // Integration tests share one Kafka broker and one database on a 2-core machine.
  maxWorkers: 1,
  testTimeout: 120_000,
};

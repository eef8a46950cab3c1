// typescript-eslint with type-aware rules over the whole tree; formatting is Prettier's (yarn format).
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/** `no-restricted-imports` patterns that keep each workspace's src/ its own (see below). */
const workspaceBoundaries = [
  {
    regex: '^@mockstagram/[^/]+/src(/|$)',
    message:
      'import the package entry (@mockstagram/<name>) or an entry point it declares (e.g. @mockstagram/shared/telemetry), not its src/',
  },
  {
    regex: '^(\\.\\./)+(apps|packages)/[^/]+/src(/|$)',
    message:
      'import the workspace through its package entry (@mockstagram/<name>), not by a relative path into its src/',
  },
  { regex: '(^|/)test/support(/|$)', message: 'test/support is @mockstagram/testkit now: import that' },
];

/** The same, plus what only code inside apps/ and packages/ could do. */
const insideWorkspaces = [
  ...workspaceBoundaries,
  // Up out of one workspace and down into a sibling's src/.
  {
    regex: '^(\\.\\./){2,}[^./][^/]*/src(/|$)',
    message: 'import the other workspace through its package entry (@mockstagram/<name>), not its src/',
  },
  { group: ['**/bench', '**/bench/**'], message: 'bench code is not imported from apps or packages' },
];

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '.devstack/**',
      'apps/api/src/page/vendor/**',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // An abort passes on the signal's reason, and a caught value passes on as it came.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
      // `let x; ... x = ...` where a closure declared earlier reads x (shutdown handlers)
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // String(unknown) in error paths: whatever was thrown, as text
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    // Tests, benches and the page read JSON answers (typed `any`) and check them against a schema
    // or an expectation; the no-unsafe-* rules would ask for a cast at every property read.
    files: ['**/test/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'apps/api/src/page/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Workspaces meet at their package entries: `@mockstagram/<name>` (src/index.ts, the library
    // surface) or an entry point the package declares at its root (`@mockstagram/shared/telemetry`,
    // `/migrate`, ...), never another workspace's src/ by a deep or a relative path. What the tests
    // and benchmarks share is `@mockstagram/testkit` (the former test/support).
    files: ['**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: workspaceBoundaries }] },
  },
  {
    // The root's tests: ../support was test/support.
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...workspaceBoundaries,
            { regex: '^(\\.\\./)+support(/|$)', message: 'test/support is @mockstagram/testkit now: import that' },
          ],
        },
      ],
    },
  },
  {
    // The benchmarks (bench/, `yarn bench`) sit on top of the apps and packages: they may import
    // them, never the other way round.
    files: ['apps/**/*.ts', 'packages/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: insideWorkspaces }] },
  },
  {
    // What the apps and packages ship: yarn build bundles every @mockstagram/* import it meets, so
    // the testkit stays out of their src/ (tests and benches only).
    files: ['apps/*/src/**/*.ts', 'packages/*/src/**/*.ts', 'packages/*/*.ts'],
    ignores: ['packages/testkit/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...insideWorkspaces,
            { regex: '^@mockstagram/testkit(/|$)', message: 'the testkit is for tests and benchmarks, not for src/' },
          ],
        },
      ],
    },
  },
);

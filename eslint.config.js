// Lint configuration: the only source of style rules besides tsconfig and .prettierrc.json.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/**
 * External clients live behind adapter files: everything else sees tapwatch's own small
 * interfaces (EventSource, Store, …). A file listed here may import the client it adapts.
 */
const ADAPTERS = {
  kafkajs: ['bus/src/kafka/**'],
  '@clickhouse/client': ['store/src/connection/clickhouse.ts'],
  chdb: ['store/src/connection/embedded.ts'],
  express: ['dashboard-api/src/app.ts', 'dashboard-api/src/rest-api.ts'],
  ws: ['dashboard-api/src/ws-hub.ts'],
};

/** `no-restricted-imports` options forbidding every adapted client except those in `allowed`. */
function restrictedClients(allowed = []) {
  const paths = [];
  const patterns = [];
  for (const [name, files] of Object.entries(ADAPTERS)) {
    if (allowed.includes(name)) continue;
    const message = `only ${files.join(', ')} may import ${name}; use the interface that adapter exports`;
    paths.push({ name, message });
    patterns.push({ group: [`${name}/*`], message });
  }
  return ['error', { paths, patterns }];
}

const SOURCES = ['*/src/**/*.ts'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'scratch/**', '.tapwatch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Type-aware rules: a promise nobody awaits or handles is a lost error (or an unhandled rejection).
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        project: ['./*/tsconfig.json', './tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test() returns a promise the runner itself awaits.
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    // Adapter boundaries (sources only: tests talk to the real clients to drive real services).
    files: SOURCES,
    rules: { 'no-restricted-imports': restrictedClients() },
  },
  ...Object.entries(ADAPTERS).map(([name, files]) => ({ files, rules: { 'no-restricted-imports': restrictedClients([name]) } })),
  {
    // No import cycle between files; packages are ordered by their package.json dependencies
    // (checked by test/unit/workspaces.test.ts), so a cycle between packages shows up here too.
    files: SOURCES,
    plugins: { 'import-x': importX },
    settings: {
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: ['./*/tsconfig.json'], noWarnOnMultipleProjects: true })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: false }] },
  },
  {
    // Tests read loosely-typed JSON from real services.
    files: ['**/test/**/*.ts', 'test/**/*.ts', 'benchmarks/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);

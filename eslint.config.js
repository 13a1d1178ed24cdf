// Lint: typescript-eslint strict, with the project's domain rules.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'haven-data/**', '.tmp/**', 'web/**'] },
  ...tseslint.configs.strict,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json' } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'it', 'describe', 'suite'], package: 'node:test' }] },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'max-lines': ['warn', { max: 400, skipBlankLines: true, skipComments: true }],
      'no-console': ['error', { allow: ['error'] }],
      // Folder boundaries (DESIGN.md §2): lower layers never import upper ones.
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['src/kernel/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['../*/**', '../../*'], message: 'kernel imports nothing' }] }] },
  },
  {
    files: ['src/fhir/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./(\\.\\./)?(store|search|auth|http|app|cli|config|synth)/', message: 'fhir may import kernel only' }] }],
    },
  },
  {
    files: ['src/search/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./(store|auth|http|app|cli|synth)/', message: 'search may import fhir and kernel only' }] }],
    },
  },
  {
    files: ['src/store/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./(\\.\\./)?(auth|http|app|cli|synth)/', message: 'store may not import upper layers' }] }],
    },
  },
  {
    files: ['src/auth/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./(http|app|cli|synth)/', message: 'auth may not import upper layers' }] }],
    },
  },
  {
    files: ['src/http/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.\\./(\\.\\./)?(app|cli)/', message: 'http may not import app or cli' }] }] },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts', 'src/cli/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // Tests read JSON response bodies loosely; production code never uses any.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);

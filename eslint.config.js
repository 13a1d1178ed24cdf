// Lint: typescript-eslint strict, with the project's domain rules.
import tseslint from 'typescript-eslint';

// Folder boundaries (DESIGN.md §2): each folder may not import the folders listed for it.
const forbidden = {
  kernel: ['config', 'fhir', 'search', 'crypto', 'store', 'audit', 'auth', 'http', 'app', 'cli', 'synth'],
  config: ['fhir', 'search', 'crypto', 'store', 'audit', 'auth', 'http', 'app', 'cli', 'synth'],
  fhir: ['config', 'search', 'crypto', 'store', 'audit', 'auth', 'http', 'app', 'cli', 'synth'],
  search: ['config', 'crypto', 'store', 'audit', 'auth', 'http', 'app', 'cli', 'synth'],
  crypto: ['fhir', 'search', 'store', 'audit', 'auth', 'http', 'app', 'cli', 'synth'],
  store: ['audit', 'auth', 'http', 'app', 'cli', 'synth'],
  audit: ['auth', 'http', 'app', 'cli', 'synth'],
  auth: ['http', 'app', 'cli', 'synth'],
  synth: ['config', 'fhir', 'search', 'crypto', 'store', 'audit', 'auth', 'http', 'app', 'cli'],
  http: ['app', 'cli'],
  bulk: ['http', 'app', 'cli', 'synth'],
  hl7v2: ['http', 'app', 'cli'],
  reindex: ['http', 'app', 'cli', 'synth'],
};
const layerRules = Object.entries(forbidden).map(([folder, banned]) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: [{ regex: `^(\\.\\./)+(${banned.join('|')})/`, message: `${folder} may not import ${banned.join(', ')} (DESIGN.md §2)` }] },
    ],
  },
}));

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
    },
  },
  ...layerRules,
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

// Lint: typescript-eslint's recommended rules plus the type-aware ones that catch what
// review misses in async code (a promise nobody awaits, a promise where a callback is
// expected, a switch that forgets a union member). Formatting is prettier's (`npm run format`).
import eslint from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench/results/**', 'dist/**', 'dist.tmp-*/**', 'dist.old-*/**', 'tmp/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  // The dashboard's scripts run in the browser, as plain scripts (no build step).
  {
    files: ['src/ui/static/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'sessionStorage', 'fetch', 'URLSearchParams', 'setInterval', 'clearInterval', 'setTimeout'].map((g) => [
          g,
          'readonly',
        ]),
      ),
    },
  },
)

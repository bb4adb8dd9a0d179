import js from '@eslint/js'
import globals from 'globals'
import reactHooks from 'eslint-plugin-react-hooks'
import tseslint from 'typescript-eslint'

const noOclif = {group: ['@oclif/*'], message: 'Only src/commands may use oclif.'}

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', '.poc/**', 'oclif.manifest.json']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{js,mjs}'],
    languageOptions: {globals: globals.node},
  },
  {
    // The web UI's single-page app runs in the browser (React; built by vite into dist/ui).
    files: ['src/services/ui/app/src/**/*.{ts,tsx}'],
    languageOptions: {globals: globals.browser},
    plugins: {'react-hooks': reactHooks},
    rules: reactHooks.configs.recommended.rules,
  },
  {
    files: ['src/services/**', 'src/lib/**'],
    rules: {
      // The layers below the commands stay usable without oclif (ARCHITECTURE.md, layering).
      'no-restricted-imports': ['error', {patterns: [noOclif]}],
    },
  },
  {
    files: ['src/stack/**', 'src/checks/**'],
    rules: {
      // What crosses a process boundary is in src/contract; a service's internals are its own.
      // A service's public faces are its environment schema (config.ts) and its metric families.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noOclif,
            {
              regex: String.raw`/services/(?!metric-families\.js$|[\w-]+/config\.js$)`,
              message:
                'stack/ and checks/ do not reach into a service: import what crosses the process boundary from src/contract (move it there if it is not yet).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/contract/**'],
    rules: {
      // The contract is what every side imports, so it imports none of them.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noOclif,
            {
              group: ['**/services/**', '**/stack/**', '**/checks/**', '**/cli/**', '**/commands/**'],
              message: 'src/contract depends on nothing of poc but itself and src/lib.',
            },
          ],
        },
      ],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
)

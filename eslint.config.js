import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', '.poc/**', 'oclif.manifest.json']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{js,mjs}'],
    languageOptions: {globals: globals.node},
  },
  {
    files: ['src/stack/**', 'src/checks/**', 'src/services/**', 'src/lib/**'],
    rules: {
      // The layers below the commands stay usable without oclif (ARCHITECTURE.md, layering).
      'no-restricted-imports': [
        'error',
        {patterns: [{group: ['@oclif/*'], message: 'Only src/commands may use oclif.'}]},
      ],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
)

import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['node_modules/', 'data/', 'coverage/', 'bench/results/', '.herald/', 'keys/', 'examples/generated/', 'dist/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // noUncheckedIndexedAccess makes `!` the way the code states an index it has just checked or built.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `return close(...)` is the code's early-exit idiom in void functions (guards, switch cases).
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // Counts, limits and ports in messages: a number prints as itself.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `async` without `await` is how a synchronous implementation keeps a Promise contract (a throw becomes a rejection).
      '@typescript-eslint/require-await': 'off',
      // Dropping fields by destructuring them beside a rest (`const { payload: _payload, ...fields }`).
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests read wire frames and JSON bodies as `any` and let expect() check their shape.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // Child processes get a copy of process.env without the variables named in a list.
      '@typescript-eslint/no-dynamic-delete': 'off',
    },
  },
  {
    // Plain JavaScript (the bin loader, this file): no types to check against.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', URL: 'readonly', console: 'readonly' } },
  },
  {
    // The console's browser script (src/console/, served as is): the page's globals rather than Node's.
    files: ['src/console/*.js'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        location: 'readonly',
        history: 'readonly',
        sessionStorage: 'readonly',
        setTimeout: 'readonly',
        setInterval: 'readonly',
        URLSearchParams: 'readonly',
        Event: 'readonly',
        CloseEvent: 'readonly',
      },
    },
  },
  prettier,
);

import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * `npm run codegen`: prints the Pothos schema (sorted) to schema/schema.graphql and generates typed
 * documents for the operations in examples/operations.graphql, which the examples and tests import.
 * The schema source is the code itself (src/schema/index.ts, loaded through tsx), so the printed
 * file can only drift if someone forgets to run this; test/schema.test.ts catches that.
 */
const config: CodegenConfig = {
  schema: './src/schema/index.ts',
  documents: ['examples/operations.graphql'],
  generates: {
    'schema/schema.graphql': {
      plugins: ['schema-ast'],
      config: { sort: true, includeDirectives: false },
    },
    'examples/generated/graphql.ts': {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', JSON: 'unknown', ID: 'string' },
        avoidOptionals: { field: true, inputValue: false, object: true, defaultValue: false },
      },
    },
  },
};

export default config;

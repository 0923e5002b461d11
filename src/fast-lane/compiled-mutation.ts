import { getArgumentValues, getVariableValues, locatedError, OperationTypeNode, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import type { Path } from 'graphql/jsutils/Path.js';
import { planArgumentCoercion, planVariableCoercion } from './fast-coercion.js';
import { singleRootField } from './single-root-field.js';

/**
 * The publish fast lane's execution of `mutation { <alias>: publish(...) { <leaf fields> } }` (or
 * broadcast, publishMany, or any root mutation field returning an object or a list of non-null
 * objects), compiled once per document: the variables and arguments are coerced by plans made once
 * (fast-coercion.ts), or by graphql-js's own functions where a plan declines; the field's resolver
 * (with Pothos's scope check around it) runs with a full resolve info, and the result is written as
 * JSON text without graphql-js's generic execution machinery. Errors come out as graphql-js makes
 * them (located at the field, `data: null` under a non-null field). test/compiled-execution.test.ts
 * compares it with graphql-js's execute, test/http-fast-path.test.ts the lane with Yoga. Undefined
 * for any other shape: the lane runs execute.
 */
export type CompiledMutation = (rawVariables: Record<string, unknown> | undefined, contextValue: unknown) => Promise<CompiledOutcome>;

/** A success as its JSON text, or a result with errors for the caller to mask and format. */
export type CompiledOutcome = { readonly json: string } | { readonly result: ExecutionResult };

export function compileMutation(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): CompiledMutation | undefined {
  const root = singleRootField(schema, document, operationName, OperationTypeNode.MUTATION);
  if (root === undefined) return undefined;
  const { operation, rootType, field, node, responseName, nonNull, list, objectType, selection, fragments, head, path } = root;
  const coerceVariables = planVariableCoercion(schema, operation);
  const coerceArguments = planArgumentCoercion(field, node);

  /** As graphql-js's executeField and executeOperation answer a field error. */
  const fieldError = (raw: unknown): CompiledOutcome => {
    const error = locatedError(raw, [node], [responseName]);
    // Key order as graphql-js's buildResponse: errors, then data.
    return { result: nonNull ? { errors: [error], data: null } : { errors: [error], data: { [responseName]: null } } };
  };

  /** A list's JSON text, each item at its index's path as graphql-js's completeListValue gives it; undefined if one cannot complete. */
  const completeList = (resolved: unknown, contextValue: unknown, context: Parameters<typeof selection.complete>[3]): string | undefined => {
    if (!Array.isArray(resolved)) return undefined;
    let body = '[';
    for (let index = 0; index < resolved.length; index++) {
      const itemPath: Path = { prev: path, key: index, typename: undefined };
      const item: unknown = resolved[index];
      const text = item == null ? undefined : selection.complete(item, contextValue, itemPath, context);
      if (text === undefined) return undefined;
      body += index === 0 ? text : `,${text}`;
    }
    return `${body}]`;
  };

  return async (rawVariables, contextValue) => {
    let variableValues = coerceVariables?.(rawVariables ?? {});
    if (variableValues === undefined) {
      const variables = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {}, { maxErrors: 50 });
      if (variables.errors !== undefined) return { result: { errors: variables.errors } };
      variableValues = variables.coerced;
    }
    const context = { schema, operation, fragments, rootValue: undefined, variableValues };
    let resolved: unknown;
    try {
      const args = coerceArguments(variableValues) ?? getArgumentValues(field, node, variableValues);
      resolved = await field.resolve(undefined, args, contextValue, root.info(context));
    } catch (error) {
      return fieldError(error);
    }
    if (resolved instanceof Error) return fieldError(resolved);
    if (resolved == null) {
      return nonNull ? fieldError(new Error(`Cannot return null for non-nullable field ${rootType.name}.${field.name}.`)) : { json: `${head}null}}` };
    }
    const body = list ? completeList(resolved, contextValue, context) : selection.complete(resolved, contextValue, path, context);
    // Only an object field's resolver failing could get here, and no Message field can: the mutation
    // has taken effect, so it must not run again through graphql-js. Say so rather than guess a result.
    if (body === undefined) return fieldError(new Error(`${objectType.name} selection could not be completed`));
    return { json: `${head}${body}}}` };
  };
}

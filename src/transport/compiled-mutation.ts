import {
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  isNonNullType,
  isObjectType,
  Kind,
  locatedError,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLResolveInfo,
  type GraphQLSchema,
} from 'graphql';
import { compileSelection, type OperationContext } from './message-selection.js';

/**
 * The publish fast lane's execution of `mutation { <alias>: publish(...) { <leaf fields> } }` (or
 * broadcast, or any root mutation field returning an object), compiled once per document: the
 * variables and arguments are coerced by graphql-js's own functions, the field's resolver (with
 * Pothos's scope check around it) runs with a full resolve info, and the result is written as JSON
 * text without graphql-js's generic execution machinery. Errors come out as graphql-js makes them
 * (located at the field, `data: null` under a non-null field). `test/compiled-execution.test.ts`
 * compares every answer with Yoga's. Undefined for any other shape: the lane runs execute.
 */
export type CompiledMutation = (rawVariables: Record<string, unknown> | undefined, contextValue: unknown) => Promise<CompiledOutcome>;

/** A success as its JSON text, or a result with errors for the caller to mask and format. */
export type CompiledOutcome = { readonly json: string } | { readonly result: ExecutionResult };

export function compileMutation(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): CompiledMutation | undefined {
  const operation = getOperationAST(document, operationName);
  const rootType = schema.getMutationType();
  if (operation == null || operation.operation !== 'mutation' || rootType == null) return undefined;
  if (operation.directives?.length || operation.selectionSet.selections.length !== 1) return undefined;
  const node = operation.selectionSet.selections[0]!;
  if (node.kind !== Kind.FIELD || node.directives?.length || node.selectionSet === undefined) return undefined;
  const field = rootType.getFields()[node.name.value];
  if (field?.resolve === undefined) return undefined;
  const nonNull = isNonNullType(field.type);
  const objectType = isNonNullType(field.type) ? field.type.ofType : field.type;
  if (!isObjectType(objectType)) return undefined;
  const selection = compileSelection(objectType, node.selectionSet);
  if (selection === undefined) return undefined;

  const resolve = field.resolve;
  const responseName = node.alias?.value ?? node.name.value;
  const fieldNodes = [node];
  const head = `{"data":{${JSON.stringify(responseName)}:`;
  const fragments = Object.fromEntries(
    document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION).map((definition) => [definition.name.value, definition]),
  );

  /** As graphql-js's executeField and executeOperation answer a field error. */
  const fieldError = (raw: unknown): CompiledOutcome => {
    const error = locatedError(raw, fieldNodes, [responseName]);
    // Key order as graphql-js's buildResponse: errors, then data.
    return { result: nonNull ? { errors: [error], data: null } : { errors: [error], data: { [responseName]: null } } };
  };

  return async (rawVariables, contextValue) => {
    const variables = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {}, { maxErrors: 50 });
    if (variables.errors !== undefined) return { result: { errors: variables.errors } };
    const operationContext: OperationContext = { schema, operation, fragments, rootValue: undefined, variableValues: variables.coerced };
    const path = { prev: undefined, key: responseName, typename: rootType.name };
    const info: GraphQLResolveInfo = { fieldName: field.name, fieldNodes, returnType: field.type, parentType: rootType, path, ...operationContext };
    let resolved: unknown;
    try {
      const args = getArgumentValues(field, node, variables.coerced);
      resolved = await resolve(undefined, args, contextValue, info);
    } catch (error) {
      return fieldError(error);
    }
    if (resolved instanceof Error) return fieldError(resolved);
    if (resolved == null) {
      return nonNull ? fieldError(new Error(`Cannot return null for non-nullable field ${rootType.name}.${field.name}.`)) : { json: `${head}null}}` };
    }
    const body = selection.complete(resolved, contextValue, path, operationContext);
    // Only a Message field's resolver failing could get here, and none can: the mutation has taken
    // effect, so it must not run again through graphql-js. Say so rather than guess a result.
    if (body === undefined) return fieldError(new Error(`${objectType.name} selection could not be completed`));
    return { json: `${head}${body}}}` };
  };
}

import {
  getArgumentValues,
  getOperationAST,
  getVariableValues,
  isNonNullType,
  isObjectType,
  Kind,
  type DocumentNode,
  type GraphQLResolveInfo,
  type GraphQLSchema,
} from 'graphql';
import { compileSelection, type OperationContext } from './message-selection.js';

/**
 * A subscription group's per-event execution, compiled once when the group forms: for
 * `subscription { <alias>: topic(...) { <leaf fields> } }` (or `broadcasts`), the event's result as
 * JSON text, `{"data":{"<alias>":{...}}}`, exactly what graphql-js's execute and JSON.stringify
 * give (the root field's resolver and every leaf's resolver and serialize still run). Undefined for
 * any other shape, and `run` answers undefined for an event graphql-js must handle (a resolver that
 * throws or answers a promise): the group then executes that event with graphql-js as before.
 */
export type CompiledSubscriptionEvent = (event: unknown, contextValue: unknown) => string | undefined;

export function compileSubscriptionEvent(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined,
  rawVariables: Readonly<Record<string, unknown>> | undefined,
): CompiledSubscriptionEvent | undefined {
  const operation = getOperationAST(document, operationName);
  const rootType = schema.getSubscriptionType();
  if (operation == null || operation.operation !== 'subscription' || rootType == null) return undefined;
  if (operation.directives?.length || operation.selectionSet.selections.length !== 1) return undefined;
  const node = operation.selectionSet.selections[0]!;
  if (node.kind !== Kind.FIELD || node.directives?.length || node.selectionSet === undefined) return undefined;
  const field = rootType.getFields()[node.name.value];
  // graphql-js resolves an event through the field's resolver (its default would read event[name]).
  if (field?.resolve === undefined) return undefined;
  const objectType = isNonNullType(field.type) ? field.type.ofType : field.type;
  if (!isObjectType(objectType)) return undefined;
  const selection = compileSelection(objectType, node.selectionSet);
  if (selection === undefined) return undefined;

  // Variables and arguments are the group's own, fixed for its life: coerced once, as execute would per event.
  const variables = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {}, { maxErrors: 50 });
  if (variables.errors !== undefined) return undefined;
  const variableValues = variables.coerced;
  let args: Record<string, unknown>;
  try {
    args = getArgumentValues(field, node, variableValues);
  } catch {
    return undefined;
  }
  const resolve = field.resolve;
  const responseName = node.alias?.value ?? node.name.value;
  const head = `{"data":{${JSON.stringify(responseName)}:`;
  const fragments = Object.fromEntries(
    document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION).map((definition) => [definition.name.value, definition]),
  );
  const fieldNodes = [node];

  return (event, contextValue) => {
    const operationContext: OperationContext = { schema, operation, fragments, rootValue: event, variableValues };
    const path = { prev: undefined, key: responseName, typename: rootType.name };
    const info: GraphQLResolveInfo = {
      fieldName: field.name,
      fieldNodes,
      returnType: field.type,
      parentType: rootType,
      path,
      ...operationContext,
    };
    let source: unknown;
    try {
      source = resolve(event, args, contextValue, info);
    } catch {
      return undefined;
    }
    if (source == null || source instanceof Error || typeof (source as { then?: unknown }).then === 'function') return undefined;
    const body = selection.complete(source, contextValue, path, operationContext);
    return body === undefined ? undefined : `${head}${body}}}`;
  };
}

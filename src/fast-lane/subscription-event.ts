import { getArgumentValues, getVariableValues, OperationTypeNode, type DocumentNode, type GraphQLSchema } from 'graphql';
import { singleRootField } from './single-root-field.js';

/**
 * A subscription group's per-event execution, compiled once when the group forms: for
 * `subscription { <alias>: topic(...) { <leaf fields> } }` (or `broadcasts`), the event's result as
 * JSON text, `{"data":{"<alias>":{...}}}`, exactly what graphql-js's execute and JSON.stringify
 * give (the root field's resolver and every leaf's resolver and serialize still run). Undefined for
 * any other shape, and the compiled function answers undefined for an event graphql-js must handle
 * (a resolver that throws or answers a promise): the group then executes that event with graphql-js.
 */
export type CompiledSubscriptionEvent = (event: unknown, contextValue: unknown) => string | undefined;

export function compileSubscriptionEvent(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined,
  rawVariables: Readonly<Record<string, unknown>> | undefined,
): CompiledSubscriptionEvent | undefined {
  const root = singleRootField(schema, document, operationName, OperationTypeNode.SUBSCRIPTION);
  // A subscription field's event is one object (no subscription field returns a list).
  if (root === undefined || root.list) return undefined;
  const { operation, field, node, fragments, selection, head, path } = root;

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

  return (event, contextValue) => {
    const context = { schema, operation, fragments, rootValue: event, variableValues };
    let source: unknown;
    try {
      source = field.resolve(event, args, contextValue, root.info(context));
    } catch {
      return undefined;
    }
    if (source == null || source instanceof Error || typeof (source as { then?: unknown }).then === 'function') return undefined;
    const body = selection.complete(source, contextValue, path, context);
    return body === undefined ? undefined : `${head}${body}}}`;
  };
}

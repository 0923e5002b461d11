import {
  isLeafType,
  isNonNullType,
  Kind,
  typeFromAST,
  valueFromAST,
  type FieldNode,
  type GraphQLField,
  type GraphQLLeafType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';

/**
 * graphql-js's variable and argument coercion (getVariableValues, getArgumentValues) for the common
 * case, planned once per document. graphql-js re-reads the document's type references and searches
 * the argument list on every call: at 1 000 publishes/s (bench 1k-100t-10k/s) that was 4% of the
 * server's CPU, a tenth of the publish lane's JavaScript. These plans take only the path on which
 * graphql-js cannot fail, and answer undefined for anything else (a missing, null or unparseable
 * value, a list or input object type), so that the caller runs graphql-js, which then reports its
 * exact error. Values come out the same, in objects of the same kind:
 * test/compiled-execution.test.ts compares the results with graphql-js's own.
 */

/** Coerced variables (a plain object, as graphql-js returns), or undefined: ask graphql-js. */
export type VariableCoercion = (raw: Record<string, unknown>) => Record<string, unknown> | undefined;

/** The field's arguments, or undefined: ask graphql-js. */
export type ArgumentCoercion = (variables: Record<string, unknown>) => Record<string, unknown> | undefined;

export function planVariableCoercion(schema: GraphQLSchema, operation: OperationDefinitionNode): VariableCoercion | undefined {
  const steps: Array<{ readonly name: string; readonly type: GraphQLLeafType }> = [];
  for (const definition of operation.variableDefinitions ?? []) {
    const type = typeFromAST(schema, definition.type);
    const named = isNonNullType(type) ? type.ofType : type;
    // Lists and input objects have rules of their own (a lone value becomes a list, defaults inside
    // objects): graphql-js keeps them. A default applies only to a missing value, which falls back.
    if (!isLeafType(named)) return undefined;
    steps.push({ name: definition.variable.name.value, type: named });
  }
  return (raw) => {
    const coerced: Record<string, unknown> = {};
    for (const { name, type } of steps) {
      // As graphql-js: only the input's own properties count; null and undefined are its cases.
      const value = Object.hasOwn(raw, name) ? raw[name] : undefined;
      if (value == null) return undefined;
      let parsed: unknown;
      try {
        parsed = type.parseValue(value);
      } catch {
        return undefined;
      }
      if (parsed === undefined) return undefined;
      coerced[name] = parsed;
    }
    return coerced;
  };
}

export function planArgumentCoercion(field: GraphQLField<unknown, unknown>, node: FieldNode): ArgumentCoercion {
  const steps = field.args.map((argument) => {
    const valueNode = node.arguments?.find((candidate) => candidate.name.value === argument.name)?.value;
    return { name: argument.name, type: argument.type, defaultValue: argument.defaultValue, valueNode };
  });
  return (variables) => {
    const coerced: Record<string, unknown> = {};
    for (const { name, type, defaultValue, valueNode } of steps) {
      if (valueNode === undefined) {
        if (defaultValue !== undefined) coerced[name] = defaultValue;
        else if (isNonNullType(type)) return undefined;
        continue;
      }
      if (valueNode.kind === Kind.VARIABLE) {
        // Own properties only: `variables` has Object's prototype, and `$constructor` is a legal name.
        const value = Object.hasOwn(variables, valueNode.name.value) ? variables[valueNode.name.value] : undefined;
        // Absent or null: graphql-js's default and null rules, or its error.
        if (value == null) return undefined;
        coerced[name] = value;
        continue;
      }
      if (valueNode.kind === Kind.NULL) return undefined;
      const value = valueFromAST(valueNode, type, variables);
      if (value === undefined) return undefined;
      coerced[name] = value;
    }
    return coerced;
  };
}

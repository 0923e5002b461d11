import {
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  Kind,
  typeFromAST,
  valueFromAST,
  type FieldNode,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';

/**
 * graphql-js's variable and argument coercion (getVariableValues, getArgumentValues) for the common
 * case, planned once per document. graphql-js re-reads the document's type references and searches
 * the argument list on every call: at 1 000 publishes/s (bench 1k-100t-10k/s) that was 4% of the
 * server's CPU, a tenth of the publish lane's JavaScript; for publishMany's list of input objects,
 * its generic walk was a tenth of the whole server's time. These plans take only the path on which
 * graphql-js cannot fail, and answer undefined for anything else (a missing or unparseable value, a
 * null variable, an unknown field, a oneOf input), so that the caller runs graphql-js, which then
 * reports its exact error. Values come out the same, in objects of the same kind:
 * test/compiled-execution.test.ts compares the results with graphql-js's own.
 */

/** Coerced variables (a plain object, as graphql-js returns), or undefined: ask graphql-js. */
export type VariableCoercion = (raw: Record<string, unknown>) => Record<string, unknown> | undefined;

/** The field's arguments, or undefined: ask graphql-js. */
export type ArgumentCoercion = (variables: Record<string, unknown>) => Record<string, unknown> | undefined;

/** What a planned input coercion answers where graphql-js would report an error (or the plan does not follow). */
const DECLINE: unique symbol = Symbol('decline');
type InputCoercion = (value: unknown) => unknown;

export function planVariableCoercion(schema: GraphQLSchema, operation: OperationDefinitionNode): VariableCoercion | undefined {
  const steps: Array<{ readonly name: string; readonly coerce: InputCoercion }> = [];
  for (const definition of operation.variableDefinitions ?? []) {
    const type = typeFromAST(schema, definition.type) as GraphQLInputType | undefined;
    const coerce = type === undefined ? undefined : planInput(type);
    if (coerce === undefined) return undefined;
    steps.push({ name: definition.variable.name.value, coerce });
  }
  return (raw) => {
    const coerced: Record<string, unknown> = {};
    for (const { name, coerce } of steps) {
      // As graphql-js: only the input's own properties count. Absent (a default) and null (allowed
      // or refused by the type) are graphql-js's cases.
      const value = Object.hasOwn(raw, name) ? raw[name] : undefined;
      if (value == null) return undefined;
      const parsed = coerce(value);
      if (parsed === DECLINE) return undefined;
      coerced[name] = parsed;
    }
    return coerced;
  };
}

/** graphql-js's coerceInputValue for `type`, step for step, with DECLINE for each of its errors. */
function planInput(type: GraphQLInputType): InputCoercion | undefined {
  if (isNonNullType(type)) {
    const inner = planNullable(type.ofType);
    return inner && ((value) => (value == null ? DECLINE : inner(value)));
  }
  const inner = planNullable(type);
  return inner && ((value) => (value == null ? null : inner(value)));
}

function planNullable(type: GraphQLInputType): InputCoercion | undefined {
  if (isLeafType(type)) {
    return (value) => {
      try {
        const parsed: unknown = type.parseValue(value);
        return parsed === undefined ? DECLINE : parsed;
      } catch {
        return DECLINE;
      }
    };
  }
  if (isListType(type)) {
    const item = planInput(type.ofType);
    if (item === undefined) return undefined;
    return (value) => {
      // A lone value is a list of one; iterables other than arrays (none come from JSON) stay graphql-js's.
      if (!Array.isArray(value)) {
        if (typeof value === 'object' && typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function') return DECLINE;
        const one = item(value);
        return one === DECLINE ? DECLINE : [one];
      }
      const list: unknown[] = [];
      for (let index = 0; index < value.length; index++) {
        const one = item(value[index]);
        if (one === DECLINE) return DECLINE;
        list.push(one);
      }
      return list;
    };
  }
  if (isInputObjectType(type)) {
    // oneOf inputs have a rule of their own: graphql-js keeps them.
    if (type.isOneOf) return undefined;
    const defined = type.getFields();
    const fields: Array<{ readonly name: string; readonly coerce: InputCoercion; readonly defaultValue: unknown; readonly required: boolean }> = [];
    for (const field of Object.values(defined)) {
      const coerce = planInput(field.type);
      if (coerce === undefined) return undefined;
      fields.push({ name: field.name, coerce, defaultValue: field.defaultValue, required: isNonNullType(field.type) });
    }
    return (value) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return DECLINE;
      const object = value as Record<string, unknown>;
      const coerced: Record<string, unknown> = {};
      for (const { name, coerce, defaultValue, required } of fields) {
        // As graphql-js reads it (not only own properties), so the two agree on every input.
        const fieldValue = object[name];
        if (fieldValue === undefined) {
          if (defaultValue !== undefined) coerced[name] = defaultValue;
          else if (required) return DECLINE;
          continue;
        }
        const one = coerce(fieldValue);
        if (one === DECLINE) return DECLINE;
        coerced[name] = one;
      }
      for (const key of Object.keys(object)) if (!Object.hasOwn(defined, key)) return DECLINE;
      return coerced;
    };
  }
  return undefined;
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

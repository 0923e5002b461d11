import {
  getNamedType,
  isLeafType,
  isNonNullType,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLLeafType,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Path } from 'graphql/jsutils/Path.js';
import { JSON_TEXT_EXTENSION, type JsonText } from '../schema/json-text-extension.js';

/**
 * Completes one object for a selection set of plain leaf fields, straight to JSON text: what
 * graphql-js's completeValue does for such a selection, without its generic machinery (collecting
 * fields, a resolve info and a path per field, promise checks, a result object to stringify). Each
 * field still runs the schema's own resolver and its type's serialize, so the output is the one
 * graphql-js gives; `test/compiled-execution.test.ts` compares the two on every Message field.
 * The one shortcut is a field that declares its JSON text (schema/json-text-extension.ts): where the
 * source has that text, it is the field's value as written, resolver and serialize skipped.
 *
 * Only the common shape compiles: fields (aliases allowed) with no arguments, no directives, no
 * sub-selection and distinct response keys, on a type without isTypeOf. Anything else (fragments,
 * @include, nested objects) returns undefined, and the caller runs graphql-js as before. A value
 * graphql-js would turn into a field error (a resolver that throws or answers a promise, null for a
 * non-null field) makes `complete` return undefined too, for the caller to handle.
 */
export interface CompiledSelection {
  /** The object's JSON text, or undefined when graphql-js must complete it (see above). */
  complete(source: unknown, contextValue: unknown, path: Path | undefined, operation: OperationContext): string | undefined;
}

/** What a resolve info carries about the operation (the same for every field of one execution). */
export interface OperationContext {
  readonly schema: GraphQLSchema;
  readonly operation: OperationDefinitionNode;
  readonly fragments: Record<string, FragmentDefinitionNode>;
  readonly rootValue: unknown;
  readonly variableValues: Record<string, unknown>;
}

type CompiledField =
  | { readonly kind: 'typename'; readonly key: string }
  | {
      readonly kind: 'leaf';
      /** `"responseName":` */
      readonly key: string;
      readonly responseName: string;
      readonly field: GraphQLField<unknown, unknown>;
      readonly nodes: readonly FieldNode[];
      readonly leaf: GraphQLLeafType;
      readonly nonNull: boolean;
      readonly text: JsonText | undefined;
    };

export function compileSelection(type: GraphQLObjectType, selectionSet: SelectionSetNode): CompiledSelection | undefined {
  if (type.isTypeOf != null) return undefined;
  const fields: CompiledField[] = [];
  const seen = new Set<string>();
  for (const selection of selectionSet.selections) {
    if (selection.kind !== Kind.FIELD) return undefined;
    if ((selection.directives?.length ?? 0) > 0 || (selection.arguments?.length ?? 0) > 0 || selection.selectionSet !== undefined) return undefined;
    const responseName = selection.alias?.value ?? selection.name.value;
    if (seen.has(responseName)) return undefined;
    seen.add(responseName);
    const key = `${JSON.stringify(responseName)}:`;
    if (selection.name.value === '__typename') {
      fields.push({ kind: 'typename', key });
      continue;
    }
    const field = type.getFields()[selection.name.value];
    if (field === undefined) return undefined;
    const inner = isNonNullType(field.type) ? field.type.ofType : field.type;
    const named = getNamedType(field.type);
    if (inner !== named || !isLeafType(named)) return undefined; // lists and objects stay graphql-js's
    const text = field.extensions[JSON_TEXT_EXTENSION];
    fields.push({
      kind: 'leaf',
      key,
      responseName,
      field,
      nodes: [selection],
      leaf: named,
      nonNull: inner !== field.type,
      text: typeof text === 'function' ? (text as JsonText) : undefined,
    });
  }

  return {
    complete(source, contextValue, path, operation) {
      let json = '{';
      for (let i = 0; i < fields.length; i++) {
        const compiled = fields[i]!;
        const text = compiled.kind === 'leaf' ? compiled.text?.(source) : undefined;
        if (text !== undefined) {
          json += `${i === 0 ? '' : ','}${compiled.key}${text}`;
          continue;
        }
        const value = compiled.kind === 'typename' ? type.name : completeLeaf(compiled, source, contextValue, path, operation);
        if (value === undefined) return undefined;
        json += `${i === 0 ? '' : ','}${compiled.key}${JSON.stringify(value)}`;
      }
      return `${json}}`;
    },
  };

  /** The field's serialized value (null allowed only where the schema allows it), or undefined for graphql-js to complete. */
  function completeLeaf(
    compiled: Extract<CompiledField, { kind: 'leaf' }>,
    source: unknown,
    contextValue: unknown,
    path: Path | undefined,
    operation: OperationContext,
  ): unknown {
    const { responseName, field, nodes, leaf, nonNull } = compiled;
    const info: GraphQLResolveInfo = {
      fieldName: field.name,
      fieldNodes: nodes,
      returnType: field.type,
      parentType: type,
      path: { prev: path, key: responseName, typename: type.name },
      schema: operation.schema,
      fragments: operation.fragments,
      rootValue: operation.rootValue,
      operation: operation.operation,
      variableValues: operation.variableValues,
    };
    try {
      const resolved = field.resolve === undefined ? defaultResolve(source, field.name) : field.resolve(source, {}, contextValue, info);
      if (resolved instanceof Error || isThenable(resolved)) return undefined;
      if (resolved == null) return nonNull ? undefined : null;
      const serialized: unknown = leaf.serialize(resolved);
      return serialized == null ? undefined : serialized;
    } catch {
      return undefined;
    }
  }
}

/** graphql-js's default field resolver, for a field the schema left without one. */
function defaultResolve(source: unknown, name: string): unknown {
  if (typeof source !== 'object' || source === null) return undefined;
  const value = (source as Record<string, unknown>)[name];
  // graphql-js calls a function-valued property; no Message property is one, so leave it to graphql-js.
  if (typeof value === 'function') throw new Error('function-valued property');
  return value;
}

const isThenable = (value: unknown): boolean => typeof (value as { then?: unknown } | null)?.then === 'function';

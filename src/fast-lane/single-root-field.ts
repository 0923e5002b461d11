import {
  getOperationAST,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type OperationTypeNode,
} from 'graphql';
import type { Path } from 'graphql/jsutils/Path.js';
import { compileSelection, type CompiledSelection, type OperationContext } from './message-selection.js';

/**
 * The shape both compiled executions accept (compiled-mutation.ts, subscription-event.ts): one
 * operation of the given type whose selection is a single root field, without directives, that
 * has its own resolver and returns an object, or a list of non-null objects (`list`), whose
 * selection compiles (message-selection.ts). Undefined for anything else, which graphql-js then executes.
 */
export interface SingleRootField {
  readonly operation: OperationDefinitionNode;
  readonly rootType: GraphQLObjectType;
  readonly field: GraphQLField<unknown, unknown> & { readonly resolve: NonNullable<GraphQLField<unknown, unknown>['resolve']> };
  readonly node: FieldNode;
  readonly responseName: string;
  /** Whether the field's type is non-null (a field error then nulls the whole `data`). */
  readonly nonNull: boolean;
  /** The field returns a list of non-null objects (publishMany's `[Message!]!`), each completed by `selection`. */
  readonly list: boolean;
  readonly objectType: GraphQLObjectType;
  readonly selection: CompiledSelection;
  readonly fragments: Record<string, FragmentDefinitionNode>;
  /** `{"data":{"<responseName>":` */
  readonly head: string;
  /** The root field's path, and its resolve info for one execution. */
  readonly path: Path;
  info(operation: OperationContext): GraphQLResolveInfo;
}

export function singleRootField(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | undefined,
  type: OperationTypeNode,
): SingleRootField | undefined {
  const operation = getOperationAST(document, operationName);
  const rootType = schema.getRootType(type);
  if (operation == null || operation.operation !== type || rootType == null) return undefined;
  if (operation.directives?.length || operation.selectionSet.selections.length !== 1) return undefined;
  const node = operation.selectionSet.selections[0]!;
  if (node.kind !== Kind.FIELD || node.directives?.length || node.selectionSet === undefined) return undefined;
  const field = rootType.getFields()[node.name.value];
  // graphql-js runs the field's resolver; without one its default would read a property, not handled here.
  if (field?.resolve === undefined) return undefined;
  const fieldType = isNonNullType(field.type) ? field.type.ofType : field.type;
  const list = isListType(fieldType);
  // A list's items must be non-null: a null item would be an error at the item's own path.
  if (list && !isNonNullType(fieldType.ofType)) return undefined;
  const objectType: unknown = list ? (fieldType.ofType as { ofType: unknown }).ofType : fieldType;
  if (!isObjectType(objectType)) return undefined;
  const selection = compileSelection(objectType, node.selectionSet);
  if (selection === undefined) return undefined;

  const responseName = node.alias?.value ?? node.name.value;
  const path: Path = { prev: undefined, key: responseName, typename: rootType.name };
  const fieldNodes = [node];
  return {
    operation,
    rootType,
    field: field as SingleRootField['field'],
    node,
    responseName,
    nonNull: fieldType !== field.type,
    list,
    objectType,
    selection,
    fragments: Object.fromEntries(
      document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION).map((definition) => [definition.name.value, definition]),
    ),
    head: `{"data":{${JSON.stringify(responseName)}:`,
    path,
    // Every property written out rather than spread from `context`: one object shape, no copy loop.
    info: ({ schema: ofSchema, operation: ofOperation, fragments, rootValue, variableValues }) => ({
      fieldName: field.name,
      fieldNodes,
      returnType: field.type,
      parentType: rootType,
      path,
      schema: ofSchema,
      operation: ofOperation,
      fragments,
      rootValue,
      variableValues,
    }),
  };
}

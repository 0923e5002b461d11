import {
  getNamedType,
  getOperationAST,
  isAbstractType,
  isObjectType,
  isInterfaceType,
  Kind,
  type DocumentNode,
  type GraphQLField,
  type GraphQLInterfaceType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';

/**
 * A field extension that marks a field whose result can differ between two viewers of the same
 * message (`extensions: { [VIEWER_DEPENDENT]: true }` on a Pothos field). Fields with Pothos
 * `authScopes` (on the field or its type) count as such without the marker: their result depends
 * on who asks.
 */
export const VIEWER_DEPENDENT = 'heraldViewerDependent';

/**
 * Whether executing the operation's selection once for every subscriber of a group could give one
 * viewer another's result. Grouped execution (subscription-groups.ts) shares one context and one
 * result among subscribers whose key holds no viewer, and the compiled event copies fields without
 * running resolvers; a selection this returns true for gets neither. Fragments are followed; an
 * operation it cannot find counts as dependent (nothing is shared on a guess).
 *
 * Execution runs the concrete type's field, not the interface's: a field selected on an interface is
 * dependent when it is marked on the interface or on any implementation, and an abstract type (a
 * field's type, a fragment's type condition) is dependent when any of its possible types is marked.
 */
export function selectsViewerDependentField(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): boolean {
  const operation = getOperationAST(document, operationName);
  const root = schema.getSubscriptionType();
  if (operation == null || root == null) return true;
  const fragments = new Map(
    document.definitions.flatMap((definition) => (definition.kind === Kind.FRAGMENT_DEFINITION ? [[definition.name.value, definition] as const] : [])),
  );
  const visitedFragments = new Set<string>();

  const typeDepends = (type: GraphQLNamedType): boolean =>
    dependsOnViewerType(type) || (isAbstractType(type) && schema.getPossibleTypes(type).some(dependsOnViewerType));

  /** The definitions execution may run for `name` selected on `type`: its own, and each implementation's. */
  const definitionsOf = (type: GraphQLObjectType | GraphQLInterfaceType, name: string): Array<GraphQLField<unknown, unknown> | undefined> =>
    isInterfaceType(type) ? [type, ...schema.getPossibleTypes(type)].map((each) => each.getFields()[name]) : [type.getFields()[name]];

  const visit = (type: GraphQLNamedType, selectionSet: SelectionSetNode): boolean => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value.startsWith('__')) continue;
        if (!isObjectType(type) && !isInterfaceType(type)) return true;
        for (const field of definitionsOf(type, selection.name.value)) {
          if (field === undefined || dependsOnViewer(field)) return true;
          const fieldType = getNamedType(field.type);
          if (typeDepends(fieldType)) return true;
          if (selection.selectionSet !== undefined && visit(fieldType, selection.selectionSet)) return true;
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const inner = selection.typeCondition === undefined ? type : schema.getType(selection.typeCondition.name.value);
        if (inner === undefined || typeDepends(inner) || visit(inner, selection.selectionSet)) return true;
      } else {
        const name = selection.name.value;
        if (visitedFragments.has(name)) continue;
        visitedFragments.add(name);
        const fragment = fragments.get(name);
        const inner = fragment === undefined ? undefined : schema.getType(fragment.typeCondition.name.value);
        if (fragment === undefined || inner === undefined || typeDepends(inner) || visit(inner, fragment.selectionSet)) return true;
      }
    }
    return false;
  };
  return visit(root, operation.selectionSet);
}

interface PothosExtensions {
  readonly [VIEWER_DEPENDENT]?: unknown;
  readonly pothosOptions?: { readonly authScopes?: unknown; readonly grantScopes?: unknown };
}

function dependsOnViewer(field: GraphQLField<unknown, unknown>): boolean {
  const extensions = field.extensions as PothosExtensions;
  return extensions[VIEWER_DEPENDENT] === true || extensions.pothosOptions?.authScopes !== undefined;
}

function dependsOnViewerType(type: GraphQLNamedType): boolean {
  const extensions = type.extensions as PothosExtensions;
  return extensions[VIEWER_DEPENDENT] === true || extensions.pothosOptions?.authScopes !== undefined;
}

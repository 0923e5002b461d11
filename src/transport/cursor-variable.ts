import { getOperationAST, Kind, visit, type DocumentNode } from 'graphql';

/**
 * The variable that gives the subscription's root field its `after` cursor, when it is used for
 * nothing else: members resuming from different places then share one group (the group key leaves
 * it out), since a cursor only decides where a member's replay starts, never what an event renders.
 */
export function cursorVariableOf(document: DocumentNode, operationName: string | undefined): string | undefined {
  const operation = getOperationAST(document, operationName);
  const root = operation?.selectionSet.selections[0];
  if (root?.kind !== Kind.FIELD) return undefined;
  const after = root.arguments?.find((argument) => argument.name.value === 'after')?.value;
  if (after?.kind !== Kind.VARIABLE) return undefined;
  const name = after.name.value;
  let uses = 0;
  visit(document, {
    Variable(node) {
      if (node.name.value === name) uses++;
    },
    // Its definition names it too; only uses count.
    VariableDefinition: () => false,
  });
  return uses === 1 ? name : undefined;
}

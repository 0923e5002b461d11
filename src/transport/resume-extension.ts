import { Kind, type DocumentNode, type FieldNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { HeraldError } from '../errors.js';
import { parseCursor } from '../history/cursor.js';
import type { MessageSource } from '../subscribe/message-source.js';
import type { ResumeFrom } from '../subscribe/resume.js';
import { isPattern } from '../topics/topic-name.js';

/**
 * The subscribe payload's `extensions.heraldResume`: how herald/client (src/client/) resumes
 * without the application writing `after` into its documents. graphql-ws re-sends the same payload
 * on every retry; the client keeps `after` in it up to date with the last Message.id it delivered.
 *
 *   { "heraldResume": { "after": "<Message.id>" | null } }
 *
 * Present, it says the client resumes from the root field's `id`, so a selection without `id` is
 * refused at once (the client could never resume). Its `after`, when set, replaces the document's.
 *
 * With `after` null (and no `after` in the document) the subscription is anchored: it starts at the
 * stream's current head through the resume seam (listen, hold, read the head, then live) and its
 * first result is that head, data-less: `{ "extensions": { "heraldResume": { "after": "<id>" } } }`
 * (anchorResult). The client records it as `after` and never shows it to the application, so a cut
 * before the first message resumes from there and loses nothing. Only clients sending heraldResume
 * get it: plain graphql-ws users see no such result.
 *
 * A pattern cannot resume: its `after` fails as CURSOR_EXPIRED, the code a client handles by
 * re-reading state, since what the pattern missed cannot be replayed. Its anchor (and any anchor
 * while history is off) is UNRESUMABLE_ID, so a cut pattern subscription always hears
 * CURSOR_EXPIRED rather than silently going on live.
 */
export function resumeStart(extensions: unknown, document: DocumentNode, operation: OperationDefinitionNode, source: MessageSource): ResumeFrom | undefined {
  if (typeof extensions !== 'object' || extensions === null || !('heraldResume' in extensions)) return source.cursor;
  const resume = extensions.heraldResume;
  const after = typeof resume === 'object' && resume !== null ? (resume as { after?: unknown }).after : undefined;
  if (after !== undefined && after !== null && typeof after !== 'string') {
    throw new HeraldError('BAD_USER_INPUT', 'extensions.heraldResume.after must be a Message.id or null');
  }
  if (!selectsRootId(document, operation.selectionSet)) {
    throw new HeraldError('BAD_USER_INPUT', "herald/client resumes from Message.id: select id on the subscription's root field (topic or broadcasts)");
  }
  // The document's own after says where a subscription that delivered nothing yet starts.
  if (after == null) return source.cursor ?? 'head';
  const cursor = parseCursor(after, 'extensions.heraldResume.after');
  if (source.target.kind === 'topic' && isPattern(source.target.name)) {
    throw new HeraldError(
      'CURSOR_EXPIRED',
      'a pattern subscription cannot resume (ids order one topic, not many): re-read the current state; the subscription goes on live when subscribed again',
    );
  }
  return cursor;
}

/** The data-less first result of an anchored subscription (see resumeStart), as the `payload` JSON of a `next` message. */
export const anchorResult = (id: string): string => JSON.stringify({ extensions: { heraldResume: { after: id } } });

/** Whether the operation's root field selects `id`, directly or through fragments. */
function selectsRootId(document: DocumentNode, operation: SelectionSetNode): boolean {
  const root = firstField(document, operation);
  return root?.selectionSet !== undefined && selects(document, root.selectionSet, 'id');
}

function firstField(document: DocumentNode, set: SelectionSetNode): FieldNode | undefined {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) return selection;
    const inner = innerSet(document, selection);
    const field = inner === undefined ? undefined : firstField(document, inner);
    if (field !== undefined) return field;
  }
  return undefined;
}

function selects(document: DocumentNode, set: SelectionSetNode, name: string): boolean {
  return set.selections.some((selection) => {
    if (selection.kind === Kind.FIELD) return selection.name.value === name;
    const inner = innerSet(document, selection);
    return inner !== undefined && selects(document, inner, name);
  });
}

function innerSet(document: DocumentNode, selection: SelectionSetNode['selections'][number]): SelectionSetNode | undefined {
  if (selection.kind === Kind.INLINE_FRAGMENT) return selection.selectionSet;
  if (selection.kind !== Kind.FRAGMENT_SPREAD) return undefined;
  const fragment = document.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value);
  return fragment?.kind === Kind.FRAGMENT_DEFINITION ? fragment.selectionSet : undefined;
}

/**
 * A field extension: `(source) => string | undefined`, the JSON text of the field's value (exactly
 * JSON.stringify(serialize(resolve(source)))) when the source already has it. The compiled
 * executions (src/fast-lane/message-selection.ts) write that text instead of resolving,
 * serializing and stringifying the value. Message.payload declares one: the publish service
 * stringified the payload for its size check, and every group delivering the message would
 * otherwise stringify it again.
 */
export const JSON_TEXT_EXTENSION = 'heraldJsonText';

export type JsonText = (source: unknown) => string | undefined;

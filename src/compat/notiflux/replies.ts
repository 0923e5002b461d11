import type { ErrorCode } from '../../errors.js';

/**
 * Every text frame the notiflux surface sends that is not a published message. The first two are
 * notiflux's own, word for word; deployed clients may compare against them.
 */
export const INVALID_SUBSCRIBE = 'Invalid subscribe command, it should be: /subscribe <topic> <token>';
export const UNKNOWN_COMMAND = 'Unknown command';

// notiflux answered a bare `/unsubscribe` with "Unknown command" and took `/unsubscribe a b` as the
// topic "a b"; Herald says what is wrong, in the same form as the subscribe reply.
export const INVALID_UNSUBSCRIBE = 'Invalid unsubscribe command, it should be: /unsubscribe <topic>';
export const INVALID_UNSUBSCRIBE_ALL = 'Invalid unsubscribe-all command, it should be: /unsubscribe-all';

/**
 * A failure told to the client: `Error: <CODE>: <reason>`. notiflux said nothing; the frame starts
 * with `Error:` so a client can tell it from a message, and the code is Herald's stable error code
 * (the GraphQL API's extensions.code), so a client can branch on it without reading the reason.
 */
export function errorReply(code: ErrorCode, reason: string): string {
  return `Error: ${code}: ${reason}`;
}

/** A client-supplied topic inside a reply: quoted, and cut short so a huge one is not echoed back whole. */
export function quoteTopic(topic: string): string {
  return JSON.stringify(topic.length > 64 ? `${topic.slice(0, 61)}...` : topic);
}

import { INVALID_SUBSCRIBE, INVALID_UNSUBSCRIBE, INVALID_UNSUBSCRIBE_ALL, UNKNOWN_COMMAND } from './replies.js';

/** One text frame from a notiflux client, as the protocol reads it. */
export type Command =
  | { readonly kind: 'subscribe'; readonly topic: string; readonly token: string }
  | { readonly kind: 'unsubscribe'; readonly topic: string }
  | { readonly kind: 'unsubscribe-all' }
  /** A command with the wrong number of arguments, or an unknown one: answer `reply`, change nothing. */
  | { readonly kind: 'invalid'; readonly reply: string }
  /** Text that does not start with `/`: not a command. notiflux ignored it without a word, and so does Herald. */
  | { readonly kind: 'ignored' };

const IGNORED: Command = { kind: 'ignored' };
const invalid = (reply: string): Command => ({ kind: 'invalid', reply });

/**
 * Parses a text frame: trimmed, then a `/command` and its arguments separated by whitespace.
 * Pure. Command names are case-sensitive, as in notiflux.
 */
export function parseCommand(text: string): Command {
  const trimmed = text.trim();
  if (!trimmed.startsWith('/')) return IGNORED;
  const [name, ...args] = trimmed.split(/\s+/);
  switch (name) {
    case '/subscribe':
      return args.length === 2 ? { kind: 'subscribe', topic: args[0]!, token: args[1]! } : invalid(INVALID_SUBSCRIBE);
    case '/unsubscribe':
      return args.length === 1 ? { kind: 'unsubscribe', topic: args[0]! } : invalid(INVALID_UNSUBSCRIBE);
    case '/unsubscribe-all':
      return args.length === 0 ? { kind: 'unsubscribe-all' } : invalid(INVALID_UNSUBSCRIBE_ALL);
    default:
      return invalid(UNKNOWN_COMMAND);
  }
}

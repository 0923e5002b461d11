import { describe, expect, it } from 'vitest';
import { parseCommand } from '../src/compat/notiflux/commands.js';
import { errorReply, INVALID_SUBSCRIBE, INVALID_UNSUBSCRIBE, INVALID_UNSUBSCRIBE_ALL, quoteTopic, UNKNOWN_COMMAND } from '../src/compat/notiflux/replies.js';

describe('notiflux command parser', () => {
  it('reads the three commands, trimmed, with whitespace-separated arguments', () => {
    expect(parseCommand('/subscribe orders eyJ.a.b')).toEqual({ kind: 'subscribe', topic: 'orders', token: 'eyJ.a.b' });
    expect(parseCommand('  /subscribe   campaign:42\teyJ.a.b \r\n')).toEqual({ kind: 'subscribe', topic: 'campaign:42', token: 'eyJ.a.b' });
    expect(parseCommand('/unsubscribe orders')).toEqual({ kind: 'unsubscribe', topic: 'orders' });
    expect(parseCommand('\n/unsubscribe  orders ')).toEqual({ kind: 'unsubscribe', topic: 'orders' });
    expect(parseCommand('/unsubscribe-all')).toEqual({ kind: 'unsubscribe-all' });
    expect(parseCommand(' /unsubscribe-all\n')).toEqual({ kind: 'unsubscribe-all' });
  });

  it("answers a subscribe with the wrong number of arguments with notiflux's own text", () => {
    expect(INVALID_SUBSCRIBE).toBe('Invalid subscribe command, it should be: /subscribe <topic> <token>');
    for (const text of ['/subscribe', '/subscribe ', '/subscribe orders', '/subscribe orders token extra']) {
      expect(parseCommand(text)).toEqual({ kind: 'invalid', reply: INVALID_SUBSCRIBE });
    }
  });

  it('answers unsubscribe and unsubscribe-all with the wrong number of arguments in the same form', () => {
    for (const text of ['/unsubscribe', '/unsubscribe a b']) expect(parseCommand(text)).toEqual({ kind: 'invalid', reply: INVALID_UNSUBSCRIBE });
    expect(parseCommand('/unsubscribe-all orders')).toEqual({ kind: 'invalid', reply: INVALID_UNSUBSCRIBE_ALL });
    expect(INVALID_UNSUBSCRIBE).toBe('Invalid unsubscribe command, it should be: /unsubscribe <topic>');
    expect(INVALID_UNSUBSCRIBE_ALL).toBe('Invalid unsubscribe-all command, it should be: /unsubscribe-all');
  });

  it('answers any other slash command with "Unknown command" (names are case-sensitive)', () => {
    expect(UNKNOWN_COMMAND).toBe('Unknown command');
    for (const text of ['/', '/publish orders hi', '/SUBSCRIBE orders t', '/subscribe-all', '/unsubscribeall', '//subscribe a b']) {
      expect(parseCommand(text)).toEqual({ kind: 'invalid', reply: UNKNOWN_COMMAND });
    }
  });

  it('ignores text that is not a command, as notiflux did', () => {
    for (const text of ['', '   ', 'hello', 'subscribe orders token', ' x /subscribe a b', '{"action":"subscribe"}']) {
      expect(parseCommand(text)).toEqual({ kind: 'ignored' });
    }
  });

  it('formats failures as "Error: <CODE>: <reason>" and cuts long topics short', () => {
    expect(errorReply('FORBIDDEN', 'no')).toBe('Error: FORBIDDEN: no');
    expect(quoteTopic('orders')).toBe('"orders"');
    expect(quoteTopic('x'.repeat(300))).toBe(`"${'x'.repeat(61)}..."`);
  });
});

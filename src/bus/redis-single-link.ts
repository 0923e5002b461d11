import { randomUUID } from 'node:crypto';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { Redis, type RedisOptions } from 'ioredis';
import type { HistoryOptions } from '../history/history.js';
import type { Logger } from '../log.js';
import { redactUrl } from '../redact-url.js';
import { controlReplyChannel, controlRequestChannel, redisChannelName } from './redis-channels.js';
import { createRedisHistory } from './redis-history.js';
import { parseOrUndefined, quit, watchAvailability, whenReady, type RedisLink } from './redis-link.js';

/** The event each Redis message becomes; `detail` is undefined when the text was not JSON. */
type MessageEvent = CustomEvent<unknown>;

/**
 * One Redis server, classic pub/sub, through @graphql-yoga/redis-event-target on two ioredis
 * connections. The event target does what it is good at: one SUBSCRIBE per channel however many
 * local listeners, UNSUBSCRIBE when the last leaves, decoding each message once per instance.
 * Publishing goes straight to ioredis (the history script), because dispatchEvent fires and forgets
 * and the publish mutation must know whether Redis took the message.
 */
export function createRedisSingleLink(options: { url: string; prefix: string; logger: Logger; history: HistoryOptions }): RedisLink {
  const { url, prefix, logger } = options;
  const common: RedisOptions = {
    connectionName: `${prefix}:herald`,
    // Back off to 2 s between attempts, for ever.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  };
  const publishClient = new Redis(url, {
    ...common,
    // Fail at once while disconnected instead of queueing: the publisher gets UNAVAILABLE and can retry.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // No commandTimeout: publish applies its own, which does not count event-loop lag (see lag-aware-timeout.ts).
  });
  // SUBSCRIBE commands issued while disconnected wait for the connection rather than fail.
  const subscribeClient = new Redis(url, { ...common, maxRetriesPerRequest: null });
  const target = createRedisEventTarget<MessageEvent>({
    publishClient,
    subscribeClient,
    // Anything on our channels that is not JSON (another program's traffic) is dropped, not thrown inside ioredis.
    serializer: { stringify: JSON.stringify, parse: parseOrUndefined },
  });
  const watch = watchAvailability([publishClient, subscribeClient], logger, redactUrl(url));
  const replyChannel = controlReplyChannel(prefix, randomUUID());

  return {
    history: createRedisHistory(publishClient, prefix, options.history),
    control: {
      requestChannel: controlRequestChannel(prefix),
      replyChannel,
      publish: (channel, text) => publishClient.publish(channel, text),
      async subscribe() {
        await subscribeClient.subscribe(controlRequestChannel(prefix), replyChannel);
      },
      onMessage(listener) {
        subscribeClient.on('message', listener);
        return () => void subscribeClient.off('message', listener);
      },
    },
    patternsApart: false,
    channelName: (channel) => redisChannelName(prefix, channel),
    receive(name, onValue) {
      const handler = (event: MessageEvent): void => onValue(event.detail);
      target.addEventListener(name, handler);
      return {
        // A second SUBSCRIBE for the channel the event target subscribes: Redis acknowledges them in order, so its reply says ours is active.
        ready: subscribeClient.subscribe(name).then(
          () => undefined,
          () => undefined,
        ),
        // The event target unsubscribes when no handler is left.
        stop: () => target.removeEventListener(name, handler),
      };
    },
    async resubscribed(names) {
      // Redis answers in order on one connection: once this returns, every channel is subscribed again.
      await subscribeClient.subscribe(...names);
    },
    commandsReady: () => whenReady(publishClient),
    onReceiverBack(listener) {
      let wasReady = false;
      subscribeClient.on('ready', () => {
        if (wasReady) listener();
        wasReady = true;
      });
    },
    available: () => watch.available(),
    async close() {
      watch.stop();
      await Promise.all([publishClient, subscribeClient].map(quit));
    },
  };
}

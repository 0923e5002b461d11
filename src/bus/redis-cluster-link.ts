import { randomUUID } from 'node:crypto';
import { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import { describeClusterNodes, type RedisClusterNodes } from './redis-cluster-nodes.js';
import type { HistoryOptions } from '../history/history.js';
import type { Logger } from '../log.js';
import { clusterControlReplyChannel, clusterControlRequestChannel, shardChannelName } from './redis-channels.js';
import { createRedisHistory } from './redis-history.js';
import { parseOrUndefined, quit, watchAvailability, whenReady, type RedisLink } from './redis-link.js';

/** How long a channel whose SSUBSCRIBE was refused (no subscriber for its slot yet) waits before asking again. */
const RESUBSCRIBE_RETRY_MS = 200;

/**
 * A Redis Cluster, sharded pub/sub: every channel carries a hash tag (redis-channels.ts), so a
 * topic's messages go to the one shard that keeps its history and only the instances with
 * subscribers for it listen there. Two cluster clients: one for commands (the history scripts and
 * SPUBLISH), one whose sharded subscribers (one connection per master, ioredis `shardedSubscribers`)
 * SSUBSCRIBE. @graphql-yoga/redis-event-target speaks only classic pub/sub, so this link keeps its
 * own channel → handler map and decodes each message once per instance, as the event target does.
 *
 * After a failover or a slot migration ioredis rebuilds its subscribers from the new slot map and
 * subscribes them again, then emits `subscribersReady`: the bus then catches up from history
 * (redis-bus.ts), because what the new owner published before that was not received.
 */
export function createRedisClusterLink(options: { cluster: RedisClusterNodes; prefix: string; logger: Logger; history: HistoryOptions }): RedisLink {
  const { cluster, prefix, logger } = options;
  const nodeOptions: RedisOptions = {
    connectionName: `${prefix}:herald`,
    username: cluster.username,
    password: cluster.password,
    tls: cluster.tls ? {} : undefined,
  };
  const common: ClusterOptions = {
    redisOptions: nodeOptions,
    // Back off to 2 s between attempts to reach the cluster, for ever.
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  };
  const commands = new Cluster([...cluster.nodes], {
    ...common,
    // Fail at once while the cluster is unreachable instead of queueing: the publisher gets UNAVAILABLE and can retry.
    enableOfflineQueue: false,
    // No commandTimeout: the bus applies its own, which does not count event-loop lag (see lag-aware-timeout.ts).
  });
  const receiver = new Cluster([...cluster.nodes], {
    ...common,
    shardedSubscribers: true,
    // A slot that moves (resharding) takes its channels' subscriptions with it; only a fresh slot map tells the subscribers where to go.
    slotsRefreshInterval: 1_000,
  });
  const watch = watchAvailability([commands, receiver], logger, describeClusterNodes(cluster));

  /** Each received shard channel and what its messages go to. */
  const handlers = new Map<string, (value: unknown) => void>();
  receiver.on('smessage', (channel: string, text: string) => handlers.get(channel)?.(parseOrUndefined(text)));
  let closed = false;

  /** SSUBSCRIBE until the cluster takes it: before the first slot map, or while a shard has no subscriber, ioredis refuses it. */
  const subscribe = async (name: string, wanted: () => boolean): Promise<void> => {
    while (!closed && wanted()) {
      try {
        await receiver.ssubscribe(name);
        return;
      } catch (error) {
        logger.debug({ channel: name, err: (error as Error).message }, 'SSUBSCRIBE refused; retrying');
        await new Promise((resolve) => setTimeout(resolve, RESUBSCRIBE_RETRY_MS));
      }
    }
  };

  const requestChannel = clusterControlRequestChannel(prefix);
  const replyChannel = clusterControlReplyChannel(prefix, randomUUID());

  return {
    history: createRedisHistory(commands, prefix, options.history, true),
    control: {
      requestChannel,
      replyChannel,
      // SPUBLISH counts the subscribers of the shard that owns the channel, which is every instance: all control channels share one slot.
      publish: async (channel, text) => Number(await commands.spublish(channel, text)),
      subscribe: () => subscribe(requestChannel, () => true).then(() => subscribe(replyChannel, () => true)),
      onMessage(listener) {
        receiver.on('smessage', listener);
        return () => void receiver.off('smessage', listener);
      },
    },
    patternsApart: true,
    channelName: (channel) => shardChannelName(prefix, channel),
    receive(name, onValue) {
      handlers.set(name, onValue);
      const wanted = (): boolean => handlers.get(name) === onValue;
      return {
        ready: subscribe(name, wanted),
        stop() {
          if (!wanted()) return;
          handlers.delete(name);
          // Exactly one channel: ioredis's SUNSUBSCRIBE without arguments does not work on sharded subscribers.
          receiver.sunsubscribe(name).catch((error: unknown) => logger.debug({ channel: name, err: (error as Error).message }, 'SUNSUBSCRIBE failed'));
        },
      };
    },
    async resubscribed(names) {
      // ioredis subscribed them again but does not say when its SSUBSCRIBEs were acknowledged. Asking
      // again on the same connection does; unsubscribing first keeps ioredis from listing the channel
      // twice. Anything published between the two is read back from history by the caller.
      await Promise.all(
        names.map((name) => {
          receiver.sunsubscribe(name).catch(() => {});
          return subscribe(name, () => handlers.has(name));
        }),
      );
    },
    commandsReady: () => whenReady(commands),
    onReceiverBack(listener) {
      let wasReady = false;
      receiver.on('ready', () => (wasReady = true));
      // After a failover or a slot migration: the subscribers are rebuilt and subscribed again.
      receiver.on('subscribersReady', () => {
        if (wasReady && !closed) listener();
      });
    },
    available: () => watch.available(),
    async close() {
      closed = true;
      watch.stop();
      await Promise.all([commands, receiver].map(quit));
    },
  };
}

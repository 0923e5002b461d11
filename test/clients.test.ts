import { RetryLink } from '@apollo/client/link/retry';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { Client as UrqlClient, fetchExchange, subscriptionExchange, type OperationResult } from '@urql/core';
import { createClient, type Client as WsClient } from 'graphql-ws';
import { Kind, OperationTypeNode } from 'graphql';
import { firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { OnTopicDocument, PublishDocument, TopicsDocument, CreateTopicDocument, type OnTopicSubscription } from '../examples/generated/graphql.js';
import { startHerald, token, waitForSubscribers, type TestHerald } from './helpers/herald.js';

/**
 * The frontend clients Herald is for, wired the way their docs say: Apollo Client 4 (HttpLink for
 * queries and mutations, GraphQLWsLink for subscriptions, chosen by a split link) and urql
 * (fetchExchange + subscriptionExchange over graphql-ws), with the codegen'd typed documents.
 */

let herald: TestHerald;
beforeAll(async () => {
  herald = await startHerald();
});
afterAll(() => herald.stop());

/** What Apollo and urql clients would use in a browser; `ws` stands in for the global WebSocket. */
function graphqlWs(bearer: string): WsClient {
  return createClient({
    url: herald.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${bearer}` },
    retryAttempts: 0,
  });
}

function apollo(bearer: string): { client: ApolloClient; ws: WsClient } {
  const ws = graphqlWs(bearer);
  const http = new HttpLink({ uri: herald.httpUrl, headers: { authorization: `Bearer ${bearer}` } });
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION;
    },
    new GraphQLWsLink(ws),
    http,
  );
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), ws };
}

function urql(bearer: string): { client: UrqlClient; ws: WsClient } {
  const ws = graphqlWs(bearer);
  const client = new UrqlClient({
    url: herald.httpUrl,
    fetchOptions: () => ({ headers: { authorization: `Bearer ${bearer}` } }),
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? '' }, sink) }),
        }),
      }),
    ],
  });
  return { client, ws };
}

describe('Apollo Client 4', () => {
  it('receives a message published through client.mutate on a split-link subscription, typed', async () => {
    const audience = 'apollo-deliver';
    const bearer = await token({ audience, subject: 'apollo-app', scopes: ['subscribe', 'publish'] });
    const { client, ws } = apollo(bearer);

    const first = firstValueFrom(client.subscribe({ query: OnTopicDocument, variables: { name: 'orders/7' } }));
    await waitForSubscribers(herald.app, audience, 'orders/7');

    const published = await client.mutate({ mutation: PublishDocument, variables: { topic: 'orders/7', payload: { status: 'paid', total: 42.5 } } });
    expect(published.error).toBeUndefined();
    const sent = published.data!.publish;

    const { data, error } = await first;
    expect(error).toBeUndefined();
    // Typed: data is OnTopicSubscription | undefined; the cache adds __typename.
    const message: OnTopicSubscription['topic'] = data!.topic;
    expect(message).toEqual({
      __typename: 'Message',
      id: sent.id,
      topic: 'orders/7',
      audience,
      payload: { status: 'paid', total: 42.5 },
      publishedAt: sent.publishedAt,
      publisher: 'apollo-app',
    });
    // firstValueFrom unsubscribed after one value: Apollo completes the graphql-ws operation.
    await waitForSubscribers(herald.app, audience, 'orders/7', 0);
    await ws.dispose();
  });

  it('runs client.query over HTTP (TopicsDocument)', async () => {
    const audience = 'apollo-query';
    const bearer = await token({ audience, scopes: ['subscribe', 'manage'] });
    const { client, ws } = apollo(bearer);
    const created = await client.mutate({ mutation: CreateTopicDocument, variables: { name: 'inventory' } });
    expect(created.data!.createTopic).toMatchObject({ name: 'inventory', audience: { name: audience } });

    const sub = client.subscribe({ query: OnTopicDocument, variables: { name: 'inventory' } }).subscribe(() => {});
    await waitForSubscribers(herald.app, audience, 'inventory');
    const { data, error } = await client.query({ query: TopicsDocument, fetchPolicy: 'network-only' });
    expect(error).toBeUndefined();
    expect(data!.topics).toEqual([{ __typename: 'Topic', id: created.data!.createTopic.id, name: 'inventory', subscriberCount: 1 }]);
    sub.unsubscribe();
    await waitForSubscribers(herald.app, audience, 'inventory', 0);
    await ws.dispose();
  });

  it('surfaces a FORBIDDEN publish as CombinedGraphQLErrors with extensions.code', async () => {
    const bearer = await token({ audience: 'apollo-forbidden', scopes: ['subscribe'] });
    const { client, ws } = apollo(bearer);
    const failure = await client.mutate({ mutation: PublishDocument, variables: { topic: 'x', payload: 1 } }).then(
      () => expect.unreachable('publish with a subscribe-only token succeeded'),
      (error: unknown) => error,
    );
    expect(CombinedGraphQLErrors.is(failure)).toBe(true);
    const errors = (failure as CombinedGraphQLErrors).errors;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ path: ['publish'], extensions: { code: 'FORBIDDEN' } });
    expect(errors[0]!.message).toBe('this needs the publish scope');

    // With errorPolicy 'all' the same error comes back in the result instead of being thrown.
    const result = await client.mutate({ mutation: PublishDocument, variables: { topic: 'x', payload: 1 }, errorPolicy: 'all' });
    expect(CombinedGraphQLErrors.is(result.error)).toBe(true);
    expect((result.error as CombinedGraphQLErrors).errors[0]!.extensions?.code).toBe('FORBIDDEN');
    await ws.dispose();
  });

  it('surfaces a refused subscription (outside the token topics) with extensions.code over graphql-ws', async () => {
    const bearer = await token({ audience: 'apollo-sub-refused', scopes: ['subscribe'], topics: ['mine/*'] });
    const { client, ws } = apollo(bearer);
    const { data, error } = await firstValueFrom(client.subscribe({ query: OnTopicDocument, variables: { name: 'theirs/1' } }));
    expect(data).toBeUndefined();
    expect(CombinedGraphQLErrors.is(error)).toBe(true);
    expect((error as CombinedGraphQLErrors).errors[0]).toMatchObject({ extensions: { code: 'FORBIDDEN' } });
    await ws.dispose();
  });
});

describe('token expiry with a real client', () => {
  // The server closes an expired connection with 4401 `token expired`. graphql-ws's client treats 4401
  // as fatal (it never retries it on its own), so the subscription errors and the app resubscribes:
  // with Apollo, a RetryLink that retries on that close; the lazy graphql-ws client then opens a new connection and
  // calls connectionParams again, which fetches a fresh token. README documents this recipe.
  it('Apollo resubscribes over a fresh connection, with a fresh token, when the old token expires', async () => {
    const audience = 'apollo-expiry';
    let connections = 0;
    const ws = createClient({
      url: herald.wsUrl,
      webSocketImpl: WebSocket,
      // The first connection's token lives 2 s (exp has one-second resolution); later ones are fresh.
      connectionParams: async () => ({
        authorization: `Bearer ${await token({ audience, scopes: ['subscribe'], ttlSeconds: connections++ === 0 ? 2 : 300 })}`,
      }),
    });
    const retryOnExpiry = new RetryLink({
      delay: { initial: 10, max: 100, jitter: false },
      attempts: { max: 3, retryIf: (error) => /Socket closed with event 4401 token expired\b/.test(error.message) },
    });
    const client = new ApolloClient({ link: ApolloLink.from([retryOnExpiry, new GraphQLWsLink(ws)]), cache: new InMemoryCache() });
    let settle: (outcome: { data?: OnTopicSubscription; error?: unknown } | 'completed') => void = () => {};
    const firstOutcome = new Promise<{ data?: OnTopicSubscription; error?: unknown } | 'completed'>((resolve) => (settle = resolve));
    const subscription = client.subscribe({ query: OnTopicDocument, variables: { name: 'feed' } }).subscribe({
      next: (result) => settle(result),
      error: (error: unknown) => settle({ error }),
      complete: () => settle('completed'),
    });
    await waitForSubscribers(herald.app, audience, 'feed', 1);
    await waitForSubscribers(herald.app, audience, 'feed', 0); // the server closed the expired connection
    const race = await Promise.race([waitForSubscribers(herald.app, audience, 'feed', 1).then(() => 'resubscribed' as const), firstOutcome]);
    expect(race).toBe('resubscribed');

    const publisher = await token({ audience, scopes: ['publish'] });
    const { client: http } = apollo(publisher);
    const sent = await http.mutate({ mutation: PublishDocument, variables: { topic: 'feed', payload: 'after reconnect' } });
    expect(await firstOutcome).toMatchObject({ data: { topic: { id: sent.data!.publish.id, payload: 'after reconnect' } } });
    expect(connections).toBe(2);
    subscription.unsubscribe();
    await ws.dispose();
  });
});

describe('urql', () => {
  it('receives a message published through client.mutation on a subscriptionExchange subscription, typed', async () => {
    const audience = 'urql-deliver';
    const bearer = await token({ audience, subject: 'urql-app', scopes: ['subscribe', 'publish'] });
    const { client, ws } = urql(bearer);

    let resolveFirst: (result: OperationResult<OnTopicSubscription>) => void = () => {};
    const first = new Promise<OperationResult<OnTopicSubscription>>((resolve) => (resolveFirst = resolve));
    const subscription = client.subscription(OnTopicDocument, { name: 'chat/room-1' }).subscribe((result) => resolveFirst(result));
    await waitForSubscribers(herald.app, audience, 'chat/room-1');

    const published = await client.mutation(PublishDocument, { topic: 'chat/room-1', payload: { text: 'hi', from: 'ann' } }).toPromise();
    expect(published.error).toBeUndefined();
    const sent = published.data!.publish;

    const { data, error } = await first;
    expect(error).toBeUndefined();
    const message: OnTopicSubscription['topic'] = data!.topic;
    // Without a cacheExchange urql sends the document as written (no __typename added).
    expect(message).toEqual({
      id: sent.id,
      topic: 'chat/room-1',
      audience,
      payload: { text: 'hi', from: 'ann' },
      publishedAt: sent.publishedAt,
      publisher: 'urql-app',
    });
    subscription.unsubscribe();
    await waitForSubscribers(herald.app, audience, 'chat/room-1', 0);
    await ws.dispose();
  });

  it('runs queries over HTTP and surfaces a FORBIDDEN publish in CombinedError with extensions.code', async () => {
    const audience = 'urql-errors';
    const bearer = await token({ audience, scopes: ['subscribe'] });
    const { client, ws } = urql(bearer);
    const topics = await client.query(TopicsDocument, {}).toPromise();
    expect(topics.error).toBeUndefined();
    expect(topics.data!.topics).toEqual([]);

    const result = await client.mutation(PublishDocument, { topic: 'x', payload: 1 }).toPromise();
    expect(result.data ?? null).toBeNull();
    expect(result.error?.graphQLErrors).toHaveLength(1);
    expect(result.error!.graphQLErrors[0]).toMatchObject({ path: ['publish'], extensions: { code: 'FORBIDDEN' } });
    expect(result.error!.networkError).toBeUndefined();
    await ws.dispose();
  });
});

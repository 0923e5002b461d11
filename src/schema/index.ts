import type { GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './scalars.js';
import './viewer.js';
import './audience.js';
import './topic.js';
import './message.js';
import './signed-subscription.js';
import './sessions.js';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/** The whole GraphQL schema; built once at import. */
export const schema: GraphQLSchema = builder.toSchema();

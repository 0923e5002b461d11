import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ERROR_STATUS } from '../errors.js';

const clientError = (message: string, status: number = ERROR_STATUS.BAD_USER_INPUT): GraphQLError =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', http: { status } } });

/**
 * A GET whose `variables` or `extensions` parameter is not JSON: Yoga's parser throws a bare
 * SyntaxError, which reads as an internal error (500, logged). It is the client's: 400 BAD_USER_INPUT.
 */
export function useJsonParameterErrors(): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (requestParser === undefined) return;
      setRequestParser(async (request) => {
        try {
          return await requestParser(request);
        } catch (error) {
          if (error instanceof SyntaxError) throw clientError(`a request parameter is not valid JSON: ${error.message}`);
          throw error;
        }
      });
    },
  };
}

/** Status of a subscription sent over HTTP without asking for an event stream (Not Acceptable). */
export const SUBSCRIPTION_NEEDS_SSE_STATUS = 406;

/**
 * A subscription over HTTP is GraphQL over SSE, and must ask for it: `Accept: text/event-stream`.
 * Any other Accept (none, `*\/*` as curl sends, `application/json`) cannot carry a stream of events,
 * so it is refused before the subscribe resolver runs: nothing registers in the fan-out, nothing
 * waits. graphql-ws operations carry no HTTP request and are not concerned.
 */
export function useSubscriptionsOnlyOverSse(): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const request = (args.contextValue as { request?: Request } | undefined)?.request;
      if (request === undefined || acceptsEventStream(request.headers.get('accept'))) return;
      setResultAndStopExecution({
        errors: [
          clientError(
            'a subscription over HTTP needs "Accept: text/event-stream" (GraphQL over SSE); or subscribe over graphql-ws',
            SUBSCRIPTION_NEEDS_SSE_STATUS,
          ),
        ],
      });
    },
  };
}

/** Whether an Accept header names text/event-stream itself (a wildcard does not count). */
export function acceptsEventStream(accept: string | null): boolean {
  if (accept === null) return false;
  return accept.split(',').some((range) => range.split(';', 1)[0]!.trim().toLowerCase() === 'text/event-stream');
}

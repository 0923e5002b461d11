import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';

function withCode(error: GraphQLError, code: ErrorCode): GraphQLError {
  if (isKnownCode(error.extensions.code)) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, code, http: { status: ERROR_STATUS[code] } },
  });
}

/**
 * Yoga marks its request errors (unparsable JSON body, a parameter of the wrong type) `http.spec`,
 * which turns their 400 into a 200 for clients accepting application/json. GraphQL over HTTP asks
 * for 400 there too (graphql-http audit: "SHOULD use 400 status code on JSON parsing failure when
 * accepting application/json"), and a client must not read a refused request as a success.
 */
function withoutSpecFlag(http: unknown): { http?: Record<string, unknown> } {
  if (typeof http !== 'object' || http === null) return {};
  const { spec: _spec, ...rest } = http as Record<string, unknown>;
  return { http: rest };
}

const isKnownCode = (code: unknown): code is ErrorCode => typeof code === 'string' && code in ERROR_STATUS;

/**
 * Whether an error in a result keeps its code. Yoga marks its own request errors (an unparsable body,
 * a body that is no GraphQL request) BAD_REQUEST, which Herald documents as BAD_USER_INPUT; Herald's
 * own BAD_REQUEST comes from a resolver (renewConnection over HTTP), so it has a path.
 */
const keepsCode = (error: GraphQLError): boolean => {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- errors here come from Yoga and its plugins, not only graphql-js: keep the guard
  const code = error.extensions?.code;
  return isKnownCode(code) && (code !== 'BAD_REQUEST' || error.path !== undefined);
};

/**
 * Every error a client sees carries one of the documented codes. Parse and validation failures
 * (syntax, unknown fields, depth and cost limits) are the client's: BAD_USER_INPUT. So are Yoga's own
 * request errors (unparsable body, unknown operation name), which come with codes of their own.
 */
export function useStableErrorCodes(): Plugin {
  return {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- envelop's setResult is a closure, typed as a method
    onResultProcess: ({ result, setResult }) => {
      if (Array.isArray(result) || !('errors' in result) || result.errors === undefined) return;
      if (result.errors.every(keepsCode)) return;
      setResult({
        ...result,
        errors: result.errors.map((error) =>
          keepsCode(error)
            ? error
            : new GraphQLError(error.message, {
                // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- as above
                extensions: { ...error.extensions, code: 'BAD_USER_INPUT', originalError: undefined, ...withoutSpecFlag(error.extensions?.http) },
              }),
        ),
      });
    },
    onParse:
      () =>
      ({ result, replaceParseResult }) => {
        if (result instanceof GraphQLError) replaceParseResult(withCode(result, 'BAD_USER_INPUT'));
      },
    onValidate:
      () =>
      ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((error) => withCode(error as GraphQLError, 'BAD_USER_INPUT')));
      },
  };
}

/**
 * Yoga's maskError: client errors (anything already carrying a code, and graphql-js's own input
 * errors such as variable coercion) pass as they are; everything else is logged and masked.
 */
export function createMaskError(logger: Logger): (error: unknown, message: string) => Error {
  return (error, message) => {
    if (error instanceof GraphQLError) {
      if (error.extensions.code !== undefined) return error;
      if (error.originalError === undefined) return withCode(error, 'BAD_USER_INPUT');
      // Variable coercion (a scalar refusing the client's value) happens before execution, so it has no path.
      if (error.path === undefined && error.originalError instanceof GraphQLError) return withCode(error, 'BAD_USER_INPUT');
      if (error.originalError instanceof GraphQLError && error.originalError.extensions.code !== undefined) return error;
    }
    logger.error({ err: error }, 'internal error');
    return new GraphQLError(message, {
      extensions: { code: 'INTERNAL_SERVER_ERROR', http: { status: ERROR_STATUS.INTERNAL_SERVER_ERROR } },
    });
  };
}

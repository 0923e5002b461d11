import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/**
 * Errors as graphql-ws clients receive them: masked like Yoga masks HTTP errors (internals never
 * leak), and without the transport hint `extensions.http`, which Yoga also strips over HTTP.
 */
export function formatErrors(errors: ReadonlyArray<unknown>, maskError: (error: unknown) => Error): GraphQLFormattedError[] {
  return errors.map((error) => {
    const masked = maskError(error);
    const formatted = masked instanceof GraphQLError ? masked.toJSON() : { message: masked.message };
    if (formatted.extensions === undefined || !('http' in formatted.extensions)) return formatted;
    const { http: _http, ...extensions } = formatted.extensions;
    return { ...formatted, extensions };
  });
}

/** Where a credential rides on each surface. Extraction only; verification is verifyToken's job. */

/** The token of an `Authorization: Bearer <token>` header value. */
export function tokenFromAuthorization(header: string | null | undefined): string | undefined {
  if (header == null) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** graphql-ws connectionParams: `authorization: "Bearer …"` (or `Authorization`), or `token`. */
export function tokenFromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (params == null) return undefined;
  const authorization = params.authorization ?? params.Authorization;
  const bearer = typeof authorization === 'string' ? tokenFromAuthorization(authorization) : undefined;
  return bearer ?? (typeof params.token === 'string' && params.token !== '' ? params.token : undefined);
}

/** `?token=` of a request URL (signed subscription URLs). */
export function tokenFromUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const token = new URL(url, 'http://localhost').searchParams.get('token');
  return token === null || token === '' ? undefined : token;
}

import type { Client, ClientOptions } from 'graphql-ws';

/**
 * herald/client's `token` option: the connection's credential comes from the application's token
 * function, and is renewed in band (renewConnection) before it expires, so a long-lived socket and
 * its subscriptions never see a 4401. A reconnect uses the newest token, or asks for a fresh one
 * when that is due for renewal.
 */

/** Returns a fresh token (a JWT): from a login session, a refresh endpoint, or a cache. */
export type TokenSource = () => string | Promise<string>;

/** When in a token's life it is renewed: at this share of the time it had left when it was received. */
export const RENEW_AT_SHARE_OF_LIFE = 0.8;

const RENEW = 'mutation HeraldRenewConnection($token: String!) { renewConnection(token: $token) { expiresAt } }';

/** A renewal that failed is tried again after half the remaining time, but not closer together than this. */
const MIN_RETRY_MS = 1_000;

interface Held {
  readonly token: string;
  /** When to renew it (ms since the epoch); undefined: it never expires. */
  readonly renewAt: number | undefined;
  /** Its exp (ms since the epoch), if it has one. */
  readonly expiresAt: number | undefined;
}

export interface TokenRenewal {
  /** graphql-ws options with connectionParams and `on` wrapped to carry and renew the token. */
  readonly options: ClientOptions;
  /** Binds the renewal to the client built from `options`; returns the function that stops it. */
  start(client: Client): () => void;
}

/**
 * Wraps `options` so every connection authenticates with the newest token from `source`
 * (connectionParams `authorization: Bearer …`, merged over the application's own params) and
 * renews it over the open socket at RENEW_AT_SHARE_OF_LIFE of its life.
 */
export function tokenRenewal(options: ClientOptions, source: TokenSource, onError: (error: unknown) => void): TokenRenewal {
  let held: Held | undefined;
  let client: Client | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let connected = false;

  const fresh = async (): Promise<Held> => {
    const token = await source();
    return (held = describe(token, Date.now()));
  };
  const stopTimer = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  const schedule = (at: number | undefined): void => {
    stopTimer();
    if (at === undefined || !connected) return;
    timer = setTimeout(() => void renew(), Math.max(0, at - Date.now()));
  };
  const renew = async (): Promise<void> => {
    const current = held;
    try {
      const next = await fresh();
      await runOnce(client!, RENEW, { token: next.token });
      schedule(next.renewAt);
    } catch (error) {
      onError(error);
      // The connection keeps its token until exp: try again while there is time.
      const remaining = current?.expiresAt === undefined ? undefined : current.expiresAt - Date.now();
      if (remaining !== undefined && remaining > 2 * MIN_RETRY_MS) schedule(Date.now() + Math.max(MIN_RETRY_MS, remaining / 2));
    }
  };

  const wrapped: ClientOptions = {
    ...options,
    connectionParams: async () => {
      const own = typeof options.connectionParams === 'function' ? await options.connectionParams() : options.connectionParams;
      const current = held !== undefined && (held.renewAt === undefined || held.renewAt > Date.now()) ? held : await fresh();
      return { ...own, authorization: `Bearer ${current.token}` };
    },
    on: {
      ...options.on,
      connected: (...args) => {
        connected = true;
        schedule(held?.renewAt);
        options.on?.connected?.(...args);
      },
      closed: (...args) => {
        connected = false;
        stopTimer();
        options.on?.closed?.(...args);
      },
    },
  };
  return {
    options: wrapped,
    start(bound) {
      client = bound;
      return () => {
        connected = false;
        stopTimer();
      };
    },
  };
}

/** A token's renewal time from its exp claim, read without verifying (the server verifies). */
function describe(token: string, now: number): Held {
  const exp = expOf(token);
  if (exp === undefined) return { token, renewAt: undefined, expiresAt: undefined };
  const expiresAt = exp * 1000;
  return { token, renewAt: now + Math.max(0, expiresAt - now) * RENEW_AT_SHARE_OF_LIFE, expiresAt };
}

function expOf(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const exp = (JSON.parse(atob(base64)) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}

/** One operation over the client's socket; rejects with its errors. */
function runOnce(client: Client, query: string, variables: Record<string, unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed = false;
    client.subscribe(
      { query, variables },
      {
        next: (result) => {
          if (result.errors !== undefined) {
            failed = true;
            reject(Object.assign(new Error(`renewConnection failed: ${result.errors.map((error) => error.message).join('; ')}`), { errors: result.errors }));
          }
        },
        error: (error) => {
          failed = true;
          reject(error instanceof Error ? error : Object.assign(new Error('renewConnection failed'), { errors: error }));
        },
        complete: () => {
          if (!failed) resolve();
        },
      },
    );
  });
}

import type { CompatDeps, CompatSurface } from '../surface.js';

/** notiflux's text-command WebSocket (/ws without a token) and POST /broadcast; see contract/compat.md §B. */
export function createNotifluxSurface(_deps: CompatDeps): CompatSurface {
  return {
    handleRequest: () => false,
    ownsUpgrade: () => false,
    handleUpgrade: () => {},
    connections: 0,
    close() {},
  };
}

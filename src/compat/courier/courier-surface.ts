import type { CompatDeps, CompatSurface } from '../surface.js';

/** courier's REST routes (/v1/*) and JSON WebSocket (/ws?token=…); see contract/compat.md §A. */
export function createCourierSurface(_deps: CompatDeps): CompatSurface {
  return {
    handleRequest: () => false,
    ownsUpgrade: () => false,
    handleUpgrade: () => {},
    connections: 0,
    close() {},
  };
}

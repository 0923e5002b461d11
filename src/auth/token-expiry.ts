import type { Viewer } from './viewer.js';

// setTimeout's ceiling; a later expiry re-arms when this one fires.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `onExpired` when the viewer's token expires (at once if it already has). Returns the cancel function. */
export function closeAtExpiry(viewer: Viewer, onExpired: () => void): () => void {
  if (viewer.expiresAt === undefined) return () => {};
  const expiresAt = viewer.expiresAt.getTime();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const remaining = expiresAt - Date.now();
    if (remaining <= 0) onExpired();
    else timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
  };
  arm();
  return () => clearTimeout(timer);
}

import { describe, expect, it } from 'vitest';
import { viewerFromClaims } from '../src/auth/viewer.js';
import { createRevocationList } from '../src/sessions/revocation-list.js';
import type { Revocation } from '../src/sessions/revocation.js';

/** The in-memory revocations every verified token is checked against: what each kind covers, and how two of a subject merge. */

// Whole seconds, as iat is; revocations expire against the real clock, so NOW is now.
const NOW = Math.floor(Date.now() / 1000) * 1000;
const viewer = (claims: { aud?: string; sub?: string; jti?: string; iat?: number }) =>
  viewerFromClaims({ aud: 'acme', ...claims }, { defaultAudience: 'default', defaultScopes: ['SUBSCRIBE'] }, false);
const bySubject = (subject: string, issuedBefore: number | undefined, expiresAt = NOW + 60_000): Revocation => ({
  audience: 'acme',
  subject,
  ...(issuedBefore !== undefined && { issuedBefore }),
  reason: 'r',
  revokedAt: NOW,
  expiresAt,
});

describe('revocation list', () => {
  it('covers a token by jti in its audience only', () => {
    const list = createRevocationList();
    expect(list.add({ audience: 'acme', tokenId: 'j1', reason: 'leaked', revokedAt: NOW, expiresAt: NOW + 60_000 })).toBe(true);
    expect(list.find(viewer({ jti: 'j1' }))?.reason).toBe('leaked');
    expect(list.find(viewer({ jti: 'j2' }))).toBeUndefined();
    expect(list.find(viewer({ aud: 'other', jti: 'j1' }))).toBeUndefined();
  });

  it('covers a subject’s tokens issued before issuedBefore, and those without iat', () => {
    const list = createRevocationList();
    list.add(bySubject('ann', NOW));
    expect(list.find(viewer({ sub: 'ann', iat: NOW / 1000 - 1 }))).toBeDefined();
    expect(list.find(viewer({ sub: 'ann', iat: NOW / 1000 + 1 }))).toBeUndefined();
    expect(list.find(viewer({ sub: 'ann' }))).toBeDefined();
    expect(list.find(viewer({ sub: 'bob', iat: NOW / 1000 - 1 }))).toBeUndefined();
  });

  it('keeps the widest issuedBefore and the latest expiry of a subject; a narrower one adds nothing', () => {
    const list = createRevocationList();
    expect(list.add(bySubject('ann', NOW, NOW + 10_000))).toBe(true);
    expect(list.add(bySubject('ann', NOW - 5_000, NOW + 90_000))).toBe(false);
    expect(list.add(bySubject('ann', NOW))).toBe(false);
    expect(list.find(viewer({ sub: 'ann', iat: NOW / 1000 - 1 }))?.expiresAt).toBe(NOW + 90_000);
    expect(list.add(bySubject('ann', NOW + 5_000))).toBe(true);
    expect(list.find(viewer({ sub: 'ann', iat: NOW / 1000 + 2 }))).toBeDefined();
  });

  it('forgets what has expired', () => {
    const list = createRevocationList();
    list.add(bySubject('ann', NOW));
    list.add({ audience: 'acme', tokenId: 'j1', reason: 'r', revokedAt: NOW, expiresAt: NOW - 1 });
    expect(list.find(viewer({ jti: 'j1' }))).toBeUndefined();
    list.prune(NOW + 120_000);
    expect(list.size).toBe(0);
  });
});

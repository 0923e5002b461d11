import { createPublicKey, type KeyObject } from 'node:crypto';

/** The JWS algorithm a PEM public key is pinned to, by its key type. */
export function algorithmForPublicKey(pem: string): string {
  return algorithmForKey(createPublicKey(pem));
}

/** The JWS algorithm an asymmetric key (public or private) is pinned to. */
export function algorithmForKey(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ES256';
      if (curve === 'secp384r1') return 'ES384';
      if (curve === 'secp521r1') return 'ES512';
      throw new TypeError(`JWT public key: unsupported EC curve ${String(curve)}`);
    }
    case 'rsa':
      return 'RS256';
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new TypeError(`JWT public key: unsupported key type ${String(key.asymmetricKeyType)}`);
  }
}

import { type CryptoKey, importJWK, importSPKI } from 'jose';
import { z } from 'zod';
import { ApiError } from '../../errors.ts';

/**
 * The one public key an agent may register to verify ES256 or EdDSA user tokens: as given (a PEM
 * SPKI string or a public JWK), and imported with jose for the one algorithm its type allows.
 */

export type PublicKeyAlgorithm = 'ES256' | 'EdDSA';

const maxPublicKeyChars = 10_000;

const jwkInput = z
  .object({ kty: z.string().max(10) })
  .catchall(z.unknown())
  .refine(
    (jwk) => JSON.stringify(jwk).length <= maxPublicKeyChars,
    `must be at most ${maxPublicKeyChars} characters as JSON`,
  )
  .describe(
    'A public JWK: {"kty":"EC","crv":"P-256","x","y"} (ES256) or {"kty":"OKP","crv":"Ed25519","x"} (EdDSA).',
  );

export const publicKeyInput = z.union([
  z
    .string()
    .max(maxPublicKeyChars)
    .describe('A PEM SPKI public key ("-----BEGIN PUBLIC KEY-----"), P-256 (ES256) or Ed25519 (EdDSA).'),
  jwkInput,
]);
export type PublicKeyInput = z.infer<typeof publicKeyInput>;

function invalidKey(message: string): ApiError {
  return new ApiError('validation_failed', `publicKey: ${message}`);
}

/**
 * Imports a registered public key with jose, for the one algorithm its type allows: a P-256 key is
 * ES256 only, an Ed25519 key EdDSA only. Private keys, symmetric keys and other curves are refused.
 */
export async function importPublicKey(
  publicKey: PublicKeyInput,
): Promise<{ algorithm: PublicKeyAlgorithm; key: CryptoKey }> {
  if (typeof publicKey === 'string') {
    const pem = publicKey.trim();
    if (!/^-----BEGIN PUBLIC KEY-----\r?\n[\s\S]+\r?\n-----END PUBLIC KEY-----$/.test(pem)) {
      throw invalidKey(
        'must be a PEM public key (-----BEGIN PUBLIC KEY-----, SPKI), never a private key or certificate',
      );
    }
    for (const algorithm of ['ES256', 'EdDSA'] as const) {
      try {
        return { algorithm, key: await importSPKI(pem, algorithm) };
      } catch {
        // not a key of this algorithm: try the next
      }
    }
    throw invalidKey('must be a P-256 (ES256) or Ed25519 (EdDSA) public key');
  }
  if ('d' in publicKey || 'p' in publicKey || 'k' in publicKey) {
    throw invalidKey('must be a public JWK; it holds private or symmetric key material');
  }
  const algorithm =
    publicKey.kty === 'EC' && publicKey.crv === 'P-256'
      ? 'ES256'
      : publicKey.kty === 'OKP' && publicKey.crv === 'Ed25519'
        ? 'EdDSA'
        : null;
  if (algorithm === null) {
    throw invalidKey(
      'must be a JWK with kty "EC" and crv "P-256" (ES256), or kty "OKP" and crv "Ed25519" (EdDSA)',
    );
  }
  if (publicKey.alg !== undefined && publicKey.alg !== algorithm) {
    throw invalidKey(`its "alg" is ${JSON.stringify(publicKey.alg)}, but the key is an ${algorithm} key`);
  }
  if (publicKey.use !== undefined && publicKey.use !== 'sig') {
    throw invalidKey('its "use" must be "sig"');
  }
  try {
    const key = await importJWK(publicKey, algorithm);
    if (key instanceof Uint8Array) throw new Error('symmetric');
    return { algorithm, key };
  } catch {
    throw invalidKey(`is not a valid ${algorithm} public JWK`);
  }
}

import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
} from 'node:crypto';
import { ValidationError } from './errors.js';

/** Prefix of HMAC secrets (Standard Webhooks, Svix). */
export const HMAC_SECRET_PREFIX = 'whsec_';
/** Prefix of ed25519 secret keys. */
export const ED25519_SECRET_PREFIX = 'whsk_';
/** Prefix of ed25519 public keys. */
export const ED25519_PUBLIC_PREFIX = 'whpk_';

const HMAC_MIN_BYTES = 24;
const HMAC_MAX_BYTES = 64;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// DER prefix of a PKCS#8 ed25519 private key; the 32-byte seed follows.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A decoded signing key, ready to sign many times. */
export type SigningKey =
  | { kind: 'hmac'; bytes: Buffer }
  | { kind: 'ed25519'; privateKey: KeyObject; publicKey: string };

function decodeBase64(field: string, text: string): Buffer {
  if (!BASE64.test(text)) throw new ValidationError(field, 'must be base64 after its prefix');
  return Buffer.from(text, 'base64');
}

/**
 * Decodes an endpoint secret: `whsec_` + base64 of 24 to 64 bytes (HMAC), or `whsk_` +
 * base64 of a 32-byte ed25519 seed (a 64-byte seed+public key is accepted too).
 */
export function parseSecret(secret: string, field = 'secret'): SigningKey {
  if (secret.startsWith(ED25519_SECRET_PREFIX)) {
    const raw = decodeBase64(field, secret.slice(ED25519_SECRET_PREFIX.length));
    if (raw.length !== 32 && raw.length !== 64) {
      throw new ValidationError(field, `an ed25519 key must be 32 or 64 bytes, got ${raw.length}`);
    }
    const privateKey = createPrivateKey({
      key: Buffer.concat([ED25519_PKCS8_PREFIX, raw.subarray(0, 32)]),
      format: 'der',
      type: 'pkcs8',
    });
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    // The raw 32-byte public key is the tail of its SPKI encoding.
    const publicKey = ED25519_PUBLIC_PREFIX + spki.subarray(spki.length - 32).toString('base64');
    return { kind: 'ed25519', privateKey, publicKey };
  }
  if (!secret.startsWith(HMAC_SECRET_PREFIX)) {
    throw new ValidationError(field, `must start with ${HMAC_SECRET_PREFIX} or ${ED25519_SECRET_PREFIX}`);
  }
  const bytes = decodeBase64(field, secret.slice(HMAC_SECRET_PREFIX.length));
  if (bytes.length < HMAC_MIN_BYTES || bytes.length > HMAC_MAX_BYTES) {
    throw new ValidationError(
      field,
      `must decode to ${HMAC_MIN_BYTES} to ${HMAC_MAX_BYTES} bytes, got ${bytes.length}`,
    );
  }
  return { kind: 'hmac', bytes };
}

/** A new HMAC secret: `whsec_` + base64 of 24 random bytes. */
export function generateHmacSecret(): string {
  return HMAC_SECRET_PREFIX + randomBytes(24).toString('base64');
}

/** A new ed25519 secret key `whsk_…` (its public key comes from {@link parseSecret}). */
export function generateEd25519Secret(): string {
  return ED25519_SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * One signature in Standard Webhooks form: `v1,<base64 HMAC-SHA256>` or `v1a,<base64 ed25519>`
 * over `{id}.{timestamp}.{body}`.
 */
export function signOne(key: SigningKey, msgId: string, timestampSec: number, body: string | Buffer): string {
  const prefix = `${msgId}.${timestampSec}.`;
  if (key.kind === 'hmac') {
    const hmac = createHmac('sha256', key.bytes);
    hmac.update(prefix);
    hmac.update(body);
    return `v1,${hmac.digest('base64')}`;
  }
  const data = Buffer.concat([Buffer.from(prefix), typeof body === 'string' ? Buffer.from(body) : body]);
  return `v1a,${sign(null, data, key.privateKey).toString('base64')}`;
}

/** The `webhook-signature` header value: one signature per key, space-separated. */
export function signatureHeader(
  keys: readonly SigningKey[],
  msgId: string,
  timestampSec: number,
  body: string | Buffer,
): string {
  return keys.map((key) => signOne(key, msgId, timestampSec, body)).join(' ');
}

/**
 * Signature verification for webhook receivers: Standard Webhooks (and so Herald and Svix),
 * GitHub, Stripe, Shopify, Slack and generic HMAC. No dependencies beyond Node's crypto;
 * nothing here imports the rest of Herald, so receivers can use it alone.
 *
 * Every verifier takes the raw body (the exact bytes received): a body that was parsed and
 * serialised again has other bytes and fails, by design.
 */
import { createHmac, createPublicKey, timingSafeEqual, verify as verifySignature } from 'node:crypto';

/** Why a request was refused. */
export type VerificationReason =
  | 'missing_header'
  | 'bad_format'
  | 'stale_timestamp'
  | 'no_matching_signature';

/** A request that failed verification; `reason` says which check. */
export class WebhookVerificationError extends Error {
  constructor(
    readonly reason: VerificationReason,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** Headers as Node, Fetch (`Headers`) or a plain object carry them. */
export type HeaderSource =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

/** The raw body: the exact bytes received. */
export type RawBody = string | Uint8Array;

/** Reads one header, case-insensitively, from any {@link HeaderSource}. */
export function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const lower = name.toLowerCase();
  const key = Object.keys(record).find((k) => k.toLowerCase() === lower);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value[0] : value;
}

function must(headers: HeaderSource, name: string): string {
  const value = header(headers, name);
  if (value === undefined || value === '')
    throw new WebhookVerificationError('missing_header', `missing ${name} header`);
  return value;
}

/** The body as bytes; refuses anything that is not raw (a parsed object, say). */
export function rawBytes(body: RawBody): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('the body must be the raw request body (a string or bytes), not a parsed object');
}

/** Constant-time equality of two strings; unequal lengths are simply unequal, never an error. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // Compare equal-length buffers always, so timing does not reveal where they differ.
  return timingSafeEqual(x.length === y.length ? x : y, y) && x.length === y.length;
}

function hmac(algorithm: string, key: Buffer | string, ...parts: (Buffer | string)[]): Buffer {
  const h = createHmac(algorithm, key);
  for (const part of parts) h.update(part);
  return h.digest();
}

function checkTimestamp(seconds: number, toleranceSec: number, nowMs: number): void {
  if (!Number.isFinite(seconds))
    throw new WebhookVerificationError('bad_format', 'timestamp is not a number');
  if (Math.abs(nowMs / 1000 - seconds) > toleranceSec) {
    throw new WebhookVerificationError(
      'stale_timestamp',
      `timestamp is more than ${toleranceSec} s away from now`,
    );
  }
}

/** Options shared by verifiers with a timestamp. */
export interface TimedOptions {
  /** Allowed distance between the signed timestamp and now, either way. Default 300 s. */
  toleranceSec?: number;
  /** Current time in ms (for tests). Default `Date.now()`. */
  now?: number;
}

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function decodeSecret(secret: string): Buffer {
  const text = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text))
    throw new WebhookVerificationError('bad_format', 'the secret is not base64');
  return Buffer.from(text, 'base64');
}

/**
 * Verifies a Standard Webhooks request (Herald, Svix): `webhook-*` or `svix-*` headers,
 * `v1` HMAC signatures with `whsec_` secrets or `v1a` ed25519 ones with `whpk_` public keys;
 * any one matching signature of any one secret passes. Returns the message id.
 */
export function verifyStandardWebhook(
  secrets: string | readonly string[],
  headers: HeaderSource,
  body: RawBody,
  options: TimedOptions = {},
): string {
  const family = header(headers, 'webhook-id') !== undefined ? 'webhook' : 'svix';
  const id = must(headers, `${family}-id`);
  const timestamp = must(headers, `${family}-timestamp`);
  const signatures = must(headers, `${family}-signature`);
  if (!/^\d+$/.test(timestamp))
    throw new WebhookVerificationError('bad_format', 'timestamp is not a whole number');
  checkTimestamp(Number(timestamp), options.toleranceSec ?? 300, options.now ?? Date.now());
  const bytes = rawBytes(body);
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), bytes]);
  const given = signatures.split(' ').map((s) => s.split(','));
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    if (secret.startsWith('whpk_')) {
      const key = createPublicKey({
        key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(secret.slice(5), 'base64')]),
        format: 'der',
        type: 'spki',
      });
      for (const [version, sig] of given) {
        if (version === 'v1a' && sig && verifySignature(null, signed, key, Buffer.from(sig, 'base64')))
          return id;
      }
      continue;
    }
    const expected = hmac('sha256', decodeSecret(secret), signed).toString('base64');
    for (const [version, sig] of given) if (version === 'v1' && sig && safeEqual(sig, expected)) return id;
  }
  throw new WebhookVerificationError('no_matching_signature', 'no signature matches');
}

/** Verifies GitHub's `X-Hub-Signature-256: sha256=<hex>`. Returns the `X-GitHub-Delivery` id, if any. */
export function verifyGitHub(secret: string, headers: HeaderSource, body: RawBody): string | undefined {
  const signature = must(headers, 'x-hub-signature-256');
  if (!signature.startsWith('sha256='))
    throw new WebhookVerificationError('bad_format', 'signature must start with sha256=');
  const expected = `sha256=${hmac('sha256', secret, rawBytes(body)).toString('hex')}`;
  if (!safeEqual(signature, expected))
    throw new WebhookVerificationError('no_matching_signature', 'signature does not match');
  return header(headers, 'x-github-delivery');
}

/**
 * Verifies Stripe's `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`: HMAC-SHA256 of
 * `{t}.{body}` keyed with the secret's UTF-8 bytes (the whole `whsec_…` string).
 */
export function verifyStripe(
  secret: string,
  headers: HeaderSource,
  body: RawBody,
  options: TimedOptions = {},
): void {
  const value = must(headers, 'stripe-signature');
  const parts = value.split(',').map((p) => p.split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  const v1 = parts.filter(([k]) => k === 'v1').map(([, v]) => v ?? '');
  if (t === undefined || !/^\d+$/.test(t) || v1.length === 0) {
    throw new WebhookVerificationError('bad_format', 'Stripe-Signature needs t= and at least one v1=');
  }
  checkTimestamp(Number(t), options.toleranceSec ?? 300, options.now ?? Date.now());
  const expected = hmac('sha256', secret, `${t}.`, rawBytes(body)).toString('hex');
  if (!v1.some((sig) => safeEqual(sig, expected))) {
    throw new WebhookVerificationError('no_matching_signature', 'no v1 signature matches');
  }
}

/** Verifies Shopify's `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body. */
export function verifyShopify(secret: string, headers: HeaderSource, body: RawBody): void {
  const signature = must(headers, 'x-shopify-hmac-sha256');
  const expected = hmac('sha256', secret, rawBytes(body)).toString('base64');
  if (!safeEqual(signature, expected))
    throw new WebhookVerificationError('no_matching_signature', 'signature does not match');
}

/** Verifies Slack's `X-Slack-Signature: v0=<hex HMAC of "v0:{timestamp}:{body}">`. */
export function verifySlack(
  secret: string,
  headers: HeaderSource,
  body: RawBody,
  options: TimedOptions = {},
): void {
  const signature = must(headers, 'x-slack-signature');
  const timestamp = must(headers, 'x-slack-request-timestamp');
  if (!/^\d+$/.test(timestamp))
    throw new WebhookVerificationError('bad_format', 'timestamp is not a whole number');
  checkTimestamp(Number(timestamp), options.toleranceSec ?? 300, options.now ?? Date.now());
  const expected = `v0=${hmac('sha256', secret, `v0:${timestamp}:`, rawBytes(body)).toString('hex')}`;
  if (!safeEqual(signature, expected))
    throw new WebhookVerificationError('no_matching_signature', 'signature does not match');
}

/** Options of {@link verifyHmac}. */
export interface HmacOptions {
  /** Header carrying the signature. */
  header: string;
  algorithm?: 'sha256' | 'sha1' | 'sha512';
  encoding?: 'hex' | 'base64';
  /** Text before the signature in the header, such as `sha256=`. */
  prefix?: string;
}

/** Verifies a generic HMAC of the raw body carried in one header. */
export function verifyHmac(secret: string, headers: HeaderSource, body: RawBody, options: HmacOptions): void {
  const value = must(headers, options.header);
  const prefix = options.prefix ?? '';
  if (!value.startsWith(prefix))
    throw new WebhookVerificationError('bad_format', `signature must start with ${prefix}`);
  const expected = hmac(options.algorithm ?? 'sha256', secret, rawBytes(body)).toString(
    options.encoding ?? 'hex',
  );
  if (!safeEqual(value.slice(prefix.length), expected)) {
    throw new WebhookVerificationError('no_matching_signature', 'signature does not match');
  }
}

/**
 * Rules about header values and names that the API, the store and the dispatcher share:
 * which values can be sent at all, which names carry credentials (redacted in the attempt
 * log, marked sensitive in `GET …/headers`), and which names an endpoint marks sensitive.
 */
import { ValidationError } from './errors.js';

/**
 * An RFC 9110 field-value as undici checks it before sending (`headerCharRegex` in its
 * `lib/core/util.js`): tab, space, visible ASCII, and obs-text U+0080 to U+00FF, which go
 * out as one byte each. Anything else makes undici throw on every attempt.
 */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const EDGE_WHITESPACE = /^[\t ]|[\t ]$/;

/** Why `value` cannot be sent as a header value as it is; `null` when it can. */
export function headerValueProblem(value: string): string | null {
  if (!FIELD_VALUE.test(value)) {
    const at = [...value].findIndex((c) => !FIELD_VALUE.test(c));
    const code = [...value][at]!.codePointAt(0)!;
    const name = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    return `holds ${name} at character ${at + 1}; a header value may hold only tab, space, visible ASCII and U+0080 to U+00FF (sent as one byte each)`;
  }
  // A receiver's parser strips them (RFC 9110 5.5), so what arrives would not be what was set.
  if (EDGE_WHITESPACE.test(value)) return 'must not begin or end with a space or tab';
  return null;
}

/**
 * Parts of a header name that say it carries a credential. They take in authorization,
 * proxy-authorization, www-authenticate, x-auth-token, cookie, set-cookie, x-api-key,
 * api-key, private-token, x-csrf-token, and providers' signatures (x-hub-signature-256,
 * stripe-signature, x-shopify-hmac-sha256, x-slack-signature, webhook-signature): a
 * signature with its body can be replayed to a receiver that checks it.
 */
const CREDENTIAL_PARTS = [
  'auth',
  'token',
  'secret',
  'password',
  'passwd',
  'cookie',
  'session',
  'credential',
  'api-key',
  'apikey',
  'signature',
  'hmac',
];

/** Whether a header of this name (any case) is taken to carry a credential. */
export function isCredentialHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return CREDENTIAL_PARTS.some((part) => lower.includes(part));
}

/** What the attempt log keeps instead of a redacted value. */
export const REDACTED = '[redacted]';

/**
 * A request's headers as the attempt log records them: the values of the endpoint's custom
 * headers (often credentials) and of every credential-named header (a provider's, passed
 * through, or Herald's own signature, which can be recomputed) become {@link REDACTED}.
 * What is sent is not changed.
 */
export function recordedHeaders(
  sent: Record<string, string>,
  custom: Record<string, string>,
): Record<string, string> {
  const customNames = new Set(Object.keys(custom).map((n) => n.toLowerCase()));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(sent)) {
    out[name] = customNames.has(name.toLowerCase()) || isCredentialHeader(name) ? REDACTED : value;
  }
  return out;
}

/**
 * Checks the names an endpoint marks sensitive: each must be one of `headers` (any case);
 * returned in the headers' own spelling, once each.
 */
export function checkSensitiveNames(
  field: string,
  names: readonly string[],
  headers: Record<string, string>,
): string[] {
  const byLower = new Map(Object.keys(headers).map((n) => [n.toLowerCase(), n]));
  const out = new Set<string>();
  names.forEach((name, i) => {
    const own = typeof name === 'string' ? byLower.get(name.toLowerCase()) : undefined;
    if (own === undefined) throw new ValidationError(`${field}[${i}]`, 'names no header of the endpoint');
    out.add(own);
  });
  return [...out];
}

/** The marks that still name one of `headers` after the headers changed. */
export function keptSensitiveNames(names: readonly string[], headers: Record<string, string>): string[] {
  const present = new Set(Object.keys(headers).map((n) => n.toLowerCase()));
  return names.filter((n) => present.has(n.toLowerCase()));
}

/**
 * The headers as `GET …/headers` shows them (Svix's `EndpointHeadersOut`): a sensitive
 * header, marked so or credential-named, is listed by name in `sensitive` and its value is
 * not returned.
 */
export function headersOut(
  headers: Record<string, string>,
  marked: readonly string[],
): { headers: Record<string, string>; sensitive: string[] } {
  const markedLower = new Set(marked.map((n) => n.toLowerCase()));
  const out: Record<string, string> = {};
  const sensitive: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (markedLower.has(name.toLowerCase()) || isCredentialHeader(name)) sensitive.push(name);
    else out[name] = value;
  }
  return { headers: out, sensitive };
}

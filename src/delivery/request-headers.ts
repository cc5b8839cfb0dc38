/**
 * The headers of one attempt's request: the message's own, the endpoint's, then Herald's
 * (content type, user agent, id, timestamp, signature). One function for the dispatcher's POST
 * and for a delivery handed to `herald listen`, so what a listener forwards carries exactly
 * what a normal delivery would, and verifies the same.
 */
import { signatureHeader } from '../core/signing.js';
import type { ClaimedDelivery } from '../store/store.js';
import type { HeaderStyle } from './config.js';
import { EndpointCache, type PreparedEndpoint } from './endpoint-cache.js';

/** The names of id, timestamp and signature in each header style. */
export const HEADER_NAMES = {
  standard: { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' },
  svix: { id: 'svix-id', timestamp: 'svix-timestamp', signature: 'svix-signature' },
} as const;

/**
 * The custom headers of an attempt: a message's own, then the endpoint's (later ones win,
 * whatever the case of their names). The trace headers are not reserved: when Herald sends its
 * own (`trace`), they are taken out of both.
 */
export function customHeaders(
  prepared: PreparedEndpoint,
  delivery: Pick<ClaimedDelivery, 'headers'>,
  trace: Record<string, string> | null = null,
): Record<string, string> {
  const endpointHeaders = trace ? withoutNames(prepared.endpoint.headers, trace)! : prepared.endpoint.headers;
  const own = withoutNames(delivery.headers, trace ? { ...endpointHeaders, ...trace } : endpointHeaders);
  return own ? { ...own, ...endpointHeaders } : endpointHeaders;
}

/**
 * The request headers of an attempt of `delivery` made at `now` (ms), signed with the
 * endpoint's active keys: `custom` (by default {@link customHeaders}; a transformation may have
 * changed them), the trace headers, then Herald's. Herald's are reserved, so none of the
 * others has them.
 */
export function requestHeaders(
  prepared: PreparedEndpoint,
  delivery: Pick<ClaimedDelivery, 'msgId' | 'headers'>,
  payload: string,
  now: number,
  options: { headerStyle: HeaderStyle; userAgent: string },
  custom: Record<string, string> = customHeaders(prepared, delivery),
  trace: Record<string, string> | null = null,
): Record<string, string> {
  const names = HEADER_NAMES[options.headerStyle];
  const timestamp = Math.floor(now / 1000);
  const keys = EndpointCache.activeKeys(prepared, now);
  return {
    // A transformation's headers were not cleaned of the trace names: Herald's trace wins.
    ...(trace ? withoutNames(custom, trace) : custom),
    ...trace,
    'content-type': 'application/json',
    'user-agent': options.userAgent,
    [names.id]: delivery.msgId,
    [names.timestamp]: String(timestamp),
    [names.signature]: signatureHeader(keys, delivery.msgId, timestamp, payload),
  };
}

/** `headers` less those named in `winners`, in any case; `null` stays `null`. */
function withoutNames(
  headers: Record<string, string> | null,
  winners: Record<string, string>,
): Record<string, string> | null {
  const names = Object.keys(winners);
  if (headers === null || names.length === 0) return headers;
  const taken = new Set(names.map((n) => n.toLowerCase()));
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!taken.has(name.toLowerCase())) out[name] = value;
  return out;
}

/**
 * What the inbound gateway knows of each provider: how to verify a request, which event
 * type it carries, and which id makes a retry of it recognisable.
 */
import type { Source, SourceProvider } from '../core/types.js';
import {
  type HeaderSource,
  header,
  verifyGitHub,
  verifyHmac,
  verifyShopify,
  verifySlack,
  verifyStandardWebhook,
  verifyStripe,
  WebhookVerificationError,
} from '../verify/core.js';

/** What a verified request is. */
export interface Inspection {
  /** The event type it is forwarded as. */
  eventType: string;
  /** The provider's delivery id, the same on its retries; `undefined` when it has none. */
  deliveryId: string | undefined;
}

/** Throws `WebhookVerificationError` unless one of the source's secrets signed the request. */
export function verifyInbound(source: Source, headers: HeaderSource, body: Buffer): void {
  if (source.provider === 'none') return;
  let last: unknown;
  for (const secret of source.secrets) {
    try {
      VERIFY[source.provider](secret, headers, body);
      return;
    } catch (error) {
      if (!(error instanceof WebhookVerificationError) || error.reason !== 'no_matching_signature')
        throw error;
      last = error;
    }
  }
  throw last;
}

const VERIFY: Record<
  Exclude<SourceProvider, 'none'>,
  (secret: string, h: HeaderSource, b: Buffer) => void
> = {
  github: (s, h, b) => verifyGitHub(s, h, b),
  stripe: (s, h, b) => verifyStripe(s, h, b),
  shopify: (s, h, b) => verifyShopify(s, h, b),
  slack: (s, h, b) => verifySlack(s, h, b),
  'standard-webhooks': (s, h, b) => verifyStandardWebhook(s, h, b),
  // Generic sources sign the raw body with HMAC-SHA256, hex, in `x-signature` (optionally `sha256=`).
  hmac: (s, h, b) => {
    const value = header(h, 'x-signature') ?? '';
    verifyHmac(s, h, b, { header: 'x-signature', prefix: value.startsWith('sha256=') ? 'sha256=' : '' });
  },
};

const SAFE = /[^a-zA-Z0-9\-_.]/g;

/** Turns any text into an event type name (`a-z A-Z 0-9 - _ .`, at most 256). */
function asName(text: string): string {
  const name = text.replace(/\//g, '.').replace(SAFE, '_').slice(0, 256);
  return name.length > 0 ? name : 'webhook';
}

function field(parsed: unknown, key: string): string | undefined {
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const value = (parsed as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}

/** The event type and delivery id of a verified request, by provider. */
export function inspect(provider: SourceProvider, headers: HeaderSource, parsed: unknown): Inspection {
  switch (provider) {
    case 'github': {
      const event = header(headers, 'x-github-event') ?? 'webhook';
      const action = field(parsed, 'action');
      return {
        eventType: asName(action ? `${event}.${action}` : event),
        deliveryId: header(headers, 'x-github-delivery'),
      };
    }
    case 'stripe':
      return { eventType: asName(field(parsed, 'type') ?? 'webhook'), deliveryId: field(parsed, 'id') };
    case 'shopify':
      return {
        eventType: asName(header(headers, 'x-shopify-topic') ?? 'webhook'),
        deliveryId: header(headers, 'x-shopify-webhook-id'),
      };
    case 'slack':
      return {
        eventType: asName(field(parsed, 'type') ?? (parsed === undefined ? 'slack.command' : 'webhook')),
        deliveryId: field(parsed, 'event_id'),
      };
    case 'standard-webhooks':
      return {
        eventType: asName(field(parsed, 'type') ?? 'webhook'),
        deliveryId: header(headers, 'webhook-id') ?? header(headers, 'svix-id'),
      };
    default:
      return {
        eventType: asName(field(parsed, 'type') ?? 'webhook'),
        deliveryId: header(headers, 'idempotency-key'),
      };
  }
}

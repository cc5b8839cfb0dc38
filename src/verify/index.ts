/**
 * `herald/verify`: verify webhooks on the receiving side. No runtime dependencies.
 *
 * ```ts
 * import { standardWebhooks, nodeMiddleware } from 'herald/verify';
 * app.post('/webhook', nodeMiddleware(standardWebhooks(process.env.WEBHOOK_SECRET)), handler);
 * ```
 */

import type { Verifier } from './adapters.js';
import {
  type HmacOptions,
  header,
  type TimedOptions,
  verifyGitHub,
  verifyHmac,
  verifyShopify,
  verifySlack,
  verifyStandardWebhook,
  verifyStripe,
} from './core.js';

export * from './adapters.js';
export * from './core.js';
export * from './replay.js';

/** A {@link Verifier} for Standard Webhooks (Herald, Svix); returns `webhook-id`. */
export const standardWebhooks =
  (secrets: string | readonly string[], options?: TimedOptions): Verifier =>
  (headers, body) =>
    verifyStandardWebhook(secrets, headers, body, options);

/** A {@link Verifier} for GitHub; returns `X-GitHub-Delivery`. */
export const github =
  (secret: string): Verifier =>
  (headers, body) =>
    verifyGitHub(secret, headers, body);

/** A {@link Verifier} for Stripe; returns the event id from the body. */
export const stripe =
  (secret: string, options?: TimedOptions): Verifier =>
  (headers, body) => {
    verifyStripe(secret, headers, body, options);
    try {
      return (JSON.parse(body.toString('utf8')) as { id?: string }).id;
    } catch {
      return undefined;
    }
  };

/** A {@link Verifier} for Shopify; returns `X-Shopify-Webhook-Id`. */
export const shopify =
  (secret: string): Verifier =>
  (headers, body) => {
    verifyShopify(secret, headers, body);
    return header(headers, 'x-shopify-webhook-id');
  };

/** A {@link Verifier} for Slack. */
export const slack =
  (secret: string, options?: TimedOptions): Verifier =>
  (headers, body) => {
    verifySlack(secret, headers, body, options);
    return undefined;
  };

/** A {@link Verifier} for a generic HMAC header. */
export const hmac =
  (secret: string, options: HmacOptions): Verifier =>
  (headers, body) => {
    verifyHmac(secret, headers, body, options);
    return undefined;
  };

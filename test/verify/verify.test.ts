/** herald/verify: published vectors, the official libraries in both directions, every reason code. */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { Webhook as SvixWebhook } from 'svix';
import { describe, expect, it } from 'vitest';
import {
  generateEd25519Secret,
  generateHmacSecret,
  parseSecret,
  signatureHeader,
} from '../../src/core/signing.js';
import {
  MemoryReplayStore,
  verifyGitHub,
  verifyHmac,
  verifyShopify,
  verifySlack,
  verifyStandardWebhook,
  verifyStripe,
  WebhookVerificationError,
} from '../../src/verify/index.js';

const vectors = JSON.parse(
  readFileSync(new URL('../fixtures/signature-vectors.json', import.meta.url), 'utf8'),
) as {
  standardWebhooks: { secret: string; id: string; timestamp: number; payload: string; signature: string }[];
  github: { secret: string; payload: string; signature: string }[];
  slack: { secret: string; timestamp: number; payload: string; signature: string }[];
};

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof WebhookVerificationError) return error.reason;
    throw error;
  }
  return 'passed';
}

describe('published vectors', () => {
  it.each(vectors.standardWebhooks)('Standard Webhooks $id', (v) => {
    const headers = {
      'webhook-id': v.id,
      'webhook-timestamp': String(v.timestamp),
      'webhook-signature': v.signature,
    };
    expect(verifyStandardWebhook(v.secret, headers, v.payload, { now: v.timestamp * 1000 })).toBe(v.id);
  });
  it.each(vectors.github)('GitHub', (v) => {
    expect(reason(() => verifyGitHub(v.secret, { 'X-Hub-Signature-256': v.signature }, v.payload))).toBe(
      'passed',
    );
  });
  it.each(vectors.slack)('Slack', (v) => {
    const headers = { 'X-Slack-Signature': v.signature, 'X-Slack-Request-Timestamp': String(v.timestamp) };
    expect(reason(() => verifySlack(v.secret, headers, v.payload, { now: v.timestamp * 1000 }))).toBe(
      'passed',
    );
  });
});

describe('the official libraries, both directions', () => {
  const body = '{"type":"order.paid","total":42.5}';

  it('standardwebhooks and svix sign; herald/verify verifies', () => {
    const secret = generateHmacSecret();
    const now = new Date();
    const ts = String(Math.floor(now.getTime() / 1000));
    for (const signature of [
      new StandardWebhook(secret).sign('msg_1', now, body),
      new SvixWebhook(secret).sign('msg_1', now, body),
    ]) {
      expect(
        verifyStandardWebhook(
          secret,
          { 'webhook-id': 'msg_1', 'webhook-timestamp': ts, 'webhook-signature': signature },
          body,
        ),
      ).toBe('msg_1');
      expect(
        verifyStandardWebhook(
          secret,
          { 'svix-id': 'msg_1', 'svix-timestamp': ts, 'svix-signature': signature },
          body,
        ),
      ).toBe('msg_1');
    }
  });

  it("Herald's signer signs; herald/verify and the official libraries all verify", () => {
    const secret = generateHmacSecret();
    const ts = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': 'msg_2',
      'webhook-timestamp': String(ts),
      'webhook-signature': signatureHeader([parseSecret(secret)], 'msg_2', ts, body),
    };
    expect(verifyStandardWebhook(secret, headers, body)).toBe('msg_2');
    expect(new StandardWebhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new SvixWebhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('accepts any one of several signatures and secrets; v1a ed25519 with a whpk_ key', () => {
    const [a, b] = [generateHmacSecret(), generateHmacSecret()];
    const ts = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': 'm',
      'webhook-timestamp': String(ts),
      'webhook-signature': signatureHeader([parseSecret(a)], 'm', ts, body),
    };
    expect(verifyStandardWebhook([b, a], headers, body)).toBe('m');
    const ed = parseSecret(generateEd25519Secret());
    if (ed.kind !== 'ed25519') throw new Error('expected ed25519');
    const edHeaders = { ...headers, 'webhook-signature': `v1,bogus ${signatureHeader([ed], 'm', ts, body)}` };
    expect(verifyStandardWebhook(ed.publicKey, edHeaders, body)).toBe('m');
  });

  it('@octokit/webhooks-methods signs; herald/verify verifies', async () => {
    const signature = await githubSign('gh-secret', body);
    expect(
      verifyGitHub('gh-secret', { 'x-hub-signature-256': signature, 'x-github-delivery': 'd-1' }, body),
    ).toBe('d-1');
  });

  it("stripe's generateTestHeaderString signs; herald/verify verifies", () => {
    const stripe = new Stripe('sk_test_unused');
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_stripe_test' });
    expect(reason(() => verifyStripe('whsec_stripe_test', { 'stripe-signature': header }, body))).toBe(
      'passed',
    );
    expect(reason(() => verifyStripe('whsec_other', { 'stripe-signature': header }, body))).toBe(
      'no_matching_signature',
    );
  });

  it('Shopify and generic HMAC', () => {
    const shopify = createHmac('sha256', 'shp').update(body).digest('base64');
    expect(reason(() => verifyShopify('shp', { 'X-Shopify-Hmac-Sha256': shopify }, body))).toBe('passed');
    const generic = `sha512=${createHmac('sha512', 'k').update(body).digest('hex')}`;
    expect(
      reason(() =>
        verifyHmac('k', { 'x-sig': generic }, body, {
          header: 'x-sig',
          algorithm: 'sha512',
          prefix: 'sha512=',
        }),
      ),
    ).toBe('passed');
  });
});

describe('refusals carry a reason and never throw anything else', () => {
  const secret = generateHmacSecret();
  const body = '{"a": 1}';
  const ts = Math.floor(Date.now() / 1000);
  const good = {
    'webhook-id': 'm',
    'webhook-timestamp': String(ts),
    'webhook-signature': signatureHeader([parseSecret(secret)], 'm', ts, body),
  };

  it.each([
    ['missing_header', { ...good, 'webhook-signature': undefined }],
    ['bad_format', { ...good, 'webhook-timestamp': 'yesterday' }],
    // An hour either way: `ts` is taken when this file loads, maybe seconds before the test runs.
    ['stale_timestamp', { ...good, 'webhook-timestamp': String(ts - 3_600) }],
    ['stale_timestamp', { ...good, 'webhook-timestamp': String(ts + 3_600) }],
    ['no_matching_signature', { ...good, 'webhook-signature': 'v1,short' }],
    ['no_matching_signature', { ...good, 'webhook-signature': `v1,${'A'.repeat(500)}` }],
    ['no_matching_signature', { ...good, 'webhook-id': 'other' }],
  ])('%s', (expected, headers) => {
    expect(reason(() => verifyStandardWebhook(secret, headers, body))).toBe(expected);
  });

  it('a body parsed and serialised again fails; a parsed object is refused outright', () => {
    const reserialised = JSON.stringify(JSON.parse(body));
    expect(reserialised).not.toBe(body);
    expect(reason(() => verifyStandardWebhook(secret, good, reserialised))).toBe('no_matching_signature');
    expect(() => verifyStandardWebhook(secret, good, JSON.parse(body))).toThrow(TypeError);
  });

  it('the memory replay store: claimed, handled or released, and forgotten after its TTL', () => {
    let now = 0;
    const store = new MemoryReplayStore(() => now);
    expect(store.claim('msg_1', 1_000)).toBe('new');
    expect(store.claim('msg_1', 1_000)).toBe('in_progress');
    store.release('msg_1');
    expect(store.claim('msg_1', 1_000)).toBe('new');
    now = 500;
    store.handled('msg_1', 1_000);
    now = 1_499;
    expect(store.claim('msg_1', 1_000)).toBe('handled');
    now = 1_500;
    expect(store.claim('msg_1', 1_000)).toBe('new');
    // A claim whose handler never answered lapses too.
    now = 2_500;
    expect(store.claim('msg_1', 1_000)).toBe('new');
  });
});

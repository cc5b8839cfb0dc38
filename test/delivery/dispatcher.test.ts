import { Webhook } from 'svix';
import { afterEach, describe, expect, it } from 'vitest';
import { generateHmacSecret } from '../../src/core/signing.js';
import { receiversClosedAfterEach } from '../helpers.js';
import { type Fixture, fixture } from './fixture.js';

const receiver = receiversClosedAfterEach();
let f: Fixture;

afterEach(async () => {
  await f?.close();
});

describe('fan-out and the wire format', () => {
  it('delivers to matching endpoints only, signed so that svix verifies it', async () => {
    f = await fixture();
    const r = await receiver();
    const secret = generateHmacSecret();
    const all = await f.store.createEndpoint(f.appId, { url: `${r.url}?ep=all`, secret });
    await f.store.createEndpoint(f.appId, { url: `${r.url}?ep=typed`, filterTypes: ['user.created'] });
    const channel = await f.store.createEndpoint(f.appId, {
      url: `${r.url}?ep=channel`,
      channels: ['project_1'],
    });
    await f.store.createEndpoint(f.appId, { url: `${r.url}?ep=other-channel`, channels: ['project_2'] });
    await f.store.createEndpoint(f.appId, { url: `${r.url}?ep=disabled`, disabled: true });

    const done = f.attempts(2);
    const payload = '{"title":"Hello","n":1.50,"tags":["a"]}';
    const accepted = await f.store.acceptMessage({
      appId: f.appId,
      eventType: 'content.published',
      channels: ['project_1'],
      payload,
    });
    expect(accepted.deliveries).toBe(2);
    const events = await done;
    expect(new Set(events.map((e) => e.attempt.endpointId))).toEqual(new Set([all.id, channel.id]));
    expect(events.every((e) => e.attempt.succeeded && e.next.status === 'succeeded')).toBe(true);

    expect(r.received.map((x) => x.url).sort()).toEqual(['/hook?ep=all', '/hook?ep=channel']);
    const got = r.received.find((x) => x.url === '/hook?ep=all')!;
    // The exact bytes that arrived are sent: no parse and re-serialise (1.50 stays 1.50).
    expect(got.body).toBe(payload);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toMatch(/^Herald\//);
    expect(got.headers['webhook-id']).toBe(accepted.message.id);
    const verified = new Webhook(secret).verify(got.body, {
      'webhook-id': String(got.headers['webhook-id']),
      'webhook-timestamp': String(got.headers['webhook-timestamp']),
      'webhook-signature': String(got.headers['webhook-signature']),
    });
    expect(verified).toEqual(JSON.parse(payload));
  });

  it('sends svix-* headers when configured, and custom endpoint headers', async () => {
    f = await fixture({ headerStyle: 'svix' });
    const r = await receiver();
    const secret = generateHmacSecret();
    await f.store.createEndpoint(f.appId, { url: r.url, secret, headers: { 'X-Tenant': 'acme' } });
    const done = f.nextAttempt();
    await f.store.acceptMessage({ appId: f.appId, eventType: 'a.b', payload: '{}' });
    const event = await done;
    const got = r.received[0]!;
    expect(got.headers['webhook-id']).toBeUndefined();
    expect(got.headers['x-tenant']).toBe('acme');
    expect(
      new Webhook(secret).verify(got.body, {
        'svix-id': String(got.headers['svix-id']),
        'svix-timestamp': String(got.headers['svix-timestamp']),
        'svix-signature': String(got.headers['svix-signature']),
      }),
    ).toEqual({});
    // Custom header values (often credentials) are not kept in the attempt log.
    expect(event.attempt.requestHeaders['X-Tenant']).toBe('[redacted]');
  });

  it('refuses a second message with the same eventId and stores it once', async () => {
    f = await fixture();
    const r = await receiver();
    await f.store.createEndpoint(f.appId, { url: r.url });
    const first = f.nextAttempt();
    const results = await Promise.allSettled([
      f.store.acceptMessage({ appId: f.appId, eventType: 'a', eventId: 'order-1', payload: '{"n":1}' }),
      f.store.acceptMessage({ appId: f.appId, eventType: 'a', eventId: 'order-1', payload: '{"n":2}' }),
    ]);
    expect(results.map((x) => x.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason.code).toBe('conflict');
    await first;
    expect(r.received.map((x) => x.body)).toEqual(['{"n":1}']);
  });
});

describe('rotation', () => {
  it('signs with the old and new secret during the grace period, then with the new only', async () => {
    f = await fixture({ manualClock: true });
    const r = await receiver();
    const oldSecret = generateHmacSecret();
    const newSecret = generateHmacSecret();
    const ep = await f.store.createEndpoint(f.appId, { url: r.url, secret: oldSecret });
    await f.store.rotateEndpointSecret(f.appId, ep.id, newSecret, 60_000);

    let done = f.nextAttempt();
    await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{"during":true}' });
    await done;
    const during = r.received[0]!;
    const sigs = String(during.headers['webhook-signature']).split(' ');
    expect(sigs).toHaveLength(2);
    const headersOf = (x: typeof during) => ({
      'webhook-id': String(x.headers['webhook-id']),
      'webhook-timestamp': String(x.headers['webhook-timestamp']),
      'webhook-signature': String(x.headers['webhook-signature']),
    });
    // Verification uses the real clock; our manual clock started at the real time.
    expect(new Webhook(oldSecret).verify(during.body, headersOf(during))).toEqual({ during: true });
    expect(new Webhook(newSecret).verify(during.body, headersOf(during))).toEqual({ during: true });

    f.clock!.advance(60_001);
    done = f.nextAttempt();
    await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{"after":true}' });
    await done;
    const after = r.received[1]!;
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => new Webhook(oldSecret).verify(after.body, headersOf(after))).toThrow();
  });
});

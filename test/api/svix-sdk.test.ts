/**
 * Acceptance test of the management API: the official `svix` SDK, pointed at a real
 * `herald serve` process with `serverUrl`, drives every route; a receiver verifies the
 * deliveries with the SDK's own `Webhook` class.
 */
import { type ApiException, Svix, Webhook } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { failure } from './svix-calls.js';

let herald: HeraldProcess;
let svix: Svix;
let receiver: Receiver;

beforeAll(async () => {
  herald = await startHerald();
  svix = new Svix(herald.token, { serverUrl: herald.url });
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
  expect(await herald?.stop()).toBe(0);
});

/** Polls the API (not wall time) until `check` passes. */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await read();
    if (check(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('condition not reached');
}

describe('applications', () => {
  it('create, get by id and uid, list, update, patch, get-or-create, delete', async () => {
    const created = await svix.application.create({
      name: 'Shop',
      uid: 'shop-apps',
      metadata: { plan: 'pro' },
    });
    expect(created).toMatchObject({ name: 'Shop', uid: 'shop-apps', metadata: { plan: 'pro' } });
    expect(created.id).toMatch(/^app_/);
    expect(created.createdAt).toBeInstanceOf(Date);
    expect((await svix.application.get('shop-apps')).id).toBe(created.id);
    const listed = await svix.application.list({ limit: 250 });
    expect(listed.data.map((a) => a.id)).toContain(created.id);

    expect((await failure(svix.application.create({ name: 'Dup', uid: 'shop-apps' }))).code).toBe(409);
    const again = await svix.application.getOrCreate({ name: 'Ignored', uid: 'shop-apps' });
    expect(again.id).toBe(created.id);

    const updated = await svix.application.update(created.id, { name: 'Shop 2', uid: 'shop-apps' });
    expect(updated.name).toBe('Shop 2');
    const patched = await svix.application.patch(created.id, { metadata: { plan: 'free' } });
    expect(patched).toMatchObject({ name: 'Shop 2', metadata: { plan: 'free' } });

    await svix.application.delete(created.id);
    expect((await failure(svix.application.get(created.id))).code).toBe(404);
  });

  it('refuses bad input with 422 naming the field, and keeps what is stored', async () => {
    const app = await svix.application.create({ name: 'Valid', uid: 'valid-app' });
    const bad = await failure(svix.application.patch(app.id, { uid: 'not a valid uid' }));
    expect(bad.code).toBe(422);
    expect(JSON.stringify(bad.body)).toContain('uid');
    expect((await svix.application.get(app.id)).uid).toBe('valid-app');
  });
});

describe('event types', () => {
  it('create, get, list, update, patch, archive and expunge', async () => {
    const created = await svix.eventType.create({ name: 'order.paid', description: 'An order was paid' });
    expect(created).toMatchObject({ name: 'order.paid', description: 'An order was paid', archived: false });
    expect((await svix.eventType.get('order.paid')).description).toBe('An order was paid');
    expect((await svix.eventType.list()).data.map((e) => e.name)).toContain('order.paid');
    expect((await svix.eventType.update('order.paid', { description: 'Paid' })).description).toBe('Paid');
    expect((await svix.eventType.patch('order.paid', { description: 'Paid!' })).description).toBe('Paid!');
    await svix.eventType.delete('order.paid');
    expect((await svix.eventType.get('order.paid')).archived).toBe(true);
    expect((await svix.eventType.list()).data.map((e) => e.name)).not.toContain('order.paid');
    await svix.eventType.delete('order.paid', { expunge: true });
    expect((await failure(svix.eventType.get('order.paid'))).code).toBe(404);
  });
});

describe('endpoints', () => {
  it('create, get, list, update, patch, secret, rotation, headers, stats, delete', async () => {
    const app = await svix.application.create({ name: 'Endpoints' });
    const ep = await svix.endpoint.create(app.id, {
      url: receiver.url,
      uid: 'main',
      filterTypes: ['order.paid'],
      channels: ['eu'],
      description: 'orders',
    });
    expect(ep).toMatchObject({
      url: receiver.url,
      uid: 'main',
      filterTypes: ['order.paid'],
      channels: ['eu'],
    });
    expect((await svix.endpoint.get(app.id, 'main')).id).toBe(ep.id);
    expect((await svix.endpoint.list(app.id)).data).toHaveLength(1);

    const updated = await svix.endpoint.update(app.id, ep.id, { url: `${receiver.url}?v=2` });
    expect(updated).toMatchObject({ url: `${receiver.url}?v=2`, filterTypes: null, uid: null });
    const patched = await svix.endpoint.patch(app.id, ep.id, { description: 'patched', disabled: true });
    expect(patched).toMatchObject({ description: 'patched', disabled: true, url: `${receiver.url}?v=2` });

    const { key } = await svix.endpoint.getSecret(app.id, ep.id);
    expect(key).toMatch(/^whsec_/);
    const next = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
    await svix.endpoint.rotateSecret(app.id, ep.id, { key: next });
    expect((await svix.endpoint.getSecret(app.id, ep.id)).key).toBe(next);

    await svix.endpoint.updateHeaders(app.id, ep.id, { headers: { 'X-Tenant': 'acme', 'X-Extra': '1' } });
    await svix.endpoint.patchHeaders(app.id, ep.id, {
      headers: { 'X-Extra': null as unknown as string, 'X-New': '2' },
    });
    expect((await svix.endpoint.getHeaders(app.id, ep.id)).headers).toEqual({
      'X-Tenant': 'acme',
      'X-New': '2',
    });
    const forbidden = await failure(
      svix.endpoint.updateHeaders(app.id, ep.id, { headers: { 'Content-Type': 'x' } }),
    );
    expect(forbidden.code).toBe(422);

    expect(await svix.endpoint.getStats(app.id, ep.id)).toMatchObject({ success: 0, fail: 0, pending: 0 });
    await svix.endpoint.delete(app.id, ep.id);
    expect((await failure(svix.endpoint.get(app.id, ep.id))).code).toBe(404);
  });

  it.each([
    ['a non-http URL', { url: 'ftp://example.com/' }],
    ['a URL with credentials', { url: 'https://user:pass@example.com/' }],
    ['a forbidden header', { url: 'https://example.com/', headers: { 'webhook-id': 'x' } }],
    ['a bad secret', { url: 'https://example.com/', secret: 'whsec_tooshort' }],
    ['a wrong type', { url: 42 as unknown as string }],
  ])('refuses %s with 422 and creates nothing', async (_name, input) => {
    const app = await svix.application.create({ name: 'Bad endpoints' });
    expect((await failure(svix.endpoint.create(app.id, input))).code).toBe(422);
    expect((await svix.endpoint.list(app.id)).data).toHaveLength(0);
  });
});

describe('Svix fields Herald does not support', () => {
  /** The 422's issues, as the SDK hands them over. */
  const issues = (e: ApiException<unknown>) =>
    (e.body as { detail: { loc: string[]; msg: string }[] }).detail;

  it('are refused with 422 naming them, and nothing is stored or changed', async () => {
    const app = await svix.application.create({ name: 'Unsupported' });
    const ep = await svix.endpoint.create(app.id, { url: receiver.url });
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);
    const refusals: [string[], () => Promise<unknown>][] = [
      [
        ['body', 'groupName'],
        () => svix.eventType.create({ name: 'grouped', description: '', groupName: 'g' }),
      ],
      [['body', 'secret'], () => svix.endpoint.patch(app.id, ep.id, { secret: `whsec_${'A'.repeat(32)}` })],
      [
        ['body', 'deleteHeaders'],
        () => svix.endpoint.patchHeaders(app.id, ep.id, { headers: {}, deleteHeaders: ['X-A'] }),
      ],
      [['body', 'version'], () => svix.endpoint.create(app.id, { url: receiver.url, version: 2 })],
      [
        ['body', 'exampleIndex'],
        () => svix.endpoint.sendExample(app.id, ep.id, { eventType: 'a', exampleIndex: 1 }),
      ],
      [
        ['body', 'featureFlags'],
        () => svix.authentication.appPortalAccess(app.id, { featureFlags: ['beta'] }),
      ],
    ];
    for (const [loc, call] of refusals) {
      const refused = await failure(call());
      expect(refused.code, loc.join('.')).toBe(422);
      expect(issues(refused)).toEqual([expect.objectContaining({ loc })]);
      expect(issues(refused)[0]!.msg).toContain(`${loc[1]} is not supported by Herald`);
    }
    expect((await svix.message.list(app.id)).data).toHaveLength(0);
    expect((await failure(svix.eventType.get('grouped'))).code).toBe(404);
    expect((await svix.endpoint.list(app.id)).data.map((e) => e.id)).toEqual([ep.id]);
    expect((await svix.endpoint.getSecret(app.id, ep.id)).key).toBe(key);
  });

  it('take the values that ask for what Herald does anyway', async () => {
    const app = await svix.application.create({ name: 'Supported values' });
    const ep = await svix.endpoint.create(app.id, { url: receiver.url, version: 1 });
    expect(ep.version).toBe(1);
    const type = await svix.eventType.create({ name: 'plain.event', description: '', deprecated: false });
    expect(type.deprecated).toBe(false);
  });
});

describe('messages and attempts', () => {
  it('sends, delivers signed so the SDK verifies, lists attempts and destinations, resends', async () => {
    const app = await svix.application.create({ name: 'Messages', uid: 'messages-app' });
    const ep = await svix.endpoint.create(app.id, { url: `${receiver.url}?app=messages` });
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);

    const msg = await svix.message.create('messages-app', {
      eventType: 'order.paid',
      eventId: 'order-1001',
      payload: { type: 'order.paid', total: 42.5, currency: 'EUR' },
    });
    expect(msg).toMatchObject({ eventType: 'order.paid', eventId: 'order-1001', payload: { total: 42.5 } });
    expect(
      (
        await failure(
          svix.message.create(app.id, { eventType: 'order.paid', eventId: 'order-1001', payload: {} }),
        )
      ).code,
    ).toBe(409);

    const attempts = await eventually(
      () => svix.messageAttempt.listByMsg(app.id, msg.id),
      (page) => page.data.length === 1,
    );
    expect(attempts.data[0]).toMatchObject({
      msgId: msg.id,
      endpointId: ep.id,
      responseStatusCode: 200,
      status: 0,
    });
    const got = receiver.received.find((r) => r.headers['webhook-id'] === msg.id)!;
    const verified = new Webhook(key).verify(got.body, {
      'webhook-id': String(got.headers['webhook-id']),
      'webhook-timestamp': String(got.headers['webhook-timestamp']),
      'webhook-signature': String(got.headers['webhook-signature']),
    });
    expect(verified).toEqual({ type: 'order.paid', total: 42.5, currency: 'EUR' });

    expect((await svix.message.get(app.id, msg.id)).id).toBe(msg.id);
    expect((await svix.message.get(app.id, 'order-1001')).id).toBe(msg.id);
    expect((await svix.message.list(app.id, { eventTypes: ['order.paid'] })).data.map((m) => m.id)).toEqual([
      msg.id,
    ]);
    expect((await svix.message.list(app.id, { eventTypes: ['other'] })).data).toHaveLength(0);
    expect((await svix.messageAttempt.listByEndpoint(app.id, ep.id)).data).toHaveLength(1);
    const one = await svix.messageAttempt.get(app.id, msg.id, attempts.data[0]!.id);
    expect(one.id).toBe(attempts.data[0]!.id);
    const destinations = await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id);
    expect(destinations.data[0]).toMatchObject({ id: ep.id, status: 0 });
    const messages = await svix.messageAttempt.listAttemptedMessages(app.id, ep.id);
    expect(messages.data[0]).toMatchObject({ id: msg.id, status: 0 });

    await svix.messageAttempt.resend(app.id, msg.id, ep.id);
    const after = await eventually(
      () => svix.messageAttempt.listByMsg(app.id, msg.id),
      (page) => page.data.length === 2,
    );
    expect(after.data[0]!.triggerType).toBe(1);
  });

  it('returns the first answer for a repeated idempotency key and 409 for a different body', async () => {
    const app = await svix.application.create({ name: 'Idempotent' });
    const first = await svix.message.create(
      app.id,
      { eventType: 'a', payload: { n: 1 } },
      { idempotencyKey: 'k-1' },
    );
    const again = await svix.message.create(
      app.id,
      { eventType: 'a', payload: { n: 1 } },
      { idempotencyKey: 'k-1' },
    );
    expect(again.id).toBe(first.id);
    expect((await svix.message.list(app.id)).data).toHaveLength(1);
    const other = await failure(
      svix.message.create(app.id, { eventType: 'a', payload: { n: 2 } }, { idempotencyKey: 'k-1' }),
    );
    expect(other.code).toBe(409);
  });

  it('refuses a payload over 1 MiB with 413 and stores nothing', async () => {
    const app = await svix.application.create({ name: 'Big' });
    const big = { blob: 'x'.repeat(1024 * 1024) };
    expect((await failure(svix.message.create(app.id, { eventType: 'a', payload: big }))).code).toBe(413);
    expect((await svix.message.list(app.id)).data).toHaveLength(0);
  });
});

describe('recover, replay-missing, send-example', () => {
  it('recover re-sends failed deliveries; replay-missing sends what an endpoint never got', async () => {
    const app = await svix.application.create({ name: 'Recovery' });
    const start = new Date(Date.now() - 1_000);
    // A private address: the SSRF guard fails the delivery at once, without any packet.
    const ep = await svix.endpoint.create(app.id, { url: 'http://10.0.0.1/hook' });
    const msg = await svix.message.create(app.id, { eventType: 'order.paid', payload: { n: 1 } });
    await eventually(
      () => svix.messageAttempt.listAttemptedDestinations(app.id, msg.id),
      (page) => page.data[0]?.status === 2,
    );
    await svix.endpoint.patch(app.id, ep.id, { url: `${receiver.url}?recovered` });
    const task = await svix.endpoint.recover(app.id, ep.id, { since: start });
    expect(task).toMatchObject({ status: 'running', task: 'endpoint.recover' });
    expect(task.id).toMatch(/^qtask_/);
    await eventually(
      () => svix.messageAttempt.listAttemptedDestinations(app.id, msg.id),
      (page) => page.data[0]?.status === 0,
    );
    expect(
      receiver.received.some((r) => r.url === '/hook?recovered' && r.headers['webhook-id'] === msg.id),
    ).toBe(true);

    const late = await svix.endpoint.create(app.id, { url: `${receiver.url}?late` });
    await svix.endpoint.replayMissing(app.id, late.id, { since: start });
    await eventually(
      () => svix.messageAttempt.listByEndpoint(app.id, late.id),
      (page) => page.data[0]?.status === 0,
    );
    expect(receiver.received.some((r) => r.url === '/hook?late' && r.headers['webhook-id'] === msg.id)).toBe(
      true,
    );
  });

  it('send-example sends the event type example to that endpoint only', async () => {
    const app = await svix.application.create({ name: 'Examples' });
    await svix.eventType.create({
      name: 'invoice.paid',
      description: 'paid',
      schemas: { '1': { type: 'object', examples: [{ invoiceId: 'inv_1', amount: 10 }] } },
    });
    const target = await svix.endpoint.create(app.id, { url: `${receiver.url}?example=target` });
    await svix.endpoint.create(app.id, { url: `${receiver.url}?example=other` });
    const msg = await svix.endpoint.sendExample(app.id, target.id, { eventType: 'invoice.paid' });
    expect(msg.payload).toEqual({ invoiceId: 'inv_1', amount: 10 });
    await eventually(
      () => svix.messageAttempt.listByMsg(app.id, msg.id),
      (page) => page.data.length === 1 && page.data[0]!.status === 0,
    );
    expect(receiver.received.filter((r) => r.headers['webhook-id'] === msg.id).map((r) => r.url)).toEqual([
      '/hook?example=target',
    ]);
  });
});

describe('auth', () => {
  it('refuses a missing or wrong token with 401', async () => {
    const wrong = new Svix('nope', { serverUrl: herald.url });
    expect((await failure(wrong.application.list())).code).toBe(401);
  });

  it('an application token reaches its application and nothing else', async () => {
    const mine = await svix.application.create({ name: 'Mine' });
    const theirs = await svix.application.create({ name: 'Theirs' });
    const theirEndpoint = await svix.endpoint.create(theirs.id, { url: receiver.url });
    const theirMsg = await svix.message.create(theirs.id, { eventType: 'a', payload: {} });
    const { token } = await svix.authentication.appPortalAccess(mine.id, {});
    const scoped = new Svix(token, { serverUrl: herald.url });

    expect((await scoped.application.get(mine.id)).id).toBe(mine.id);
    await scoped.endpoint.create(mine.id, { url: receiver.url });

    // Thunks: each call starts only when awaited, so none rejects unobserved.
    const refused: (() => Promise<unknown>)[] = [
      () => scoped.application.get(theirs.id),
      () => scoped.application.list(),
      () => scoped.application.create({ name: 'x' }),
      () => scoped.application.patch(theirs.id, { name: 'hacked' }),
      () => scoped.application.delete(theirs.id),
      () => scoped.endpoint.list(theirs.id),
      () => scoped.endpoint.get(theirs.id, theirEndpoint.id),
      () => scoped.endpoint.getSecret(theirs.id, theirEndpoint.id),
      () => scoped.endpoint.create(theirs.id, { url: receiver.url }),
      () => scoped.endpoint.delete(theirs.id, theirEndpoint.id),
      () => scoped.message.create(theirs.id, { eventType: 'a', payload: {} }),
      () => scoped.message.list(theirs.id),
      () => scoped.message.get(theirs.id, theirMsg.id),
      () => scoped.messageAttempt.listByMsg(theirs.id, theirMsg.id),
      () => scoped.messageAttempt.resend(theirs.id, theirMsg.id, theirEndpoint.id),
      () => scoped.eventType.create({ name: 'x.y', description: '' }),
      () => scoped.authentication.appPortalAccess(theirs.id, {}),
      () => scoped.application.get('app_does_not_exist_000000000000'),
    ];
    for (const call of refused) expect((await failure(call())).code).toBe(403);
    expect((await svix.application.get(theirs.id)).name).toBe('Theirs');
    expect((await svix.endpoint.list(theirs.id)).data).toHaveLength(1);
  });

  it('answers health without a token', async () => {
    await svix.health.get();
    const res = await fetch(`${herald.url}/api/v1/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ database: { status: 'ok' }, dispatcher: { status: 'ok' } });
  });

  it('serves its OpenAPI document', async () => {
    const doc = (await (await fetch(`${herald.url}/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/app/{app_id}/msg',
        '/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate',
      ]),
    );
  });
});

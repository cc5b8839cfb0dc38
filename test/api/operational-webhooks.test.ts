/**
 * Operational webhooks, end to end: the svix SDK's `operationalWebhookEndpoint` calls every
 * route of a listening Herald; each operational event arrives at a real receiver on
 * 127.0.0.1, delivered by the dispatcher and signed with the operational endpoint's secret
 * (checked with the `standardwebhooks` package); `filterTypes` chooses events; a change that
 * is refused emits nothing; an application token is refused. The API and a dispatcher share
 * one store and a manual clock, so retry schedules and the 5-day auto-disable run at once.
 */
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Webhook } from 'standardwebhooks';
import { ApiException, Svix } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { OPERATIONAL_APP_ID } from '../../src/core/operational.js';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import type { Store } from '../../src/store/store.js';
import { type Receiver, startReceiver, waitForEvent } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const TOKEN = 'opswh-admin';
const APP_TOKEN = 'opswh-app-token';
const DAY = 86_400_000;
const clock = new ManualClock(Date.now());
const logLines: Record<string, unknown>[] = [];
let testStore: TestStore;
let store: Store;
let api: FastifyInstance;
let dispatcher: Dispatcher;
let svix: Svix;
let base: string;
let appId: string;
/** An operational endpoint receiving every event, for the whole file. */
let ops: Receiver;
let opsSecret: string;

interface OpEvent {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

beforeAll(async () => {
  testStore = await openTestStore('opswh', { clock });
  store = testStore.store;
  await store.saveToken(hashToken(TOKEN), null);
  appId = (await store.createApplication({ name: 'Shop', uid: 'shop' })).id;
  await store.saveToken(hashToken(APP_TOKEN), appId);
  api = await buildApi({ store, clock });
  base = await api.listen({ port: 0, host: '127.0.0.1' });
  svix = new Svix(TOKEN, { serverUrl: base, retryScheduleInMs: [] });
  const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line)) });
  dispatcher = new Dispatcher({
    store,
    clock,
    logger,
    allowNetworks: ['127.0.0.0/8'],
    random: () => 0.5,
  }).start();
  ops = await startReceiver();
  const created = await svix.operationalWebhookEndpoint.create({ url: ops.url, description: 'all' });
  opsSecret = (await svix.operationalWebhookEndpoint.getSecret(created.id)).key;
});

afterAll(async () => {
  await dispatcher.stop();
  await api.close();
  await ops.close();
  await testStore.close();
});

async function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown) {
  const res = await api.inject({
    method,
    url: `/api/v1${path}`,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, json: res.payload ? res.json() : null };
}

/** The events `r` received so far, each checked against `secret`'s signature. */
function eventsOf(r: Receiver, secret: string): OpEvent[] {
  const wh = new Webhook(secret);
  return r.received.map((req) => {
    const id = req.headers['webhook-id'] as string;
    const ts = Number(req.headers['webhook-timestamp']);
    // The timestamp is the manual clock's: compare signatures rather than verify() against now.
    expect((req.headers['webhook-signature'] as string).split(' ')).toContain(
      wh.sign(id, new Date(ts * 1000), req.body),
    );
    return JSON.parse(req.body) as OpEvent;
  });
}

/** Waits until `r` has received an event matching `pick`, and returns it. */
async function eventArrives(r: Receiver, secret: string, pick: (e: OpEvent) => boolean): Promise<OpEvent> {
  for (let n = 1; ; n++) {
    await r.arrived(n);
    const found = eventsOf(r, secret).find(pick);
    if (found) return found;
  }
}

/** The operational messages written so far (every event, whoever it went to). */
async function opMessageCount(): Promise<number> {
  const rows = await testStore.sql('SELECT count(*) AS n FROM messages WHERE app_id = ?', [
    OPERATIONAL_APP_ID,
  ]);
  return Number(rows[0]!.n);
}

const about = (endpointId: string, type: string) => (e: OpEvent) =>
  e.type === type && e.data.endpointId === endpointId;

describe('the operational webhook endpoint routes, through the svix SDK', () => {
  it('create, list, get, update, secret, rotate, headers and delete', async () => {
    const r = svix.operationalWebhookEndpoint;
    const created = await r.create({
      url: 'http://127.0.0.1:9/ops',
      uid: 'pager',
      filterTypes: ['endpoint.disabled'],
      metadata: { team: 'oncall' },
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
    expect(created).toMatchObject({
      uid: 'pager',
      url: 'http://127.0.0.1:9/ops',
      filterTypes: ['endpoint.disabled'],
      disabled: false,
      metadata: { team: 'oncall' },
    });
    expect(created.id).toMatch(/^ep_/);
    expect((await r.list()).data.map((e) => e.id)).toContain(created.id);
    const page = await r.list({ limit: 1 });
    expect(page.data).toHaveLength(1);
    expect(page.done).toBe(false);
    expect((await r.get('pager')).id).toBe(created.id);
    expect((await r.getSecret(created.id)).key).toBe('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    await r.rotateSecret(created.id, {});
    expect((await r.getSecret(created.id)).key).not.toBe('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const updated = await r.update(created.id, { url: 'http://127.0.0.1:9/ops2', disabled: true });
    expect(updated).toMatchObject({
      url: 'http://127.0.0.1:9/ops2',
      disabled: true,
      uid: null,
      filterTypes: null,
    });
    await r.updateHeaders(created.id, { headers: { 'x-team': 'oncall' } });
    expect(await r.getHeaders(created.id)).toEqual({ headers: { 'x-team': 'oncall' }, sensitive: [] });
    const patched = await call('PATCH', `/operational-webhook/endpoint/${created.id}/headers`, {
      headers: { 'x-more': '1' },
    });
    expect(patched.status).toBe(204);
    expect((await r.getHeaders(created.id)).headers).toEqual({ 'x-team': 'oncall', 'x-more': '1' });
    await r.delete(created.id);
    const gone = await r.get(created.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(ApiException);
    expect((gone as ApiException<unknown>).code).toBe(404);
  });

  it('refuses an event type that is not operational, naming the field', async () => {
    const res = await call('POST', '/operational-webhook/endpoint', {
      url: 'http://127.0.0.1:9/ops',
      filterTypes: ['invoice.paid'],
    });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.json)).toContain('filterTypes');
  });

  it('are for the admin token only', async () => {
    for (const [method, url] of [
      ['GET', '/api/v1/operational-webhook/endpoint'],
      ['POST', '/api/v1/operational-webhook/endpoint'],
    ] as const) {
      const res = await api.inject({
        method,
        url,
        headers: { authorization: `Bearer ${APP_TOKEN}`, 'content-type': 'application/json' },
        payload: method === 'POST' ? JSON.stringify({ url: 'http://127.0.0.1:9/x' }) : undefined,
      });
      expect(res.statusCode, `${method} ${url}`).toBe(403);
    }
    const none = await api.inject({ url: '/api/v1/operational-webhook/endpoint' });
    expect(none.statusCode).toBe(401);
  });

  it("the reserved application is nobody's: not listed, not reachable by id", async () => {
    const apps = await call('GET', '/app?limit=250');
    expect(apps.json.data.map((a: { id: string }) => a.id)).not.toContain(OPERATIONAL_APP_ID);
    expect((await call('GET', `/app/${OPERATIONAL_APP_ID}`)).status).toBe(404);
    expect((await call('GET', `/app/${OPERATIONAL_APP_ID}/endpoint`)).status).toBe(404);
    expect((await call('DELETE', `/app/${OPERATIONAL_APP_ID}`)).status).toBe(404);
    const sent = await call('POST', `/app/${OPERATIONAL_APP_ID}/msg`, { eventType: 'x.y', payload: {} });
    expect(sent.status).toBe(404);
    const source = await call('POST', '/source', { name: 'S', provider: 'none', appId: OPERATIONAL_APP_ID });
    expect(source.status).toBe(422);
    expect(JSON.stringify(source.json)).toContain('appId');
    const byToken = await api.inject({
      url: `/api/v1/app/${OPERATIONAL_APP_ID}/endpoint`,
      headers: { authorization: `Bearer ${APP_TOKEN}` },
    });
    expect(byToken.statusCode).toBe(403);
  });
});

describe('endpoint events', () => {
  it('created, updated, disabled, enabled and deleted arrive signed, in the Svix shape', async () => {
    const created = await call('POST', `/app/${appId}/endpoint`, {
      url: 'http://127.0.0.1:9/a',
      uid: 'ep-a',
    });
    expect(created.status).toBe(201);
    const ep = created.json.id as string;
    const names = { appId, appUid: 'shop', endpointId: ep, endpointUid: 'ep-a' };
    const createdEvent = await eventArrives(ops, opsSecret, about(ep, 'endpoint.created'));
    expect(createdEvent).toEqual({ type: 'endpoint.created', timestamp: expect.any(String), data: names });
    expect(Date.parse(createdEvent.timestamp)).toBe(clock.now());
    // The real Webhook.verify passes too, the clock being still near the wall clock.
    const req = ops.received.find((x) => JSON.parse(x.body).type === 'endpoint.created')!;
    expect(new Webhook(opsSecret).verify(req.body, req.headers as Record<string, string>)).toEqual(
      createdEvent,
    );

    await call('PATCH', `/app/${appId}/endpoint/${ep}`, { description: 'changed' });
    expect((await eventArrives(ops, opsSecret, about(ep, 'endpoint.updated'))).data).toEqual(names);

    await call('PATCH', `/app/${appId}/endpoint/${ep}`, { disabled: true });
    const disabled = await eventArrives(ops, opsSecret, about(ep, 'endpoint.disabled'));
    expect(disabled.data).toEqual({
      ...names,
      trigger: 'manual',
      failSince: expect.any(String),
      reason: null,
    });
    // Disabled through the API: Herald's reason fields stay null.
    expect((await call('GET', `/app/${appId}/endpoint/${ep}`)).json).toMatchObject({
      disabled: true,
      disabledReason: null,
      disabledAt: null,
    });

    await call('PATCH', `/app/${appId}/endpoint/${ep}`, { disabled: false });
    expect((await eventArrives(ops, opsSecret, about(ep, 'endpoint.enabled'))).data).toEqual(names);

    expect((await call('DELETE', `/app/${appId}/endpoint/${ep}`)).status).toBe(204);
    expect((await eventArrives(ops, opsSecret, about(ep, 'endpoint.deleted'))).data).toEqual(names);
  });

  it('the idle listener sweep tells of each listener it disables; the next herald listen enables it again', async () => {
    const listener = await store.openListener(appId, 'forgotten-laptop', null);
    const names = { appId, appUid: 'shop', endpointId: listener.id, endpointUid: listener.uid };
    await eventArrives(ops, opsSecret, about(listener.id, 'endpoint.created'));
    // Not seen since before now: idle, as after --listener-idle-days without a client.
    expect(await store.disableIdleListeners(clock.now() + 1, 100)).toBe(1);
    const disabled = await eventArrives(ops, opsSecret, about(listener.id, 'endpoint.disabled'));
    expect(disabled.data).toEqual({
      ...names,
      trigger: 'automatic',
      failSince: new Date(clock.now()).toISOString(),
      reason: 'idle',
    });
    expect((await call('GET', `/app/${appId}/endpoint/${listener.id}`)).json).toMatchObject({
      disabled: true,
      disabledReason: 'idle',
      disabledAt: new Date(clock.now()).toISOString(),
    });

    await store.openListener(appId, 'forgotten-laptop', null);
    expect((await eventArrives(ops, opsSecret, about(listener.id, 'endpoint.enabled'))).data).toEqual(names);
    expect((await call('GET', `/app/${appId}/endpoint/${listener.id}`)).json).toMatchObject({
      disabled: false,
      disabledReason: null,
      disabledAt: null,
    });
    const types = eventsOf(ops, opsSecret)
      .filter((e) => e.data.endpointId === listener.id)
      .map((e) => e.type);
    expect(types).toEqual(['endpoint.created', 'endpoint.disabled', 'endpoint.updated', 'endpoint.enabled']);
  });

  it('filterTypes chooses the events; deleting an application tells of each endpoint', async () => {
    const only = await startReceiver();
    try {
      const op = await svix.operationalWebhookEndpoint.create({
        url: only.url,
        filterTypes: ['endpoint.deleted'],
      });
      const secret = (await svix.operationalWebhookEndpoint.getSecret(op.id)).key;
      const other = (await call('POST', '/app', { name: 'Gone soon' })).json.id as string;
      const a = (await call('POST', `/app/${other}/endpoint`, { url: 'http://127.0.0.1:9/x' })).json
        .id as string;
      const b = (await call('POST', `/app/${other}/endpoint`, { url: 'http://127.0.0.1:9/y' })).json
        .id as string;
      await call('PATCH', `/app/${other}/endpoint/${a}`, { description: 'x' });
      expect((await call('DELETE', `/app/${other}`)).status).toBe(204);
      await eventArrives(only, secret, about(a, 'endpoint.deleted'));
      await eventArrives(only, secret, about(b, 'endpoint.deleted'));
      // The catch-all endpoint heard of the creations and update, this one of nothing else.
      await eventArrives(ops, opsSecret, about(b, 'endpoint.deleted'));
      expect(eventsOf(only, secret).map((e) => e.type)).toEqual(['endpoint.deleted', 'endpoint.deleted']);
      await svix.operationalWebhookEndpoint.delete(op.id);
    } finally {
      await only.close();
    }
  });

  it('a change that is refused or rolls back emits nothing', async () => {
    await call('POST', `/app/${appId}/endpoint`, { url: 'http://127.0.0.1:9/u', uid: 'taken' });
    await eventArrives(
      ops,
      opsSecret,
      (e) => e.type === 'endpoint.created' && e.data.endpointUid === 'taken',
    );
    const before = await opMessageCount();
    // Refused by validation, before any write.
    expect((await call('POST', `/app/${appId}/endpoint`, { url: 'ftp://x' })).status).toBe(422);
    // Refused by the database inside the transaction (uid taken): the insert rolls back.
    expect(
      (await call('POST', `/app/${appId}/endpoint`, { url: 'http://127.0.0.1:9/v', uid: 'taken' })).status,
    ).toBe(409);
    expect(await opMessageCount()).toBe(before);
  });
});

describe('delivery events', () => {
  it('failing after the 4th failed attempt, then recovered on success', async () => {
    let answered = 0;
    const shop = await startReceiver((_req, res) => res.writeHead(++answered <= 4 ? 500 : 200).end());
    try {
      const ep = (
        await call('POST', `/app/${appId}/endpoint`, { url: shop.url, retrySchedule: [1, 1, 1, 1, 1] })
      ).json.id as string;
      const sent = await call('POST', `/app/${appId}/msg`, {
        eventType: 'order.paid',
        eventId: 'o-1',
        payload: {},
      });
      const msgId = sent.json.id as string;
      for (let n = 1; n <= 5; n++) {
        const attempt = waitForEvent<AttemptEvent>(dispatcher, 'attempt', (e) => e.attempt.endpointId === ep);
        if (n > 1) clock.advance(1000);
        await attempt;
        if (n === 4) {
          const failing = await eventArrives(ops, opsSecret, about(ep, 'message.attempt.failing'));
          expect(failing.data).toEqual({
            appId,
            appUid: 'shop',
            endpointId: ep,
            msgId,
            msgEventId: 'o-1',
            lastAttempt: {
              id: expect.stringMatching(/^atmpt_/),
              responseStatusCode: 500,
              timestamp: expect.any(String),
            },
          });
        }
      }
      const recovered = await eventArrives(ops, opsSecret, about(ep, 'message.attempt.recovered'));
      expect(recovered.data).toMatchObject({ msgId, lastAttempt: { responseStatusCode: 200 } });
      expect(
        eventsOf(ops, opsSecret)
          .filter((e) => e.data.endpointId === ep)
          .map((e) => e.type),
      ).toEqual(['endpoint.created', 'message.attempt.failing', 'message.attempt.recovered']);
    } finally {
      await shop.close();
    }
  });

  it('exhausted, then disabled automatically after 5 days of failures, with the reason kept', async () => {
    const shop = await startReceiver((_req, res) => res.writeHead(500).end());
    try {
      const ep = (await call('POST', `/app/${appId}/endpoint`, { url: shop.url, retrySchedule: [] })).json
        .id as string;
      const first = waitForEvent<AttemptEvent>(dispatcher, 'attempt', (e) => e.attempt.endpointId === ep);
      const sent = await call('POST', `/app/${appId}/msg`, { eventType: 'order.paid', payload: {} });
      await first;
      const exhausted = await eventArrives(ops, opsSecret, about(ep, 'message.attempt.exhausted'));
      expect(exhausted.data).toMatchObject({ msgId: sent.json.id, lastAttempt: { responseStatusCode: 500 } });
      const failSince = clock.now();

      clock.advance(5 * DAY);
      const disabledEvent = waitForEvent(
        dispatcher,
        'endpoint.disabled',
        (d: { endpointId: string }) => d.endpointId === ep,
      );
      await call('POST', `/app/${appId}/msg`, { eventType: 'order.paid', payload: {} });
      await disabledEvent;
      const disabled = await eventArrives(ops, opsSecret, about(ep, 'endpoint.disabled'));
      expect(disabled.data).toEqual({
        appId,
        appUid: 'shop',
        endpointId: ep,
        endpointUid: null,
        trigger: 'automatic',
        reason: 'failing',
        failSince: new Date(failSince).toISOString(),
      });
      expect((await call('GET', `/app/${appId}/endpoint/${ep}`)).json).toMatchObject({
        disabled: true,
        disabledReason: 'failing',
        disabledAt: new Date(clock.now()).toISOString(),
      });
      // Enabled again by hand: the reason no longer holds.
      expect((await call('PATCH', `/app/${appId}/endpoint/${ep}`, { disabled: false })).json).toMatchObject({
        disabled: false,
        disabledReason: null,
        disabledAt: null,
      });
    } finally {
      await shop.close();
    }
  });

  it('a 410 disables the endpoint at once, reason gone', async () => {
    const shop = await startReceiver((_req, res) => res.writeHead(410).end());
    try {
      const ep = (await call('POST', `/app/${appId}/endpoint`, { url: shop.url })).json.id as string;
      await call('POST', `/app/${appId}/msg`, { eventType: 'order.paid', payload: {} });
      const disabled = await eventArrives(ops, opsSecret, about(ep, 'endpoint.disabled'));
      expect(disabled.data).toMatchObject({ trigger: 'automatic', reason: 'gone' });
      expect((await call('GET', `/app/${appId}/endpoint/${ep}`)).json).toMatchObject({
        disabled: true,
        disabledReason: 'gone',
      });
    } finally {
      await shop.close();
    }
  });

  it('background_task.finished when a recover ends', async () => {
    const ep = (await call('POST', `/app/${appId}/endpoint`, { url: 'http://127.0.0.1:9/t' })).json
      .id as string;
    const task = await call('POST', `/app/${appId}/endpoint/${ep}/recover`, {
      since: new Date(clock.now() - DAY).toISOString(),
    });
    expect(task.status).toBe(202);
    await api.tasks.idle();
    const finished = await eventArrives(
      ops,
      opsSecret,
      (e) => e.type === 'background_task.finished' && e.data.taskId === task.json.id,
    );
    expect(finished.data).toEqual({
      taskId: task.json.id,
      task: 'endpoint.recover',
      status: 'finished',
      data: expect.any(Object),
    });
  });

  it('an operational endpoint that fails disables itself only with a warn line, and hears nothing of itself', async () => {
    const dead = await startReceiver((_req, res) => res.writeHead(410).end());
    try {
      const op = await svix.operationalWebhookEndpoint.create({
        url: dead.url,
        filterTypes: ['endpoint.created'],
      });
      const disabled = waitForEvent(
        dispatcher,
        'endpoint.disabled',
        (d: { endpointId: string }) => d.endpointId === op.id,
      );
      await call('POST', `/app/${appId}/endpoint`, { url: 'http://127.0.0.1:9/z' });
      await disabled;
      expect((await svix.operationalWebhookEndpoint.get(op.id)).disabled).toBe(true);
      const line = logLines.find(
        (l) => l.endpointId === op.id && l.level === 40 && String(l.msg).includes('operational'),
      );
      expect(line?.msg).toContain('operational webhook endpoint disabled');
      // No event about an operational endpoint reaches any operational endpoint.
      expect(eventsOf(ops, opsSecret).some((e) => e.data.endpointId === op.id)).toBe(false);
    } finally {
      await dead.close();
    }
  });
});

/**
 * The operator's search across every application (`GET /api/v1/search`, a Herald extension)
 * and the message log's `status` filter across endpoints (`GET /app/{app}/msg?status=`):
 * what an operator pastes (a message id, an eventId, the Idempotency-Key a message was created
 * with, an endpoint URL, a URL prefix or a bare host, an application uid) finds what has it,
 * in whichever application; only the admin token may search; the log lists the messages with
 * a failed or a pending delivery to any endpoint, each once, paged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { attemptDue, type ListsFixture, openListsFixture } from './lists-fixture.js';

interface Found {
  applications: { matched: string; application: { id: string; name: string } }[];
  messages: {
    matched: string;
    app: { id: string; name: string };
    message: { id: string; eventId: string | null };
  }[];
  endpoints: { matched: string; app: { id: string; name: string }; endpoint: { id: string; url: string } }[];
  done: boolean;
}

interface Page {
  data: { id: string }[];
  iterator: string | null;
  done: boolean;
}

let f: ListsFixture;
const acme = { id: '', orders: '', refunds: '' };
let globex = '';
/** Acme's messages: one failed to both endpoints, one delivered, one failed, one still pending. */
const msg = { failedTwice: '', delivered: '', failed: '', pending: '', globex: '' };

const search = (q: string, extra = '') => f.get<Found>(`/search?q=${encodeURIComponent(q)}${extra}`);

beforeAll(async () => {
  f = await openListsFixture('search');
  const { svix, store, clock } = f;
  acme.id = (await svix.application.create({ name: 'Acme Shop', uid: 'acme' })).id;
  globex = (await svix.application.create({ name: 'Globex', uid: 'globex' })).id;
  acme.orders = (await svix.endpoint.create(acme.id, { url: 'https://hooks.acme.example/orders' })).id;
  acme.refunds = (await svix.endpoint.create(acme.id, { url: 'https://hooks.acme.example/refunds' })).id;
  await svix.endpoint.create(globex, { url: 'https://globex.example/hook' });
  const send = async (app: string, eventId: string, idempotencyKey?: string) => {
    clock.advance(1000);
    const m = await svix.message.create(
      app,
      { eventType: 'order.created', eventId, payload: { eventId } },
      idempotencyKey ? { idempotencyKey } : {},
    );
    return m.id;
  };
  msg.failedTwice = await send(acme.id, 'order-1', 'checkout-7f3a');
  msg.delivered = await send(acme.id, 'order-2');
  msg.failed = await send(acme.id, 'order-3');
  msg.pending = await send(acme.id, 'order-4');
  // Another application may use the same eventId.
  msg.globex = await send(globex, 'order-1');
  const of =
    (...ids: string[]) =>
    (d: { msgId: string }) =>
      ids.includes(d.msgId);
  await attemptDue(store, clock, { succeeded: false, statusCode: 503 }, of(msg.failedTwice));
  await attemptDue(store, clock, { succeeded: true, statusCode: 200 }, of(msg.delivered, msg.globex));
  await attemptDue(
    store,
    clock,
    { succeeded: false, statusCode: 500 },
    (d) => d.msgId === msg.failed && d.endpointId === acme.refunds,
  );
  await attemptDue(
    store,
    clock,
    { succeeded: true, statusCode: 200 },
    (d) => d.msgId === msg.failed && d.endpointId === acme.orders,
  );
});
afterAll(async () => {
  await f?.close();
});

describe('GET /search', () => {
  it('finds a message by its id, in whichever application, with that application named', async () => {
    const { body } = await search(msg.failed);
    expect(body.messages.map((m) => [m.matched, m.message.id, m.app.name])).toEqual([
      ['id', msg.failed, 'Acme Shop'],
    ]);
  });

  it('finds every message with an eventId, across applications', async () => {
    const { body } = await search('order-1');
    expect(body.messages.map((m) => [m.matched, m.message.id, m.app.name]).sort()).toEqual(
      [
        ['eventId', msg.failedTwice, 'Acme Shop'],
        ['eventId', msg.globex, 'Globex'],
      ].sort(),
    );
  });

  it('finds a message by the Idempotency-Key it was created with, sent again or not', async () => {
    // The same request again is answered from the idempotency record: no second message.
    const again = await f.svix.message.create(
      acme.id,
      { eventType: 'order.created', eventId: 'order-1', payload: { eventId: 'order-1' } },
      { idempotencyKey: 'checkout-7f3a' },
    );
    expect(again.id).toBe(msg.failedTwice);
    const { body } = await search('checkout-7f3a');
    expect(body.messages.map((m) => [m.matched, m.message.id, m.message.eventId])).toEqual([
      ['idempotencyKey', msg.failedTwice, 'order-1'],
    ]);
  });

  it('keeps the Idempotency-Key an application token created a message with', async () => {
    await f.store.saveToken(hashToken('acme-app-token'), acme.id);
    const res = await fetch(`${f.url}/api/v1/app/${acme.id}/msg`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer acme-app-token',
        'content-type': 'application/json',
        'idempotency-key': 'from-the-shop-42',
      },
      body: JSON.stringify({ eventType: 'order.created', payload: {} }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const { body } = await search('from-the-shop-42');
    expect(body.messages.map((m) => [m.matched, m.message.id, m.app.id])).toEqual([
      ['idempotencyKey', id, acme.id],
    ]);
  });

  it('finds endpoints by exact URL, by a URL prefix, and by a bare host', async () => {
    const exact = (await search('https://hooks.acme.example/orders')).body;
    expect(exact.endpoints.map((e) => [e.matched, e.endpoint.id, e.app.name])).toEqual([
      ['url', acme.orders, 'Acme Shop'],
    ]);
    const prefix = (await search('https://hooks.acme.example/')).body;
    expect(prefix.endpoints.map((e) => [e.matched, e.endpoint.url])).toEqual([
      ['urlPrefix', 'https://hooks.acme.example/orders'],
      ['urlPrefix', 'https://hooks.acme.example/refunds'],
    ]);
    const host = (await search('hooks.acme.example')).body;
    expect(host.endpoints.map((e) => e.endpoint.id)).toEqual([acme.orders, acme.refunds]);
    const bare = (await search('globex.example/hook')).body;
    expect(bare.endpoints.map((e) => [e.matched, e.app.name])).toEqual([['url', 'Globex']]);
    const byId = (await search(acme.refunds)).body;
    expect(byId.endpoints.map((e) => [e.matched, e.endpoint.url])).toEqual([
      ['id', 'https://hooks.acme.example/refunds'],
    ]);
  });

  it('finds an application by uid, and nothing for what nothing has', async () => {
    const { body } = await search('globex');
    expect(body.applications.map((a) => [a.matched, a.application.id])).toEqual([['uid', globex]]);
    const none = (await search('umbrella')).body;
    expect(none).toEqual({ applications: [], messages: [], endpoints: [], done: true });
  });

  it('answers at most `limit` of a kind, and says there may be more', async () => {
    const one = (await search('order-1', '&limit=1')).body;
    expect(one.messages).toHaveLength(1);
    expect(one.done).toBe(false);
    const urls = (await search('https://', '&limit=2')).body;
    expect(urls.endpoints).toHaveLength(2);
    expect(urls.done).toBe(false);
    expect((await search('order-1', '&limit=2')).body.done).toBe(true);
  });

  it('refuses a bad query with 422 naming the parameter', async () => {
    for (const [query, field] of [
      ['q=order-1&limit=0', 'limit'],
      ['q=order-1&limit=101', 'limit'],
      ['q=', 'q'],
      ['limit=5', 'q'],
    ] as const) {
      const res = await f.get<{ detail: { loc: string[] }[] }>(`/search?${query}`);
      expect(res.status, query).toBe(422);
      expect(res.body.detail[0]?.loc, query).toEqual(['query', field]);
    }
  });

  it('answers an application token 403 and a wrong token 401, with no data', async () => {
    await f.store.saveToken(hashToken('acme-reader'), acme.id);
    for (const [token, status] of [
      ['acme-reader', 403],
      ['not-a-token', 401],
    ] as const) {
      const res = await fetch(`${f.url}/api/v1/search?q=order-1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(status);
      expect(await res.text()).not.toContain('order-1');
    }
  });
});

describe('GET /app/{app_id}/msg?status=', () => {
  const list = (query: string) => f.get<Page>(`/app/${acme.id}/msg?${query}`);

  it('lists the messages with a failed delivery to any endpoint, each once, newest first', async () => {
    const { body } = await list('status=2');
    expect(body.data.map((m) => m.id)).toEqual([msg.failed, msg.failedTwice]);
  });

  it('lists the messages with a delivery still pending', async () => {
    const { body } = await list('status=1');
    expect(body.data.map((m) => m.id)).toContain(msg.pending);
    expect(body.data.map((m) => m.id)).not.toContain(msg.delivered);
    expect(body.data.map((m) => m.id)).not.toContain(msg.failed);
  });

  it('pages through them, and combines with the other filters', async () => {
    const first = await list('status=2&limit=1');
    expect(first.body.data.map((m) => m.id)).toEqual([msg.failed]);
    expect(first.body.done).toBe(false);
    const second = await list(`status=2&limit=1&iterator=${first.body.iterator}`);
    expect(second.body.data.map((m) => m.id)).toEqual([msg.failedTwice]);
    expect(second.body.done).toBe(true);
    expect((await list('status=2&event_types=order.paid')).body.data).toEqual([]);
    expect((await list('status=2&event_types=order.created')).body.data).toHaveLength(2);
  });

  it('refuses 0 (success) and 3 (sending), which only one endpoint lists, with 422 naming status', async () => {
    for (const status of ['0', '3', '9']) {
      const res = await f.get<{ detail: { loc: string[]; msg: string }[] }>(
        `/app/${acme.id}/msg?status=${status}`,
      );
      expect(res.status).toBe(422);
      expect(res.body.detail[0]?.loc).toEqual(['query', 'status']);
    }
    const ok = await f.get<Page>(`/app/${acme.id}/endpoint/${acme.orders}/msg?status=0`);
    expect(ok.body.data.map((m) => m.id)).toContain(msg.failed);
  });
});

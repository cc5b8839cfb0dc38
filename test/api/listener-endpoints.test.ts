/**
 * A listener endpoint (`herald listen`) and the endpoint features that change what is sent:
 * its payload filter is applied at fan-out as for any endpoint (a refused message makes no
 * delivery for the listener), and a transformation is refused with 422 (the listener stream
 * hands the stored webhook to the client unchanged and runs none), not stored and ignored.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'listener-endpoints-admin';
const CODE = 'function handler(webhook) { return webhook; }';
let t: TestStore;
let store: Store;
let api: FastifyInstance;

beforeAll(async () => {
  t = await openTestStore('listener_endpoints');
  store = t.store;
  await store.saveToken(hashToken(ADMIN), null);
  await store.createApplication({ name: 'Shop', uid: 'shop' });
  api = await buildApi({ store });
});
afterAll(async () => {
  await api.close();
  await t.close();
});

const call = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: unknown) => {
  const r = await api.inject({
    method,
    url: `/api/v1${url}`,
    headers: { authorization: `Bearer ${ADMIN}` },
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
  return { status: r.statusCode, body: r.body ? r.json() : null };
};

async function listener(name: string): Promise<string> {
  const opened = await call('PUT', `/app/shop/listener/${name}`, {});
  expect(opened.status).toBe(200);
  return opened.body.endpointId;
}

describe('listener endpoints', () => {
  it('refuse a transformation with 422 naming the field; removing or disabling one is fine', async () => {
    const id = await listener('no-transform');
    const path = `/app/shop/endpoint/${id}/transformation`;
    const withCode = await call('PATCH', path, { code: CODE, enabled: true });
    expect(withCode.status).toBe(422);
    expect(JSON.stringify(withCode.body)).toContain('code');
    expect(JSON.stringify(withCode.body)).toContain('takes no transformation');
    const enabling = await call('PATCH', path, { enabled: true });
    expect(enabling.status).toBe(422);
    expect(JSON.stringify(enabling.body)).toContain('enabled');
    expect((await call('PATCH', path, { code: null })).status).toBe(204);
    expect((await call('PATCH', path, { enabled: false })).status).toBe(204);
    expect((await call('GET', path)).body).toMatchObject({ code: null, enabled: false });

    // An ordinary endpoint takes the same transformation.
    const plain = await call('POST', '/app/shop/endpoint', { url: 'https://example.com/hook' });
    expect(
      (
        await call('PATCH', `/app/shop/endpoint/${plain.body.id}/transformation`, {
          code: CODE,
          enabled: true,
        })
      ).status,
    ).toBe(204);
  });

  it("apply the endpoint's payload filter at fan-out: a refused message makes no delivery for the listener", async () => {
    const id = await listener('filtered');
    const patched = await call('PATCH', `/app/shop/endpoint/${id}`, {
      filter: { 'payload.amount': { $gt: 100 } },
    });
    expect(patched.status).toBe(200);
    const big = await call('POST', '/app/shop/msg', { eventType: 'order.paid', payload: { amount: 500 } });
    const small = await call('POST', '/app/shop/msg', { eventType: 'order.paid', payload: { amount: 5 } });
    expect([big.status, small.status]).toEqual([202, 202]);
    expect(await store.getDelivery(big.body.id, id)).toMatchObject({ endpointId: id });
    expect(await store.getDelivery(small.body.id, id)).toBeNull();
  });
});

/**
 * Endpoint details as Svix has them, through the official `svix` SDK (raw HTTP where the SDK
 * has no field): `eventTypes`, the OpenAPI document's name of `filterTypes`, filters what the
 * endpoint receives; `GET …/stats` counts the deliveries of a `since`/`until` window; and
 * `GET …/headers` lists sensitive headers by name in `sensitive`, without their values.
 */
import type { FastifyInstance } from 'fastify';
import { Svix } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, type TestStore } from '../store-under-test.js';
import { failure } from './svix-calls.js';

const ADMIN = 'endpoint-parity-admin';
const clock = new ManualClock(Date.now());
let testStore: TestStore;
let store: Store;
let api: FastifyInstance;
let svix: Svix;
let url: string;

beforeAll(async () => {
  testStore = await openTestStore('endpoint-parity', { clock });
  store = testStore.store;
  await store.saveToken(hashToken(ADMIN), null);
  api = await buildApi({ store, clock });
  url = await api.listen({ port: 0, host: '127.0.0.1' });
  svix = new Svix(ADMIN, { serverUrl: url });
});

afterAll(async () => {
  await api.close();
  await testStore.close();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

describe('eventTypes, the OpenAPI name of filterTypes', () => {
  it('subscribes the endpoint to those event types only, on create, update and patch', async () => {
    const app = await svix.application.create({ name: 'Alias' });
    const created = await call('POST', `/app/${app.id}/endpoint`, {
      url: 'http://127.0.0.1:9/hook',
      eventTypes: ['order.paid'],
    });
    expect(created.status).toBe(201);
    const ep = created.body as { id: string };
    expect((await svix.endpoint.get(app.id, ep.id)).filterTypes).toEqual(['order.paid']);

    const paid = await svix.message.create(app.id, { eventType: 'order.paid', payload: {} });
    const shipped = await svix.message.create(app.id, { eventType: 'order.shipped', payload: {} });
    expect(await store.getDelivery(paid.id, ep.id)).not.toBeNull();
    expect(await store.getDelivery(shipped.id, ep.id)).toBeNull();

    const patched = await call('PATCH', `/app/${app.id}/endpoint/${ep.id}`, {
      eventTypes: ['order.shipped'],
    });
    expect(patched.body.filterTypes).toEqual(['order.shipped']);
    const put = await call('PUT', `/app/${app.id}/endpoint/${ep.id}`, {
      url: 'http://127.0.0.1:9/hook',
      eventTypes: ['a.b', 'c.d'],
      filterTypes: ['c.d', 'a.b'],
    });
    expect(put.status).toBe(200);
    expect(put.body.filterTypes).toEqual(['a.b', 'c.d']);
    const cleared = await call('PATCH', `/app/${app.id}/endpoint/${ep.id}`, { eventTypes: null });
    expect(cleared.body.filterTypes).toBeNull();
  });

  it('refuses eventTypes and filterTypes that differ, with 422 naming eventTypes', async () => {
    const app = await svix.application.create({ name: 'Both' });
    const before = await testStore.snapshot(['endpoints']);
    const res = await call('POST', `/app/${app.id}/endpoint`, {
      url: 'http://127.0.0.1:9/hook',
      eventTypes: ['a.b'],
      filterTypes: ['c.d'],
    });
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['body', 'eventTypes']);
    const bad = await call('POST', `/app/${app.id}/endpoint`, {
      url: 'http://127.0.0.1:9/x',
      eventTypes: ['no space'],
    });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0].loc).toEqual(['body', 'eventTypes', '0']);
    expect(await testStore.snapshot(['endpoints'])).toBe(before);
  });
});

describe('GET …/stats', () => {
  it('counts every delivery without a window, and those created in [since, until) with one', async () => {
    const app = await svix.application.create({ name: 'Stats' });
    const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/stats' });
    const times: Date[] = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(60_000);
      times.push(new Date(clock.now()));
      await svix.message.create(app.id, { eventType: 'order.paid', payload: { i } });
    }
    expect(await svix.endpoint.getStats(app.id, ep.id)).toEqual({
      success: 0,
      pending: 4,
      sending: 0,
      fail: 0,
      canceled: 0,
    });
    expect(
      (await svix.endpoint.getStats(app.id, ep.id, { since: times[1]!, until: times[3]! })).pending,
    ).toBe(2);
    expect((await svix.endpoint.getStats(app.id, ep.id, { since: times[2]! })).pending).toBe(2);
    expect((await svix.endpoint.getStats(app.id, ep.id, { until: times[1]! })).pending).toBe(1);
  });

  it('refuses a bad window with 422 naming the query parameter', async () => {
    const app = await svix.application.create({ name: 'Stats bad' });
    const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/stats' });
    for (const [query, loc] of [
      ['since=yesterday', 'since'],
      ['until=2026-13-01T00:00:00Z', 'until'],
      ['since=2026-02-02T00:00:00Z&until=2026-02-01T00:00:00Z', 'until'],
    ] as const) {
      const res = await call('GET', `/app/${app.id}/endpoint/${ep.id}/stats?${query}`);
      expect(res.status, query).toBe(422);
      expect(res.body.detail[0].loc, query).toEqual(['query', loc]);
    }
  });
});

describe('GET …/headers', () => {
  it('returns plain headers with their values and sensitive ones by name only', async () => {
    const app = await svix.application.create({ name: 'Headers' });
    const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/h' });
    await svix.endpoint.updateHeaders(app.id, ep.id, {
      headers: { 'X-Plain': 'visible', Authorization: 'Bearer s3cret', 'X-Api-Key': 'k3y' },
    });
    const out = await svix.endpoint.getHeaders(app.id, ep.id);
    expect(out.headers).toEqual({ 'X-Plain': 'visible' });
    expect(out.sensitive.sort()).toEqual(['Authorization', 'X-Api-Key']);
    expect(JSON.stringify(out)).not.toContain('s3cret');
    // The SDK types a PATCH's values as strings; Svix's document lets null remove one.
    await svix.endpoint.patchHeaders(app.id, ep.id, { headers: { 'X-Plain': null as unknown as string } });
    expect(await svix.endpoint.getHeaders(app.id, ep.id)).toMatchObject({ headers: {} });
    expect((await failure(svix.endpoint.getHeaders(app.id, 'ep_unknown'))).code).toBe(404);
  });
});

/**
 * `GET /api/v1/failures` on a real server on 127.0.0.1, on the store under test with a manual
 * clock: groups per endpoint and cause or per host, their endpoints' URL, application and
 * deliveries failed now, pages by iterator; an application token is refused, and a bad
 * parameter is a 422 naming it.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { attemptOf } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'failures-admin';
const APP_TOKEN = 'failures-app';
const START = Date.UTC(2026, 11, 4, 9, 30, 0);

let clock: ManualClock;
let testStore: TestStore;
let api: FastifyInstance;
let url: string;
let appId: string;
const endpoints: string[] = [];

interface Group {
  key: string;
  cause: string;
  host: string;
  attempts: number;
  firstSeen: string;
  lastSeen: string;
  lastStatusCode: number | null;
  failedNow: number;
  failedNowCapped: boolean;
  failing: boolean;
  endpointCount: number;
  endpoints: { id: string; appId: string; appName: string; url: string; failedNow: number }[];
}
interface Failures {
  data: Group[];
  iterator: string | null;
  done: boolean;
}

const get = (path: string, token = ADMIN) =>
  fetch(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  clock = new ManualClock(START);
  testStore = await openTestStore('failures-api', { clock });
  const { store } = testStore;
  await store.saveToken(hashToken(ADMIN), null);
  appId = (await store.createApplication({ name: 'Shop', uid: 'shop' })).id;
  await store.saveToken(hashToken(APP_TOKEN), appId);
  const urls = new Map<string, string>();
  for (const path of ['orders', 'refunds']) {
    const ep = await store.createEndpoint(appId, { url: `https://down.example/${path}` });
    endpoints.push(ep.id);
    urls.set(ep.id, ep.url);
  }
  for (let i = 0; i < 3; i++)
    await store.acceptMessage({ appId, eventType: 'order.paid', payload: `{"n":${i}}` });
  // Every delivery answered 502 and failed for good: three failed now on each endpoint.
  const now = clock.now();
  const claimed = await store.claimDue({ owner: 'w', now, leaseMs: 60_000, limit: 100, skipEndpoints: [] });
  await store.complete(
    claimed.map((d) => ({
      owner: 'w',
      deliveryId: d.id,
      endpointId: d.endpointId,
      attempt: { ...attemptOf(d, false, now, urls.get(d.endpointId)), statusCode: 502 },
      next: { status: 'failed' as const, exhausted: true },
      disableEndpoint: false,
    })),
    now,
    5 * 86_400_000,
  );
  clock.advance(60_000);
  api = await buildApi({ store, clock });
  url = await api.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await api?.close();
  await testStore?.close();
});

describe('GET /api/v1/failures', () => {
  it('lists a group per endpoint and cause, with what recover would send again', async () => {
    const res = await get('/failures');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Failures;
    expect(body.done).toBe(true);
    expect(body.data.map((g) => g.endpoints[0]!.url).sort()).toEqual([
      'https://down.example/orders',
      'https://down.example/refunds',
    ]);
    for (const g of body.data)
      expect(g).toMatchObject({
        cause: 'http_5xx',
        host: 'down.example',
        attempts: 3,
        firstSeen: new Date(START).toISOString(),
        lastSeen: new Date(START).toISOString(),
        lastStatusCode: 502,
        failedNow: 3,
        failing: true,
        endpointCount: 1,
        endpoints: [expect.objectContaining({ appId, appName: 'Shop', failedNow: 3 })],
      });
  });

  it('groups by host, filters by application uid, and pages by iterator', async () => {
    const host = (await (await get('/failures?group_by=host&app_id=shop')).json()) as Failures;
    expect(host.data).toHaveLength(1);
    expect(host.data[0]).toMatchObject({
      key: 'down.example http_5xx',
      attempts: 6,
      failedNow: 6,
      endpointCount: 2,
    });
    expect(host.data[0]!.endpoints.map((e) => e.id).sort()).toEqual([...endpoints].sort());

    const first = (await (await get('/failures?limit=1')).json()) as Failures;
    expect([first.data.length, first.done]).toEqual([1, false]);
    const second = (await (await get(`/failures?limit=1&iterator=${first.iterator}`)).json()) as Failures;
    expect([second.data.length, second.done, second.iterator]).toEqual([1, true, null]);
    expect(second.data[0]!.key).not.toBe(first.data[0]!.key);

    const later = (await (
      await get(`/failures?since=${new Date(START + 1).toISOString()}`)
    ).json()) as Failures;
    expect(later.data).toEqual([]);

    // One endpoint's or one host's group, counted exactly: what a confirmation asks.
    const one = (await (
      await get(`/failures?endpoint_id=${endpoints[1]}&exact_counts=true`)
    ).json()) as Failures;
    expect(one.data.map((g) => [g.key, g.failedNow, g.failedNowCapped])).toEqual([
      [`${endpoints[1]} http_5xx`, 3, false],
    ]);
    const byHost = (await (
      await get('/failures?group_by=host&host=DOWN.example&exact_counts=true')
    ).json()) as Failures;
    expect(byHost.data.map((g) => [g.key, g.failedNow])).toEqual([['down.example http_5xx', 6]]);
    expect(((await (await get('/failures?host=up.example')).json()) as Failures).data).toEqual([]);
  });

  it('is for the admin token only, and names a bad parameter', async () => {
    expect((await get('/failures', APP_TOKEN)).status).toBe(403);
    for (const [query, field] of [
      ['group_by=app', 'group_by'],
      ['since=yesterday', 'since'],
      ['limit=0', 'limit'],
      ['iterator=bm90LWFuLWl0ZXJhdG9y', 'iterator'],
      ['colour=red', 'colour'],
      ['exact_counts=yes', 'exact_counts'],
    ] as const) {
      const res = await get(`/failures?${query}`);
      expect(res.status, query).toBe(422);
      const { detail } = (await res.json()) as { detail: { loc: string[] }[] };
      expect(detail[0]!.loc, query).toEqual(['query', field]);
    }
    expect((await get('/failures?app_id=nobody')).status).toBe(404);
  });
});

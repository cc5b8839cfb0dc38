/**
 * An endpoint's own retry schedule and timeout (Herald's `retrySchedule` and `timeout`, in
 * seconds) are set through the API and are what the dispatcher uses; values outside the
 * README's limits (up to 20 delays of 1 s to 7 days; 1 to 30 s) are refused with 422 and
 * change nothing. The API and a dispatcher share one store and a manual clock.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { DEFAULT_RETRY_SCHEDULE_MS } from '../../src/core/retry.js';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import type { Store } from '../../src/store/store.js';
import { receiversClosedAfterEach, waitForEvent } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const TOKEN = 'settings-admin';
const receiver = receiversClosedAfterEach();
const clock = new ManualClock(Date.now());
let testStore: TestStore;
let store: Store;
let api: FastifyInstance;
let dispatcher: Dispatcher;
let appId: string;

beforeAll(async () => {
  testStore = await openTestStore('settings', { clock });
  store = testStore.store;
  await store.saveToken(hashToken(TOKEN), null);
  appId = (await store.createApplication({ name: 'Settings' })).id;
  api = await buildApi({ store });
  // random 0.5: no jitter, so each retry is due exactly its scheduled delay after the last.
  dispatcher = new Dispatcher({ store, clock, allowNetworks: ['127.0.0.0/8'], random: () => 0.5 }).start();
});

afterAll(async () => {
  await dispatcher.stop();
  await api.close();
  await testStore.close();
});

async function call(method: 'GET' | 'POST' | 'PUT' | 'PATCH', path: string, body?: unknown) {
  const res = await api.inject({
    method,
    url: `/api/v1/app/${appId}${path}`,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, json: res.json() };
}

async function send(endpointId: string) {
  const first = waitForEvent<AttemptEvent>(dispatcher, 'attempt', (e) => e.attempt.endpointId === endpointId);
  const sent = await call('POST', '/msg', { eventType: 'a.b', payload: { n: 1 } });
  expect(sent.status).toBe(202);
  return { msgId: sent.json.id as string, first: await first };
}

describe("an endpoint's retry schedule and timeout, through the API", () => {
  it("the dispatcher retries on the endpoint's schedule, then gives up", async () => {
    const r = await receiver((_req, res) => res.writeHead(500).end());
    const created = await call('POST', '/endpoint', { url: r.url, retrySchedule: [10, 3600] });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ retrySchedule: [10, 3600], timeout: null });
    const ep = created.json.id as string;

    const { msgId, first } = await send(ep);
    // Due at the endpoint's 10 s, not the server's first delay.
    expect(DEFAULT_RETRY_SCHEDULE_MS[0]).not.toBe(10_000);
    expect(first.next).toEqual({ status: 'pending', dueAt: first.attempt.createdAt + 10_000 });
    const gaps: number[] = [];
    let last = first;
    for (const delay of [10_000, 3_600_000]) {
      const next = waitForEvent<AttemptEvent>(dispatcher, 'attempt', (e) => e.attempt.endpointId === ep);
      clock.advance(delay);
      const event = await next;
      gaps.push(event.attempt.createdAt - last.attempt.createdAt);
      last = event;
    }
    expect(gaps).toEqual([10_000, 3_600_000]);
    expect(last.next).toEqual({ status: 'failed', exhausted: true });
    expect((await store.getDelivery(msgId, ep))!).toMatchObject({ status: 'failed', attempts: 3 });
    expect(r.received).toHaveLength(3);
  });

  it("an empty schedule sends once; the endpoint's timeout ends an attempt that gets no answer", async () => {
    // Takes the request and never answers.
    const r = await receiver(() => undefined);
    const created = await call('POST', '/endpoint', { url: r.url, retrySchedule: [], timeout: 1 });
    expect(created.json).toMatchObject({ retrySchedule: [], timeout: 1 });
    const { first } = await send(created.json.id);
    expect(first.attempt).toMatchObject({
      succeeded: false,
      errorKind: 'timeout',
      errorMessage: 'no complete response within 1000 ms',
    });
    expect(first.next).toEqual({ status: 'failed', exhausted: true });
  });

  it("PATCH changes only what it names; PUT resets what it leaves out to the server's", async () => {
    const created = await call('POST', '/endpoint', {
      url: 'http://127.0.0.1:9/settings',
      retrySchedule: [1],
      timeout: 5,
    });
    const ep = created.json.id as string;
    expect((await call('PATCH', `/endpoint/${ep}`, { timeout: 30 })).json).toMatchObject({
      retrySchedule: [1],
      timeout: 30,
    });
    expect((await call('GET', `/endpoint/${ep}`)).json).toMatchObject({ retrySchedule: [1], timeout: 30 });
    expect((await store.getEndpoint(appId, ep))!).toMatchObject({
      retrySchedule: [1_000],
      timeoutMs: 30_000,
    });
    const put = await call('PUT', `/endpoint/${ep}`, { url: 'http://127.0.0.1:9/settings' });
    expect(put.json).toMatchObject({ retrySchedule: null, timeout: null });
    expect((await store.getEndpoint(appId, ep))!).toMatchObject({ retrySchedule: null, timeoutMs: null });
    const back = await call('PATCH', `/endpoint/${ep}`, {
      retrySchedule: Array(20).fill(604_800),
      timeout: 1,
    });
    expect(back.status).toBe(200);
    expect(back.json.retrySchedule).toHaveLength(20);
    expect(
      (await call('PATCH', `/endpoint/${ep}`, { retrySchedule: null, timeout: null })).json,
    ).toMatchObject({ retrySchedule: null, timeout: null });
  });

  it.each([
    ['timeout', 0, 'must be >= 1'],
    ['timeout', 31, 'must be <= 30'],
    ['timeout', 1.5, 'must be integer'],
    ['timeout', '5', 'must be integer'],
    ['timeout', 15_000, 'must be <= 30'],
    ['retrySchedule', Array(21).fill(1), 'must NOT have more than 20 items'],
    ['retrySchedule', [0], 'must be >= 1'],
    ['retrySchedule', [5, 604_801], 'must be <= 604800'],
    ['retrySchedule', [2.5], 'must be integer'],
    ['retrySchedule', 5, 'must be array'],
    ['retrySchedule', [null], 'must be integer'],
  ])(
    '%s: %j is refused with 422 naming it, on create, PUT and PATCH, and changes nothing',
    async (field, value, says) => {
      const before = await call('GET', '/endpoint?limit=250');
      const ep = (before.json.data as { id: string }[])[0]?.id;
      const bodies: ['POST' | 'PUT' | 'PATCH', string, object][] = [
        ['POST', '/endpoint', { url: 'http://127.0.0.1:9/new' }],
        ['PUT', `/endpoint/${ep}`, { url: 'http://127.0.0.1:9/new' }],
        ['PATCH', `/endpoint/${ep}`, {}],
      ];
      for (const [method, path, body] of bodies) {
        const res = await call(method, path, { ...body, [field]: value });
        expect(res.status, `${method} ${JSON.stringify(res.json)}`).toBe(422);
        const [issue] = res.json.detail as { loc: string[]; msg: string }[];
        expect(issue!.loc.slice(0, 2)).toEqual(['body', field]);
        expect(issue!.msg).toContain(says);
      }
      expect((await call('GET', '/endpoint?limit=250')).json).toEqual(before.json);
    },
  );
});

/**
 * `GET /api/v1/stats/activity` on a real server on 127.0.0.1, on the store under test with a
 * manual clock: messages sent through the API show in their minute, the queue's snapshot
 * (taken by the API's minute round) in its bucket, the queue now beside them; the day by
 * hour; an application token is refused, and a bad or unknown parameter is a 422 naming it.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivitySnapshots } from '../../src/api/activity-snapshots.js';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'activity-admin';
const APP_TOKEN = 'activity-app';
/** 20 s into a minute. */
const START = Date.UTC(2026, 11, 3, 9, 41, 20);

let clock: ManualClock;
let testStore: TestStore;
let api: FastifyInstance;
let url: string;
let appId: string;

/** The parts of the answer these tests read. */
interface Activity {
  window: string;
  bucketSeconds: number;
  until: string;
  now: Record<string, number | string>;
  data: ({ start: string; accepted: number } & Record<string, number | string | null>)[];
}
interface Refusal {
  detail: { loc: string[]; msg: string }[];
}

const get = (path: string, token = ADMIN) =>
  fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  clock = new ManualClock(START);
  testStore = await openTestStore('activity-api', { clock });
  const { store } = testStore;
  await store.saveToken(hashToken(ADMIN), null);
  appId = (await store.createApplication({ name: 'shop' })).id;
  await store.saveToken(hashToken(APP_TOKEN), appId);
  // A receiver nobody runs: the deliveries wait, which is the queue the overview shows.
  await store.createEndpoint(appId, { url: 'https://receiver.invalid/hook' });
  api = await buildApi({ store, clock });
  url = await api.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await api?.close();
  await testStore?.close();
});

async function send(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/api/v1/app/${appId}/msg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ eventType: 'order.paid', payload: { n: i } }),
    });
    expect(res.status).toBe(202);
  }
}

describe('GET /api/v1/stats/activity', () => {
  it('charts the last hour by minute: messages in their minute, the snapshot in its own, the queue now', async () => {
    await send(3);
    clock.advance(60_000);
    await send(2);
    clock.advance(15_000);
    const round = new ActivitySnapshots({ store: testStore.store, clock });
    await round.tick();

    const res = await get('/api/v1/stats/activity');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Activity;
    expect(body).toMatchObject({ window: 'hour', bucketSeconds: 60 });
    expect(body.data).toHaveLength(60);
    expect(body.until).toBe(new Date(Date.UTC(2026, 11, 3, 9, 43)).toISOString());
    const last = body.data.at(-1);
    const before = body.data.at(-2);
    expect(before).toMatchObject({ start: '2026-12-03T09:41:00.000Z', accepted: 3, pending: null });
    // The snapshot of 09:42:35: five deliveries waiting, the oldest due since 09:41:20.
    expect(last).toMatchObject({
      start: '2026-12-03T09:42:00.000Z',
      accepted: 2,
      succeeded: 0,
      failed: 0,
      pending: 5,
      oldestDueSeconds: 75,
      failingEndpoints: 0,
    });
    expect(body.now).toMatchObject({ pending: 5, sending: 0, oldestDueSeconds: 75, failingEndpoints: 0 });
    await round[Symbol.asyncDispose]();
  });

  it('sums the last day by hour', async () => {
    const res = await get('/api/v1/stats/activity?window=day');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Activity;
    expect(body).toMatchObject({ window: 'day', bucketSeconds: 3600, until: '2026-12-03T10:00:00.000Z' });
    expect(body.data).toHaveLength(24);
    expect(body.data.at(-1)).toMatchObject({ start: '2026-12-03T09:00:00.000Z', accepted: 5, pending: 5 });
    expect(body.data.slice(0, -1).every((b) => b.accepted === 0)).toBe(true);
  });

  it('refuses a bad window and an unknown parameter with 422 naming them', async () => {
    const bad = await get('/api/v1/stats/activity?window=week');
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as Refusal).detail.map((d) => d.loc)).toContainEqual(['query', 'window']);
    const unknown = await get('/api/v1/stats/activity?since=2026-12-01T00:00:00Z');
    expect(unknown.status).toBe(422);
    expect(JSON.stringify(((await unknown.json()) as Refusal).detail)).toContain('since');
  });

  it('is for the admin token only', async () => {
    expect((await get('/api/v1/stats/activity', APP_TOKEN)).status).toBe(403);
    expect((await fetch(`${url}/api/v1/stats/activity`)).status).toBe(401);
  });
});

/**
 * The failure groups behind the dashboard's Failures page, on the store under test: failed
 * attempts counted per endpoint and cause in the completions' own transactions, grouped by
 * host across endpoints and applications, which groups are still failing (a success after
 * the last failure, deliveries failed now), filters and pages, and the prune of old groups.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { OPERATIONAL_APP_ID } from '../../src/core/operational.js';
import type { Attempt } from '../../src/core/types.js';
import type { FailureQuery } from '../../src/store/failures.js';
import type { ClaimedDelivery, Completion, Store } from '../../src/store/store.js';
import { attemptOf } from '../helpers.js';
import { db, openTestStore, type TestStore } from '../store-under-test.js';

const T0 = Date.UTC(2026, 11, 4, 9, 0, 0);
const query = (q: Partial<FailureQuery> = {}): FailureQuery => ({
  groupBy: 'endpoint',
  failedSince: T0 - 86_400_000,
  limit: 50,
  ...q,
});

let clock: ManualClock;
let t: TestStore;
let store: Store;
let shop: string;
let bank: string;
/** Endpoints by name: a1, a2, up of the shop; b1 of the bank. a1, a2 and b1 share a host. */
const ep: Record<string, string> = {};

/** What an endpoint's attempt does this round: succeed, fail with a status, or time out; retried or failed for good. */
type Outcome = { ok: true } | { status: number | 'timeout'; final: boolean };

async function round(outcomes: Record<string, Outcome>): Promise<void> {
  const now = clock.now();
  const claimed = await store.claimDue({ owner: 'w', now, leaseMs: 60_000, limit: 500, skipEndpoints: [] });
  const name = (d: ClaimedDelivery) => Object.keys(ep).find((k) => ep[k] === d.endpointId)!;
  const completions = claimed.map((d): Completion => {
    const o = outcomes[name(d)]!;
    const attempt: Attempt = attemptOf(
      d,
      'ok' in o,
      now,
      `https://${name(d) === 'up' ? 'up' : 'down'}.example/${name(d)}`,
    );
    if (!('ok' in o)) {
      attempt.statusCode = o.status === 'timeout' ? null : o.status;
      if (o.status === 'timeout') attempt.errorKind = 'timeout';
    }
    const next =
      'ok' in o
        ? { status: 'succeeded' as const }
        : o.final
          ? { status: 'failed' as const, exhausted: true }
          : { status: 'pending' as const, dueAt: now + 60_000 };
    return { owner: 'w', deliveryId: d.id, endpointId: d.endpointId, attempt, next, disableEndpoint: false };
  });
  await store.complete(completions, now, 5 * 86_400_000);
}

beforeEach(async () => {
  clock = new ManualClock(T0);
  t = await openTestStore('failures', { clock });
  store = t.store;
  shop = (await store.createApplication({ name: 'Shop' })).id;
  bank = (await store.createApplication({ name: 'Bank' })).id;
  for (const n of ['a1', 'a2', 'up'])
    ep[n] = (
      await store.createEndpoint(shop, { url: `https://${n === 'up' ? 'up' : 'down'}.example/${n}` })
    ).id;
  ep.b1 = (await store.createEndpoint(bank, { url: 'https://down.example/b1' })).id;
  for (const n of [1, 2])
    await store.acceptMessage({ appId: shop, eventType: 'order.paid', payload: `{"n":${n}}` });
  await store.acceptMessage({ appId: bank, eventType: 'order.paid', payload: '{"n":3}' });
  // T0: a1 answers 500 (retried), a2 times out (retried), b1 answers 503 and fails for good.
  await round({
    a1: { status: 500, final: false },
    a2: { status: 'timeout', final: false },
    up: { ok: true },
    b1: { status: 503, final: true },
  });
  // A minute on: a1 still answers 500; a2 is back.
  clock.advance(60_000);
  await round({ a1: { status: 500, final: false }, a2: { ok: true } });
});

afterEach(async () => {
  await t.close();
});

describe(`failure groups on ${db}`, () => {
  it('counts each endpoint and cause with first and last seen, and tells which still fail', async () => {
    const page = await store.listFailures(query());
    expect(page.next).toBeNull();
    expect(page.data.map((g) => [g.key, g.attempts, g.firstAt, g.lastAt, g.failing, g.failedNow])).toEqual([
      // Newest failure first, then by key.
      [`${ep.a1} http_5xx`, 4, T0, T0 + 60_000, true, 0],
      ...[
        // A success after its last failure: history, no longer failing.
        [`${ep.a2} timeout`, 2, T0, T0, false, 0],
        // Failed for good: failing until it is sent again.
        [`${ep.b1} http_5xx`, 1, T0, T0, true, 1],
      ].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1)),
    ]);
    const a1 = page.data[0]!;
    expect(a1).toMatchObject({
      cause: 'http_5xx',
      host: 'down.example',
      lastStatusCode: 500,
      endpointCount: 1,
    });
    expect(a1.endpoints).toEqual([
      expect.objectContaining({
        endpointId: ep.a1,
        appId: shop,
        appName: 'Shop',
        url: 'https://down.example/a1',
        disabled: false,
        failedNow: 0,
      }),
    ]);
    const timeout = page.data.find((g) => g.cause === 'timeout')!;
    expect(timeout.lastStatusCode).toBeNull();
    expect(page.data.find((g) => g.key.startsWith(ep.b1!))!.lastStatusCode).toBe(503);
  });

  it("leaves out the operational webhooks' own endpoints (Herald's, not an application's)", async () => {
    const ops = await store.createEndpoint(OPERATIONAL_APP_ID, { url: 'https://down.example/ops' });
    // Its event of an endpoint created fails there.
    await store.createEndpoint(shop, { url: 'https://up.example/new' });
    const claimed = await store.claimDue({
      owner: 'w',
      now: clock.now(),
      leaseMs: 60_000,
      limit: 500,
      skipEndpoints: [],
    });
    const event = claimed.find((d) => d.endpointId === ops.id)!;
    const attempt = { ...attemptOf(event, false, clock.now(), ops.url), statusCode: 500 };
    await store.complete(
      [
        {
          owner: 'w',
          deliveryId: event.id,
          endpointId: ops.id,
          attempt,
          next: { status: 'failed', exhausted: true },
          disableEndpoint: false,
        },
      ],
      clock.now(),
      5 * 86_400_000,
    );
    for (const groupBy of ['endpoint', 'host'] as const) {
      const page = await store.listFailures(query({ groupBy }));
      expect(page.data.flatMap((g) => g.endpoints.map((e) => e.endpointId))).not.toContain(ops.id);
    }
  });

  it('groups by host across endpoints and applications', async () => {
    const page = await store.listFailures(query({ groupBy: 'host' }));
    expect(page.data.map((g) => [g.key, g.attempts, g.endpointCount, g.failing, g.failedNow])).toEqual([
      ['down.example http_5xx', 5, 2, true, 1],
      ['down.example timeout', 2, 1, false, 0],
    ]);
    expect(page.data[0]!.endpoints.map((e) => [e.endpointId, e.appName, e.attempts])).toEqual([
      [ep.a1, 'Shop', 4],
      [ep.b1, 'Bank', 1],
    ]);
    expect(page.data[0]).toMatchObject({ firstAt: T0, lastAt: T0 + 60_000 });
  });

  it('a success ends the streak; a failure after it starts one again', async () => {
    await store.acceptMessage({ appId: shop, eventType: 'order.paid', payload: '{"n":4}' });
    clock.advance(60_000);
    // a1's retries succeed, then the new message fails in the same batch order.
    await round({ a1: { ok: true }, a2: { ok: true }, up: { ok: true } });
    let a1 = (await store.listFailures(query())).data.find((g) => g.key === `${ep.a1} http_5xx`)!;
    expect([a1.attempts, a1.failing]).toEqual([4, false]);
    await store.acceptMessage({ appId: shop, eventType: 'order.paid', payload: '{"n":5}' });
    clock.advance(60_000);
    await round({ a1: { status: 502, final: false }, a2: { ok: true }, up: { ok: true } });
    a1 = (await store.listFailures(query())).data.find((g) => g.key === `${ep.a1} http_5xx`)!;
    expect([a1.attempts, a1.failing, a1.lastStatusCode, a1.lastAt]).toEqual([5, true, 502, T0 + 180_000]);
  });

  it('filters by application and by last seen, and pages newest first', async () => {
    expect((await store.listFailures(query({ appId: bank }))).data.map((g) => g.key)).toEqual([
      `${ep.b1} http_5xx`,
    ]);
    expect((await store.listFailures(query({ since: T0 + 30_000 }))).data.map((g) => g.key)).toEqual([
      `${ep.a1} http_5xx`,
    ]);
    const all = (await store.listFailures(query())).data.map((g) => g.key);
    const first = await store.listFailures(query({ limit: 2 }));
    expect(first.data.map((g) => g.key)).toEqual(all.slice(0, 2));
    const second = await store.listFailures(query({ limit: 2, after: first.next! }));
    expect(second.data.map((g) => g.key)).toEqual(all.slice(2));
    expect(second.next).toBeNull();
  });

  it('counts only the deliveries failed since failedSince, and drops the groups not seen since the prune', async () => {
    const later = await store.listFailures(query({ appId: bank, failedSince: T0 + 1 }));
    expect(later.data[0]!.failedNow).toBe(0);
    // a2's and b1's groups were last seen at T0; a1's a minute later.
    expect(await store.pruneFailures(T0 + 30_000)).toBe(2);
    expect((await store.listFailures(query())).data.map((g) => g.key)).toEqual([`${ep.a1} http_5xx`]);
    // A deleted endpoint's groups are not listed.
    await store.deleteEndpoint(shop, ep.a1!);
    expect((await store.listFailures(query())).data).toEqual([]);
  });
});

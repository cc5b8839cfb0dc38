/**
 * The Store contract suite: one set of cases that every backend must pass. A backend's test
 * file calls {@link storeContract} with a factory that opens a fresh, empty store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type IdempotencySweepEvent, IdempotencySweeper } from '../../src/api/idempotency-sweeper.js';
import { ManualClock } from '../../src/core/clock.js';
import { encodeId } from '../../src/core/ids.js';
import type { Attempt, Message } from '../../src/core/types.js';
import type { OpenStoreOptions } from '../../src/store/open.js';
import type { AttemptFilter, MessageFilter, NewInboundRequest, Store } from '../../src/store/store.js';
import { waitForEvent } from '../helpers.js';
import { recoverAll, replayMissingAll } from './drain.js';

/**
 * Opens a fresh store on `clock`; `reopen` opens the same data again (for durability, or
 * with other options). A backend whose wake-ups also come back through the database (the
 * NOTIFY echo on PostgreSQL) gives `wakesHeard`: it resolves once the store has heard every
 * wake-up that what it committed so far could send it, so that "no second wake-up" is a fact
 * rather than a race. Without it, every wake-up is emitted before the write resolves.
 */
export type OpenStore = (
  clock: ManualClock,
  options?: OpenStoreOptions,
) => Promise<{
  store: Store;
  reopen: (options?: OpenStoreOptions) => Promise<Store>;
  wakesHeard?: () => Promise<void>;
}>;

const DAY = 86_400_000;
const HOUR = 3_600_000;

function attemptFor(
  d: { id: string; msgId: string; endpointId: string; appId: string },
  at: number,
): Attempt {
  return {
    // An attempt's id begins with its time, as the dispatcher makes them (lists page by it).
    id: encodeId('atmpt', at, new Uint8Array(14)),
    deliveryId: d.id,
    msgId: d.msgId,
    endpointId: d.endpointId,
    appId: d.appId,
    url: 'http://127.0.0.1/',
    trigger: 'scheduled',
    succeeded: false,
    statusCode: 500,
    responseBody: 'no',
    durationMs: 3,
    errorKind: 'http_status',
    errorMessage: null,
    requestHeaders: { 'webhook-id': d.msgId },
    createdAt: at,
  };
}

/** Request number `n` of a source, as the gateway hands it over; its `x-n` header tells it apart. */
function inbound(sourceId: string, n: number, fields: Partial<NewInboundRequest> = {}): NewInboundRequest {
  const body = Buffer.from(`{"n":${n}}`);
  return {
    sourceId,
    status: 'accepted',
    reason: null,
    headers: { 'x-n': String(n) },
    body,
    bodySize: body.length,
    msgId: null,
    ...fields,
  };
}

/** The `x-n` of a source's logged requests, newest first. */
async function loggedNumbers(store: Store, sourceId: string): Promise<number[]> {
  const page = await store.listInbound(sourceId, { limit: 250 });
  return page.data.map((r) => Number(r.headers['x-n']));
}

/**
 * Optional capabilities a backend leaves out, and why: its section of the contract is skipped
 * with that reason (as Hono's runTest({ skip: [{ reason }] })), and one case checks that the
 * capability is indeed absent, so a skip cannot hide a half-made one.
 */
const WITHOUT: Record<string, { standingClaims?: string }> = {
  postgres: {
    standingClaims:
      'PostgreSQL commits messages from many processes: each delivery waits for claimDue, woken by NOTIFY',
  },
};

export function storeContract(backend: string, open: OpenStore): void {
  const opened: Store[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store[Symbol.asyncDispose]();
  });

  async function setup(options?: OpenStoreOptions) {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const { store, reopen, wakesHeard = async () => undefined } = await open(clock, options);
    opened.push(store);
    const app = await store.createApplication({ name: 'Shop', uid: 'shop' });
    return { clock, store, reopen, wakesHeard, app };
  }

  describe(`Store contract: ${backend}`, () => {
    describe('applications', () => {
      it('creates, finds by id or uid, updates, pages and deletes', async () => {
        const { store, app } = await setup();
        expect(await store.getApplication('shop')).toEqual(app);
        expect(await store.getApplication(app.id)).toEqual(app);
        await expect(store.createApplication({ name: 'Other', uid: 'shop' })).rejects.toMatchObject({
          code: 'conflict',
        });
        const updated = await store.updateApplication(app.id, { name: 'Shop 2', metadata: { tier: 'gold' } });
        expect(updated).toMatchObject({ name: 'Shop 2', uid: 'shop', metadata: { tier: 'gold' } });
        for (let i = 0; i < 4; i++) await store.createApplication({ name: `a${i}` });
        const first = await store.listApplications({ limit: 3 });
        expect(first.data).toHaveLength(3);
        expect(first.done).toBe(false);
        const second = await store.listApplications({ limit: 3, iterator: first.iterator });
        expect(second.data).toHaveLength(2);
        expect(second.done).toBe(true);
        expect(new Set([...first.data, ...second.data].map((a) => a.id)).size).toBe(5);
        await store.deleteApplication('shop');
        expect(await store.getApplication(app.id)).toBeNull();
        await expect(store.deleteApplication(app.id)).rejects.toMatchObject({ code: 'not_found' });
      });

      it('refuses bad input and leaves what is stored unchanged', async () => {
        const { store, app } = await setup();
        await expect(store.createApplication({ name: 'x', uid: 'has space' })).rejects.toMatchObject({
          code: 'validation',
          field: 'uid',
        });
        await expect(store.updateApplication(app.id, { rateLimit: -1 })).rejects.toMatchObject({
          field: 'rateLimit',
        });
        expect(await store.getApplication(app.id)).toEqual(app);
      });
    });

    describe('event types', () => {
      it('upserts, lists by name and deletes', async () => {
        const { store } = await setup();
        await store.upsertEventType({ name: 'order.paid', description: 'paid' });
        await store.upsertEventType({ name: 'content.published', description: 'v1' });
        const updated = await store.upsertEventType({ name: 'content.published', description: 'v2' });
        expect(updated.description).toBe('v2');
        const page = await store.listEventTypes({ limit: 10 });
        expect(page.data.map((e) => e.name)).toEqual(['content.published', 'order.paid']);
        await store.deleteEventType('order.paid');
        expect(await store.getEventType('order.paid')).toBeNull();
      });
    });

    describe('endpoints', () => {
      it('creates with a generated whsec_ secret and finds by id or uid', async () => {
        const { store, app } = await setup();
        const ep = await store.createEndpoint('shop', { url: 'https://example.com/hook', uid: 'main' });
        expect(ep.appId).toBe(app.id);
        expect(ep.secrets).toHaveLength(1);
        expect(ep.secrets[0]!.key).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
        expect(await store.getEndpoint(app.id, 'main')).toEqual(ep);
        expect(await store.getEndpoint('shop', ep.id)).toEqual(ep);
        await expect(
          store.createEndpoint(app.id, { url: 'https://e.com', uid: 'main' }),
        ).rejects.toMatchObject({
          code: 'conflict',
        });
      });

      it.each([
        [{ url: 'ftp://example.com/' }, 'url'],
        [{ url: 'not a url' }, 'url'],
        [{ url: 'https://user:pw@example.com/' }, 'url'],
        [{ url: 'https://token@example.com/' }, 'url'],
        [{ url: 'https://example.com:0/' }, 'url'],
        [{ url: 'https://example.com:65536/' }, 'url'],
        [{ url: `https://example.com/${'a'.repeat(5000)}` }, 'url'],
        [{ url: 'https://e.com', headers: { 'Content-Type': 'text/plain' } }, 'headers.Content-Type'],
        [{ url: 'https://e.com', headers: { 'webhook-id': 'x' } }, 'headers.webhook-id'],
        [{ url: 'https://e.com', headers: { Connection: 'close' } }, 'headers.Connection'],
        [{ url: 'https://e.com', headers: { 'X-Bad\r\nInjected': 'x' } }, 'headers.X-Bad\r\nInjected'],
        [{ url: 'https://e.com', headers: { 'X-Ok': 'a\r\nInjected: yes' } }, 'headers.X-Ok'],
        [{ url: 'https://e.com', timeoutMs: 999 }, 'timeoutMs'],
        [{ url: 'https://e.com', timeoutMs: 30_001 }, 'timeoutMs'],
        [{ url: 'https://e.com', retrySchedule: [10] }, 'retrySchedule[0]'],
        [{ url: 'https://e.com', secret: 'whsec_short' }, 'secret'],
        [{ url: 'https://e.com', filterTypes: ['bad type'] }, 'filterTypes[0]'],
        [{ url: 'https://e.com', channels: Array.from({ length: 11 }, (_, i) => `c${i}`) }, 'channels'],
      ])('refuses %j naming the field', async (input, field) => {
        const { store, app } = await setup();
        await expect(store.createEndpoint(app.id, input)).rejects.toMatchObject({
          code: 'validation',
          field,
        });
        expect((await store.listEndpoints(app.id, { limit: 10 })).data).toHaveLength(0);
      });

      it('rotates secrets: the old key is kept until its grace period ends', async () => {
        const { store, app, clock } = await setup();
        const ep = await store.createEndpoint(app.id, { url: 'https://e.com' });
        const oldKey = ep.secrets[0]!.key;
        const newKey = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
        const rotated = await store.rotateEndpointSecret(app.id, ep.id, newKey, DAY);
        expect(rotated.secrets).toEqual([
          { key: newKey, expiresAt: null },
          { key: oldKey, expiresAt: clock.now() + DAY },
        ]);
        clock.advance(DAY + 1);
        // A third key of its own (the old one with its last letter changed was the old key
        // again whenever that letter was already an A: one run in 64).
        const third = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
        const again = await store.rotateEndpointSecret(app.id, ep.id, third, DAY);
        expect(again.secrets.map((s) => s.key)).not.toContain(oldKey);
      });
    });

    describe('messages', () => {
      it('stores a message with one pending delivery per matching endpoint', async () => {
        const { store, app } = await setup();
        const a = await store.createEndpoint(app.id, { url: 'https://a.example' });
        await store.createEndpoint(app.id, { url: 'https://b.example', filterTypes: ['other'] });
        const { message, deliveries } = await store.acceptMessage({
          appId: 'shop',
          eventType: 'order.paid',
          eventId: 'evt-1',
          payload: '{"total": 10}',
        });
        expect(deliveries).toBe(1);
        expect(message.appId).toBe(app.id);
        expect(await store.getMessage(app.id, 'evt-1')).toEqual(message);
        expect(await store.listDeliveries(message.id)).toEqual([
          expect.objectContaining({
            endpointId: a.id,
            status: 'pending',
            attempts: 0,
            dueAt: message.createdAt,
          }),
        ]);
      });

      it('commits many concurrent messages together; a duplicate eventId fails alone', async () => {
        const { store, app } = await setup();
        await store.createEndpoint(app.id, { url: 'https://a.example' });
        const results = await Promise.allSettled(
          Array.from({ length: 300 }, (_, i) =>
            store.acceptMessage({
              appId: app.id,
              eventType: 'a',
              eventId: `e${i % 250}`,
              payload: `{"i":${i}}`,
            }),
          ),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(250);
        const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(rejected.every((r) => r.reason.code === 'conflict')).toBe(true);
      });

      it('refuses an unknown application and bad names', async () => {
        const { store } = await setup();
        await expect(
          store.acceptMessage({ appId: 'nope', eventType: 'a', payload: '{}' }),
        ).rejects.toMatchObject({
          code: 'not_found',
        });
        await expect(
          store.acceptMessage({ appId: 'shop', eventType: 'a b', payload: '{}' }),
        ).rejects.toMatchObject({
          field: 'eventType',
        });
      });

      it('keeps extra message headers, drops reserved ones, and hands them to listings and claims', async () => {
        const { store, app, clock } = await setup();
        const ep = await store.createEndpoint(app.id, { url: 'https://a.example' });
        const { message } = await store.acceptMessage({
          appId: app.id,
          eventType: 'a',
          payload: '{}',
          headers: {
            'x-github-event': 'push',
            'content-type': 'text/evil',
            'webhook-id': 'spoof',
            'x-bad': 'a\r\nb',
          },
        });
        expect(message.headers).toEqual({ 'x-github-event': 'push' });
        const listed = await store.listEndpointDeliveries({ endpointId: ep.id }, { limit: 10 });
        expect(listed.data.map((x) => x.message)).toEqual([message]);
        const [claimed] = await store.claimDue({
          owner: 'w',
          now: clock.now(),
          leaseMs: 60_000,
          limit: 1,
          skipEndpoints: [],
        });
        expect(claimed!.headers).toEqual({ 'x-github-event': 'push' });
      });

      it('wakes listeners once per commit that creates deliveries, naming the endpoint', async () => {
        const { store, app, wakesHeard } = await setup();
        const ep = await store.createEndpoint(app.id, { url: 'https://a.example' });
        const wakes: (readonly string[])[] = [];
        // Those for this endpoint only: on PostgreSQL, stores of other tests on the same
        // database (and the barrier of wakesHeard) wake every listener too.
        const off = store.onWake((ids) => {
          if (ids?.includes(ep.id)) wakes.push(ids);
        });
        await store.acceptMessage({ appId: app.id, eventType: 'a', payload: '{}' });
        // Woken by the time the message is accepted, and not again once every echo is in.
        expect(wakes).toEqual([[ep.id]]);
        await wakesHeard();
        expect(wakes).toEqual([[ep.id]]);
        off();
        await store.acceptMessage({ appId: app.id, eventType: 'a', payload: '{}' });
        await wakesHeard();
        expect(wakes).toEqual([[ep.id]]);
      });

      it('lists messages newest first, filtered by event type, channel and time', async () => {
        const { store, clock, app } = await setup();
        const sent: Message[] = [];
        for (const [eventType, channels] of [
          ['a', null],
          ['b', ['eu']],
          ['a', ['eu', 'us']],
          ['c', ['us']],
        ] as const) {
          sent.push(
            (
              await store.acceptMessage({
                appId: app.id,
                eventType,
                payload: '{}',
                ...(channels ? { channels: [...channels] } : {}),
              })
            ).message,
          );
          clock.advance(10);
        }
        const listed = async (filter: Omit<MessageFilter, 'appId'>, limit = 10) =>
          (await store.listMessages({ appId: 'shop', ...filter }, { limit })).data.map((m) =>
            sent.indexOf(sent.find((s) => s.id === m.id)!),
          );
        expect(await listed({})).toEqual([3, 2, 1, 0]);
        expect(await listed({ eventTypes: ['a'] })).toEqual([2, 0]);
        expect(await listed({ eventTypes: ['b', 'c'] })).toEqual([3, 1]);
        expect(await listed({ channel: 'eu' })).toEqual([2, 1]);
        expect(await listed({ channel: 'us', eventTypes: ['a'] })).toEqual([2]);
        expect(await listed({ before: sent[2]!.createdAt })).toEqual([1, 0]);
        expect(await listed({ after: sent[1]!.createdAt })).toEqual([3, 2]);
        const first = await store.listMessages({ appId: app.id }, { limit: 3 });
        const rest = await store.listMessages({ appId: app.id }, { limit: 3, iterator: first.iterator });
        expect([first.done, rest.done, rest.data.map((m) => m.id)]).toEqual([false, true, [sent[0]!.id]]);
        await expect(store.listMessages({ appId: 'nope' }, { limit: 1 })).rejects.toMatchObject({
          code: 'not_found',
        });
      });
    });

    describe('deliveries', () => {
      async function withDeliveries(n: number) {
        const ctx = await setup();
        const ep = await ctx.store.createEndpoint(ctx.app.id, { url: 'https://a.example' });
        const msgs = [];
        for (let i = 0; i < n; i++) {
          msgs.push(
            (await ctx.store.acceptMessage({ appId: ctx.app.id, eventType: 'a', payload: '{}' })).message,
          );
          ctx.clock.advance(1);
        }
        return { ...ctx, ep, msgs };
      }

      it('counts the queue for metrics: pending, leased, and the oldest one due', async () => {
        const { store, clock, msgs } = await withDeliveries(4);
        const first = clock.now() - 4;
        expect(await store.queueStats(first - 1)).toEqual({ pending: 4, sending: 0, oldestDueAt: null });
        expect(await store.queueStats(clock.now())).toEqual({ pending: 4, sending: 0, oldestDueAt: first });
        await store.claimDue({ owner: 'w1', now: clock.now(), leaseMs: 60_000, limit: 1, skipEndpoints: [] });
        expect(await store.queueStats(clock.now())).toEqual({
          pending: 3,
          sending: 1,
          oldestDueAt: first + 1,
        });
        const claimed = await store.claimDue({
          owner: 'w1',
          now: clock.now(),
          leaseMs: 60_000,
          limit: 3,
          skipEndpoints: [],
        });
        await store.complete(
          claimed.map((c) => ({
            owner: 'w1',
            deliveryId: c.id,
            endpointId: c.endpointId,
            attempt: null,
            next: { status: 'succeeded' as const },
            disableEndpoint: false,
          })),
          clock.now(),
          DAY,
        );
        expect(msgs).toHaveLength(4);
        expect(await store.queueStats(clock.now())).toEqual({ pending: 0, sending: 1, oldestDueAt: null });
      });

      it('claims due deliveries oldest first, under a lease, up to the limit', async () => {
        const { store, clock, msgs } = await withDeliveries(5);
        const now = clock.now();
        const claimed = await store.claimDue({
          owner: 'w1',
          now,
          leaseMs: 60_000,
          limit: 3,
          skipEndpoints: [],
        });
        expect(claimed.map((c) => c.msgId)).toEqual(msgs.slice(0, 3).map((m) => m.id));
        expect(claimed[0]).toMatchObject({
          attempts: 0,
          trigger: 'scheduled',
          payload: '{}',
          leaseExpiresAt: now + 60_000,
        });
        const rest = await store.claimDue({
          owner: 'w2',
          now,
          leaseMs: 60_000,
          limit: 10,
          skipEndpoints: [],
        });
        expect(rest).toHaveLength(2);
        expect(
          await store.claimDue({ owner: 'w3', now, leaseMs: 60_000, limit: 10, skipEndpoints: [] }),
        ).toEqual([]);
        expect(await store.nextDueAt()).toBe(now + 60_000);
      });

      it('claims with the next due time of what it left, later than its now', async () => {
        const { store, clock, app, ep, msgs } = await withDeliveries(3);
        const now = clock.now();
        const request = { owner: 'w', now, leaseMs: 60_000, limit: 2, skipEndpoints: [] };
        // A full claim: no next due time (its caller claims again).
        const first = await store.claimDueAndNext(request);
        expect(first.claimed.map((c) => c.msgId)).toEqual(msgs.slice(0, 2).map((m) => m.id));
        expect(first.claimed[0]).toMatchObject({ attempts: 0, payload: '{}', leaseExpiresAt: now + 60_000 });
        expect(first.nextDueAt).toBeNull();
        // A short claim: what is left are the first claim's leases, and a message due in a minute.
        await store.acceptMessage({ appId: app.id, eventType: 'a', payload: '{}', deliverAt: now + 30_000 });
        const second = await store.claimDueAndNext({ ...request, owner: 'w2', now: now + 1 });
        expect(second.claimed.map((c) => c.msgId)).toEqual([msgs[2]!.id]);
        expect(second.nextDueAt).toBe(now + 30_000);
        // Nothing to claim: still the next due time.
        const empty = await store.claimDueAndNext({ ...request, now: now + 2 });
        expect(empty).toEqual({ claimed: [], nextDueAt: now + 30_000 });
        // Past a saturated endpoint: its due times are left out too (its completions wake the
        // worker), so the next is another endpoint's message, later than the first's leases.
        const other = await store.createEndpoint(app.id, { url: 'https://b.example', filterTypes: ['b'] });
        await store.acceptMessage({ appId: app.id, eventType: 'b', payload: '{}', deliverAt: now + 90_000 });
        const skipping = await store.claimDueAndNext({
          ...request,
          now: now + 40_000,
          skipEndpoints: [ep.id],
        });
        expect(skipping).toEqual({ claimed: [], nextDueAt: now + 90_000 });
        const past = await store.claimDueAndNext({
          ...request,
          now: now + 40_000,
          skipEndpoints: [other.id],
        });
        expect(past.claimed.map((c) => c.endpointId)).toEqual([ep.id]);
        expect(await store.claimDueAndNext({ ...request, now: now + 120_000, limit: 10 })).toMatchObject({
          nextDueAt: null,
        });
      });

      it('skips saturated endpoints and deliveries not yet due', async () => {
        const { store, clock, ep } = await withDeliveries(2);
        const now = clock.now();
        expect(
          await store.claimDue({ owner: 'w', now, leaseMs: 60_000, limit: 10, skipEndpoints: [ep.id] }),
        ).toEqual([]);
        expect(
          await store.claimDue({ owner: 'w', now: 0, leaseMs: 60_000, limit: 10, skipEndpoints: [] }),
        ).toEqual([]);
      });

      it('claiming past saturated endpoints takes the others, oldest endpoint first, up to the limit', async () => {
        const ctx = await setup();
        const a = await ctx.store.createEndpoint(ctx.app.id, { url: 'https://a.example' });
        const b = await ctx.store.createEndpoint(ctx.app.id, {
          url: 'https://b.example',
          filterTypes: ['b'],
        });
        const c = await ctx.store.createEndpoint(ctx.app.id, {
          url: 'https://c.example',
          filterTypes: ['c'],
        });
        // a gets every message (no filter); b and c only their own type. Oldest due: b, then c.
        const sent = async (type: string) => {
          const { message } = await ctx.store.acceptMessage({
            appId: ctx.app.id,
            eventType: type,
            payload: '{}',
          });
          ctx.clock.advance(1);
          return message.id;
        };
        const b1 = await sent('b');
        const c1 = await sent('c');
        const b2 = await sent('b');
        await sent('x');
        const now = ctx.clock.now();
        const claim = (skip: string[], limit: number) =>
          ctx.store.claimDue({ owner: 'w', now, leaseMs: 60_000, limit, skipEndpoints: skip });
        const first = await claim([a.id], 2);
        expect(first.map((d) => [d.endpointId, d.msgId])).toEqual([
          [b.id, b1],
          [b.id, b2],
        ]);
        const second = await claim([a.id], 10);
        expect(second.map((d) => [d.endpointId, d.msgId])).toEqual([[c.id, c1]]);
        expect(await claim([a.id], 10)).toEqual([]);
        // Expired leases count as due on this path too.
        const later = await ctx.store.claimDue({
          owner: 'w2',
          now: now + 60_000,
          leaseMs: 60_000,
          limit: 10,
          skipEndpoints: [a.id, c.id],
        });
        expect(later.map((d) => d.msgId).sort()).toEqual([b1, b2].sort());
      });

      it('records an attempt and schedules the next try; release gives a lease back untried', async () => {
        const { store, clock, msgs, app } = await withDeliveries(2);
        const now = clock.now();
        const [a, b] = await store.claimDue({
          owner: 'w',
          now,
          leaseMs: 60_000,
          limit: 2,
          skipEndpoints: [],
        });
        await store.complete(
          [
            {
              owner: 'w',
              deliveryId: a!.id,
              endpointId: a!.endpointId,
              attempt: attemptFor(a!, now),
              next: { status: 'pending', dueAt: now + 5_000 },
              disableEndpoint: false,
            },
          ],
          now,
          DAY,
        );
        await store.release('w', [{ deliveryId: b!.id, dueAt: now }]);
        expect(await store.getDelivery(msgs[0]!.id, a!.endpointId)).toMatchObject({
          status: 'pending',
          attempts: 1,
          dueAt: now + 5_000,
          leaseOwner: null,
          lastAttemptAt: now,
        });
        expect(await store.getDelivery(msgs[1]!.id, b!.endpointId)).toMatchObject({
          status: 'pending',
          attempts: 0,
          dueAt: now,
        });
        const attempts = await store.listAttempts({ appId: app.id, msgId: msgs[0]!.id }, { limit: 10 });
        expect(attempts.data).toEqual([attemptFor(a!, now)]);
      });

      it('release gives each delivery its own due time, and only the lease holder can', async () => {
        const { store, clock } = await withDeliveries(3);
        const now = clock.now();
        const claimed = await store.claimDue({
          owner: 'w',
          now,
          leaseMs: 60_000,
          limit: 3,
          skipEndpoints: [],
        });
        expect(claimed).toHaveLength(3);
        await store.release(
          'w',
          claimed.slice(0, 2).map((d, i) => ({ deliveryId: d.id, dueAt: now + 1_000 * (i + 1) })),
        );
        // Another worker cannot give back a lease it does not hold.
        await store.release('other', [{ deliveryId: claimed[2]!.id, dueAt: now }]);
        const states = await Promise.all(claimed.map((d) => store.getDelivery(d.msgId, d.endpointId)));
        expect(states.map((d) => [d?.status, d?.dueAt, d?.leaseOwner])).toEqual([
          ['pending', now + 1_000, null],
          ['pending', now + 2_000, null],
          ['sending', now + 60_000, 'w'],
        ]);
        // Not due before their time.
        expect(
          await store.claimDue({ owner: 'w', now: now + 999, leaseMs: 60_000, limit: 3, skipEndpoints: [] }),
        ).toEqual([]);
        expect(await store.nextDueAt()).toBe(now + 1_000);
      });

      it('resend makes a finished delivery due now as a manual attempt', async () => {
        const { store, clock, msgs } = await withDeliveries(1);
        const now = clock.now();
        const [d] = await store.claimDue({ owner: 'w', now, leaseMs: 60_000, limit: 1, skipEndpoints: [] });
        await store.complete(
          [
            {
              owner: 'w',
              deliveryId: d!.id,
              endpointId: d!.endpointId,
              attempt: attemptFor(d!, now),
              next: { status: 'failed', exhausted: true },
              disableEndpoint: false,
            },
          ],
          now,
          DAY,
        );
        clock.advance(1_000);
        const resent = await store.resend(msgs[0]!.id, d!.endpointId);
        expect(resent).toMatchObject({ status: 'pending', dueAt: clock.now() });
        const [again] = await store.claimDue({
          owner: 'w',
          now: clock.now(),
          leaseMs: 60_000,
          limit: 1,
          skipEndpoints: [],
        });
        expect(again).toMatchObject({ id: d!.id, trigger: 'manual', attempts: 1 });
        await expect(store.resend(msgs[0]!.id, 'ep_nope')).rejects.toMatchObject({ code: 'not_found' });
      });

      it('disabling an endpoint fails what waits for it', async () => {
        const { store, app, ep, msgs } = await withDeliveries(2);
        await store.updateEndpoint(app.id, ep.id, { disabled: true });
        for (const m of msgs) expect((await store.getDelivery(m.id, ep.id))!.status).toBe('failed');
        expect(await store.nextDueAt()).toBeNull();
      });

      it('pages attempts newest first', async () => {
        const { store, clock, app, ep } = await withDeliveries(1);
        const base = clock.now();
        for (let i = 0; i < 5; i++) {
          const [d] = await store.claimDue({
            owner: 'w',
            now: base + i * 10_000,
            leaseMs: 60_000,
            limit: 1,
            skipEndpoints: [],
          });
          await store.complete(
            [
              {
                owner: 'w',
                deliveryId: d!.id,
                endpointId: ep.id,
                attempt: attemptFor(d!, base + i * 10_000),
                next: { status: 'pending', dueAt: base + (i + 1) * 10_000 },
                disableEndpoint: false,
              },
            ],
            base,
            DAY,
          );
        }
        const first = await store.listAttempts({ appId: app.id, endpointId: ep.id }, { limit: 3 });
        const second = await store.listAttempts(
          { appId: app.id, endpointId: ep.id },
          { limit: 3, iterator: first.iterator },
        );
        const times = [...first.data, ...second.data].map((a) => a.createdAt);
        expect(times).toEqual([...times].sort((x, y) => y - x));
        expect(times).toHaveLength(5);
        expect(second.done).toBe(true);
      });

      it('auto-disables: an exhaustion starts the failure clock, a success clears it, and past autoDisableAfterMs the endpoint is disabled and what waits fails', async () => {
        const { store, clock, app, ep, msgs } = await withDeliveries(6);
        const next = async (status: 'succeeded' | 'exhausted') => {
          clock.advance(1_000);
          const [d] = await store.claimDue({
            owner: 'w',
            now: clock.now(),
            leaseMs: 60_000,
            limit: 1,
            skipEndpoints: [],
          });
          return store.complete(
            [
              {
                owner: 'w',
                deliveryId: d!.id,
                endpointId: ep.id,
                attempt: attemptFor(d!, clock.now()),
                next: status === 'succeeded' ? { status } : { status: 'failed', exhausted: true },
                disableEndpoint: false,
              },
            ],
            clock.now(),
            DAY,
          );
        };
        const failingSince = async () => (await store.getEndpoint(app.id, ep.id))!.failingSince;
        expect(await next('exhausted')).toEqual([]);
        expect(await failingSince()).toBe(clock.now());
        expect(await next('succeeded')).toEqual([]);
        expect(await failingSince()).toBeNull();
        expect(await next('exhausted')).toEqual([]);
        const started = clock.now();
        clock.advance(DAY - 2_000);
        // A second short of a day of failing: still enabled.
        expect(await next('exhausted')).toEqual([]);
        expect(await failingSince()).toBe(started);
        expect(await next('exhausted')).toEqual([{ appId: app.id, endpointId: ep.id, reason: 'failing' }]);
        const endpoint = (await store.getEndpoint(app.id, ep.id))!;
        expect(endpoint).toMatchObject({ disabled: true, failingSince: started, updatedAt: clock.now() });
        expect((await store.getDelivery(msgs[5]!.id, ep.id))!.status).toBe('failed');
        expect(await store.nextDueAt()).toBeNull();
      });

      it('a 410 disables the endpoint at once and fails what waits; an endpoint already disabled is not reported again', async () => {
        const { store, clock, app, ep, msgs } = await withDeliveries(3);
        const now = clock.now();
        const [a, b] = await store.claimDue({
          owner: 'w',
          now,
          leaseMs: 60_000,
          limit: 2,
          skipEndpoints: [],
        });
        const gone = (d: typeof a, at: number) => ({
          owner: 'w',
          deliveryId: d!.id,
          endpointId: ep.id,
          attempt: { ...attemptFor(d!, at), statusCode: 410 },
          next: { status: 'failed', exhausted: false } as const,
          disableEndpoint: true,
        });
        expect(await store.complete([gone(a, now), gone(b, now + 1)], now, DAY)).toEqual([
          { appId: app.id, endpointId: ep.id, reason: 'gone' },
        ]);
        expect(await store.getEndpoint(app.id, ep.id)).toMatchObject({ disabled: true });
        expect((await store.getDelivery(msgs[2]!.id, ep.id))!.status).toBe('failed');
      });

      it("keeps the state a new lease holder wrote when a late worker completes, and the late worker's attempt", async () => {
        const { store, clock, app, msgs } = await withDeliveries(1);
        const now = clock.now();
        const [first] = await store.claimDue({
          owner: 'w1',
          now,
          leaseMs: 1_000,
          limit: 1,
          skipEndpoints: [],
        });
        const [again] = await store.claimDue({
          owner: 'w2',
          now: now + 1_000,
          leaseMs: 60_000,
          limit: 1,
          skipEndpoints: [],
        });
        expect(again!.id).toBe(first!.id);
        const late = { ...attemptFor(first!, now + 1_500), succeeded: true, statusCode: 200 };
        await store.complete(
          [
            {
              owner: 'w1',
              deliveryId: first!.id,
              endpointId: first!.endpointId,
              attempt: late,
              next: { status: 'succeeded' },
              disableEndpoint: false,
            },
          ],
          now + 1_500,
          DAY,
        );
        expect(await store.getDelivery(msgs[0]!.id, first!.endpointId)).toMatchObject({
          status: 'sending',
          leaseOwner: 'w2',
          attempts: 0,
          dueAt: now + 61_000,
        });
        expect((await store.listAttempts({ appId: app.id, msgId: msgs[0]!.id }, { limit: 10 })).data).toEqual(
          [late],
        );
        // Nor can the late worker give the lease back.
        await store.release('w1', [{ deliveryId: first!.id, dueAt: now }]);
        expect((await store.getDelivery(msgs[0]!.id, first!.endpointId))!.leaseOwner).toBe('w2');
      });

      it('recover makes failed deliveries created in [since, until) due now as manual attempts', async () => {
        const { store, clock, app, ep, msgs } = await withDeliveries(4);
        await store.updateEndpoint(app.id, ep.id, { disabled: true });
        await store.updateEndpoint(app.id, ep.id, { disabled: false });
        clock.advance(10_000);
        expect(await recoverAll(store, ep.id, msgs[1]!.createdAt, msgs[3]!.createdAt)).toBe(2);
        const states = await Promise.all(msgs.map((m) => store.getDelivery(m.id, ep.id)));
        expect(states.map((d) => [d!.status, d!.dueAt])).toEqual([
          ['failed', null],
          ['pending', clock.now()],
          ['pending', clock.now()],
          ['failed', null],
        ]);
        expect(await recoverAll(store, ep.id, msgs[3]!.createdAt, null)).toBe(1);
        expect(await recoverAll(store, ep.id, msgs[3]!.createdAt, null)).toBe(0);
        const claimed = await store.claimDue({
          owner: 'w',
          now: clock.now(),
          leaseMs: 60_000,
          limit: 10,
          skipEndpoints: [],
        });
        // All due at the same moment: in no particular order.
        expect(claimed.map((d) => [d.msgId, d.trigger]).sort()).toEqual(
          [msgs[1]!, msgs[2]!, msgs[3]!].map((m) => [m.id, 'manual']),
        );
      });

      it('filters attempts by outcome, status class, event type, time, message and endpoint; getAttempt reads one of a message', async () => {
        const { store, clock, app } = await setup();
        const ep = await store.createEndpoint(app.id, { url: 'https://a.example' });
        const other = await store.createEndpoint(app.id, { url: 'https://b.example' });
        const sent: Message[] = [];
        for (const type of ['a', 'b']) {
          sent.push((await store.acceptMessage({ appId: app.id, eventType: type, payload: '{}' })).message);
          clock.advance(1);
        }
        const now = clock.now();
        const claimed = await store.claimDue({
          owner: 'w',
          now,
          leaseMs: 60_000,
          limit: 10,
          skipEndpoints: [],
        });
        expect(claimed).toHaveLength(4);
        // Outcomes in claim order: 200, 500, no response, 404; one millisecond apart.
        const outcomes = [
          { succeeded: true, statusCode: 200, errorKind: null },
          { succeeded: false, statusCode: 500, errorKind: 'http_status' },
          { succeeded: false, statusCode: null, errorKind: 'timeout' },
          { succeeded: false, statusCode: 404, errorKind: 'http_status' },
        ] as const;
        const attempts = claimed.map((d, i) => ({ ...attemptFor(d, now + i), ...outcomes[i]! }));
        await store.complete(
          claimed.map((d, i) => ({
            owner: 'w',
            deliveryId: d.id,
            endpointId: d.endpointId,
            attempt: attempts[i]!,
            next: { status: 'pending', dueAt: now + 60_000 },
            disableEndpoint: false,
          })),
          now,
          DAY,
        );
        const ids = async (filter: Partial<AttemptFilter>) =>
          (await store.listAttempts({ appId: app.id, ...filter } as AttemptFilter, { limit: 10 })).data.map(
            (a) => attempts.indexOf(attempts.find((x) => x.id === a.id)!),
          );
        const byEndpoint = (endpointId: string) =>
          attempts.flatMap((a, i) => (a.endpointId === endpointId ? [i] : [])).reverse();
        expect(await ids({ endpointId: ep.id })).toEqual(byEndpoint(ep.id));
        expect(await ids({ endpointId: other.id })).toEqual(byEndpoint(other.id));
        const all = [...byEndpoint(ep.id), ...byEndpoint(other.id)].sort().reverse();
        const where = (keep: (a: Attempt) => boolean) => all.filter((i) => keep(attempts[i]!));
        for (const endpointId of [ep.id, other.id]) {
          const mine = (keep: (a: Attempt) => boolean) =>
            where((a) => a.endpointId === endpointId && keep(a));
          expect(await ids({ endpointId, succeeded: true })).toEqual(mine((a) => a.succeeded));
          expect(await ids({ endpointId, succeeded: false })).toEqual(mine((a) => !a.succeeded));
          expect(await ids({ endpointId, statusCodeClass: 500 })).toEqual(mine((a) => a.statusCode === 500));
          expect(await ids({ endpointId, statusCodeClass: 400 })).toEqual(mine((a) => a.statusCode === 404));
          expect(await ids({ endpointId, statusCodeClass: 0 })).toEqual(mine((a) => a.statusCode === null));
          expect(await ids({ endpointId, eventTypes: ['b'] })).toEqual(mine((a) => a.msgId === sent[1]!.id));
          expect(await ids({ endpointId, before: now + 2 })).toEqual(mine((a) => a.createdAt < now + 2));
          expect(await ids({ endpointId, after: now + 1 })).toEqual(mine((a) => a.createdAt > now + 1));
        }
        expect(await ids({ msgId: sent[0]!.id })).toEqual(where((a) => a.msgId === sent[0]!.id));
        expect(await ids({ msgId: sent[0]!.id, endpointId: other.id })).toEqual(
          where((a) => a.msgId === sent[0]!.id && a.endpointId === other.id),
        );
        const one = attempts[2]!;
        expect(await store.getAttempt('shop', one.msgId, one.id)).toEqual(one);
        expect(await store.getAttempt(app.id, one.msgId, one.id)).toEqual(one);
        const otherMsg = sent.find((m) => m.id !== one.msgId)!;
        expect(await store.getAttempt(app.id, otherMsg.id, one.id)).toBeNull();
        const elsewhere = await store.createApplication({ name: 'Elsewhere' });
        expect(await store.getAttempt(elsewhere.id, one.msgId, one.id)).toBeNull();
        expect(await ids({ msgId: sent[0]!.id, appId: elsewhere.id })).toEqual([]);
      });

      it('replays to an endpoint what it should have had, once, however many replays and fan-outs race', async () => {
        const { store, clock, app } = await setup();
        const since = clock.now();
        const accept = (eventType: string) =>
          store.acceptMessage({ appId: app.id, eventType, payload: '{}' });
        const old = [await accept('a'), await accept('b'), await accept('a'), await accept('a')];
        clock.advance(1);
        const late = await store.createEndpoint(app.id, { url: 'https://late.example', filterTypes: ['a'] });
        // Two replays at once: each message gets one delivery, and the counts add up to them.
        const counts = await Promise.all([
          replayMissingAll(store, late.id, since, null),
          replayMissingAll(store, late.id, since, null),
        ]);
        const toLate = async (msgId: string) =>
          (await store.listDeliveries(msgId)).filter((d) => d.endpointId === late.id);
        for (const { message } of old)
          expect(await toLate(message.id)).toHaveLength(message.eventType === 'a' ? 1 : 0);
        expect(counts[0] + counts[1]).toBe(3);
        expect(await replayMissingAll(store, late.id, since, null)).toBe(0);
        // A replay racing the fan-out of new messages: one delivery each, whoever writes it.
        for (let i = 0; i < 5; i++) {
          const [accepted] = await Promise.all([accept('a'), replayMissingAll(store, late.id, since, null)]);
          expect(await toLate(accepted.message.id)).toHaveLength(1);
        }
        expect(await replayMissingAll(store, late.id, since, null)).toBe(0);
        expect((await store.countDeliveries(late.id)).pending).toBe(8);
      });
    });

    const noStanding = WITHOUT[backend]?.standingClaims;
    it.runIf(noStanding !== undefined)(`has no standing claims: ${noStanding}`, async () => {
      const { store } = await setup();
      expect(store.standingClaims).toBeUndefined();
    });

    describe.skipIf(noStanding !== undefined)(
      `standing claims${noStanding ? ` (skipped: ${noStanding})` : ''}`,
      () => {
        async function standing() {
          const ctx = await setup();
          const claims = ctx.store.standingClaims!;
          const fresh: { owner: string; msgId: string; endpointId: string; leaseExpiresAt: number }[] = [];
          const woken: (readonly string[] | null)[] = [];
          claims.onFresh((owner, deliveries) => {
            for (const d of deliveries)
              fresh.push({
                owner,
                msgId: d.msgId,
                endpointId: d.endpointId,
                leaseExpiresAt: d.leaseExpiresAt,
              });
          });
          ctx.store.onWake((ids) => woken.push(ids));
          const accept = () => ctx.store.acceptMessage({ appId: ctx.app.id, eventType: 'a', payload: '{}' });
          return { ...ctx, claims, fresh, woken, accept };
        }

        it('write the deliveries of new messages leased to the worker that stands, up to its limit, and hand them over once committed', async () => {
          const { store, app, clock, claims, fresh, woken, accept } = await standing();
          const ep = await store.createEndpoint(app.id, { url: 'https://a.example' });
          await claims.stand('w1', { leaseMs: 60_000, limit: 2, skipEndpoints: [] });
          const accepted = [await accept(), await accept(), await accept()];
          expect(fresh.map((d) => d.msgId)).toEqual(accepted.slice(0, 2).map((a) => a.message.id));
          expect(fresh.every((d) => d.owner === 'w1' && d.leaseExpiresAt === clock.now() + 60_000)).toBe(
            true,
          );
          const [first, , third] = await Promise.all(
            accepted.map((a) => store.getDelivery(a.message.id, ep.id)),
          );
          expect(first).toMatchObject({ status: 'sending', leaseOwner: 'w1' });
          // Past the limit: pending, and woken for, as without a standing claim.
          expect(third).toMatchObject({ status: 'pending', leaseOwner: null });
          expect(woken).toEqual([[ep.id]]);
        });

        it('leave the deliveries of skipped endpoints pending', async () => {
          const { store, app, claims, fresh, accept } = await standing();
          const busy = await store.createEndpoint(app.id, { url: 'https://busy.example' });
          const free = await store.createEndpoint(app.id, { url: 'https://free.example' });
          await claims.stand('w1', { leaseMs: 60_000, limit: 10, skipEndpoints: [busy.id] });
          const { message } = await accept();
          expect(fresh.map((d) => d.endpointId)).toEqual([free.id]);
          expect((await store.getDelivery(message.id, busy.id))?.status).toBe('pending');
        });

        it('are replaced by the next stand and withdrawn by their owner only', async () => {
          const { store, app, claims, fresh, accept } = await standing();
          await store.createEndpoint(app.id, { url: 'https://a.example' });
          await claims.stand('w1', { leaseMs: 60_000, limit: 10, skipEndpoints: [] });
          await claims.stand('w1', { leaseMs: 60_000, limit: 1, skipEndpoints: [] });
          await accept();
          await accept();
          expect(fresh).toHaveLength(1);
          await claims.stand('w1', { leaseMs: 60_000, limit: 10, skipEndpoints: [] });
          await claims.withdraw('w2');
          await accept();
          expect(fresh).toHaveLength(2);
          await claims.withdraw('w1');
          await accept();
          expect(fresh).toHaveLength(2);
          // A limit of 0 leaves nothing standing either.
          await claims.stand('w1', { leaseMs: 60_000, limit: 0, skipEndpoints: [] });
          await accept();
          expect(fresh).toHaveLength(2);
        });

        it("are withdrawn by their owner's next claim, until it stands again", async () => {
          const { store, app, clock, claims, fresh, accept } = await standing();
          const ep = await store.createEndpoint(app.id, { url: 'https://a.example' });
          await claims.stand('w1', { leaseMs: 60_000, limit: 10, skipEndpoints: [] });
          // Another worker's claim leaves w1's order alone.
          await store.claimDue({
            owner: 'w2',
            now: clock.now(),
            leaseMs: 60_000,
            limit: 5,
            skipEndpoints: [],
          });
          await accept();
          expect(fresh).toHaveLength(1);
          // w1's claim was sized by a room this order no longer describes: what is committed
          // before w1 stands again waits pending for a claim.
          await store.claimDue({
            owner: 'w1',
            now: clock.now(),
            leaseMs: 60_000,
            limit: 5,
            skipEndpoints: [],
          });
          const { message } = await accept();
          expect(fresh).toHaveLength(1);
          expect((await store.getDelivery(message.id, ep.id))?.status).toBe('pending');
          await claims.stand('w1', { leaseMs: 60_000, limit: 10, skipEndpoints: [] });
          await accept();
          expect(fresh).toHaveLength(2);
        });

        it('are left by a claim for the room it did not fill, in its own transaction', async () => {
          const { store, app, clock, claims, fresh, accept } = await standing();
          const busy = await store.createEndpoint(app.id, { url: 'https://busy.example' });
          const ep = await store.createEndpoint(app.id, { url: 'https://a.example' });
          await store.updateEndpoint(app.id, busy.id, { disabled: true });
          const due = await accept();
          await store.updateEndpoint(app.id, busy.id, { disabled: false });
          // One delivery is due; a claim of 3 takes it and stands for 2, skipping `busy`.
          const claimed = await claims.claim({
            owner: 'w1',
            now: clock.now(),
            leaseMs: 60_000,
            limit: 3,
            skipEndpoints: [busy.id],
          });
          expect(claimed.map((d) => d.msgId)).toEqual([due.message.id]);
          const next = [await accept(), await accept(), await accept()];
          expect(fresh.map((d) => d.msgId)).toEqual(next.slice(0, 2).map((a) => a.message.id));
          expect(fresh.every((d) => d.endpointId === ep.id)).toBe(true);
          expect((await store.getDelivery(next[0]!.message.id, busy.id))?.status).toBe('pending');
          expect((await store.getDelivery(next[2]!.message.id, ep.id))?.status).toBe('pending');
          // A claim that fills its limit leaves nothing standing.
          await claims.claim({ owner: 'w1', now: clock.now(), leaseMs: 60_000, limit: 1, skipEndpoints: [] });
          const after = await accept();
          expect(fresh).toHaveLength(2);
          expect((await store.getDelivery(after.message.id, ep.id))?.status).toBe('pending');
        });

        it('take nothing while nobody listens for fresh deliveries', async () => {
          const { store, app } = await setup();
          const ep = await store.createEndpoint(app.id, { url: 'https://a.example' });
          await store.standingClaims!.stand('w1', { leaseMs: 60_000, limit: 10, skipEndpoints: [] });
          const { message } = await store.acceptMessage({ appId: app.id, eventType: 'a', payload: '{}' });
          expect((await store.getDelivery(message.id, ep.id))?.status).toBe('pending');
        });
      },
    );

    describe('access', () => {
      it('keeps token hashes: an admin one and an application one', async () => {
        const { store, app } = await setup();
        expect(await store.hasAdminToken()).toBe(false);
        await store.saveToken('h-app', app.id);
        expect(await store.hasAdminToken()).toBe(false);
        await store.saveToken('h-admin', null);
        await store.saveToken('h-admin', null);
        expect(await store.hasAdminToken()).toBe(true);
        expect(await store.findToken('h-app')).toMatchObject({ appId: app.id, expiresAt: null });
        expect(await store.findToken('h-admin')).toMatchObject({ appId: null, expiresAt: null });
        expect(await store.findToken('h-none')).toBeNull();
      });

      it('answers an idempotency key newer than notBefore; a saved answer wins unless older than replaceBefore', async () => {
        const { store } = await setup();
        const answer = (n: number) => ({
          requestHash: `h${n}`,
          statusCode: 202,
          response: `{"n":${n}}`,
          createdAt: n * 1_000,
        });
        await store.saveIdempotent('app_1', 'k', answer(10), 0);
        expect(await store.getIdempotent('app_1', 'k', 10_000)).toEqual(answer(10));
        expect(await store.getIdempotent('app_1', 'k', 10_001)).toBeNull();
        expect(await store.getIdempotent('app_2', 'k', 0)).toBeNull();
        expect(await store.getIdempotent('app_1', 'other', 0)).toBeNull();
        // Not older than replaceBefore: the first answer stays.
        await store.saveIdempotent('app_1', 'k', answer(20), 10_000);
        expect(await store.getIdempotent('app_1', 'k', 0)).toEqual(answer(10));
        await store.saveIdempotent('app_1', 'k', answer(30), 10_001);
        expect(await store.getIdempotent('app_1', 'k', 0)).toEqual(answer(30));
      });

      it('deletes idempotency answers created before a time, oldest first, `limit` at a time', async () => {
        const { store, clock } = await setup();
        const answer = (at: number) => ({ requestHash: 'h', statusCode: 202, response: '{}', createdAt: at });
        const now = clock.now();
        for (const [scope, key, at] of [
          ['app_1', 'a', now - 3 * HOUR],
          ['app_2', 'a', now - 2 * HOUR],
          ['app_1', 'b', now - HOUR],
          ['app_1', 'c', now],
        ] as const)
          await store.saveIdempotent(scope, key, answer(at), 0);
        expect(await store.pruneIdempotent(2, now - HOUR)).toBe(2);
        expect(await store.pruneIdempotent(2, now - HOUR)).toBe(0);
        expect(await store.getIdempotent('app_1', 'a', 0)).toBeNull();
        expect(await store.getIdempotent('app_2', 'a', 0)).toBeNull();
        // Exactly at `before` is kept.
        expect(await store.getIdempotent('app_1', 'b', 0)).toEqual(answer(now - HOUR));
        // The sweep deletes what is past the API's window, batch after batch.
        const sweeper = new IdempotencySweeper({ store, clock, windowMs: 30 * 60_000, batchSize: 1 });
        const swept = waitForEvent<IdempotencySweepEvent>(sweeper, 'sweep');
        sweeper.start();
        expect(await swept).toEqual({ deleted: 1 });
        await sweeper[Symbol.asyncDispose]();
        expect(await store.getIdempotent('app_1', 'c', 0)).toEqual(answer(now));
      });
    });

    describe('sources', () => {
      it('creates, lists, logs raw requests newest first, and deletes with the log', async () => {
        const { store, app, clock } = await setup();
        const source = await store.createSource({
          name: 'GitHub',
          provider: 'github',
          secrets: ['s'],
          appId: 'shop',
        });
        expect(source).toMatchObject({ name: 'GitHub', provider: 'github', secrets: ['s'], appId: app.id });
        expect(await store.getSource(source.id)).toEqual(source);
        expect((await store.listSources({ limit: 10 })).data).toEqual([source]);
        const raw = Buffer.from([0xff, 0x00, 0x7b]);
        const recorded = [];
        for (const status of ['rejected', 'accepted'] as const) {
          recorded.push(
            await store.recordInbound({
              sourceId: source.id,
              status,
              reason: status === 'rejected' ? 'no_matching_signature' : null,
              headers: { 'x-github-event': 'push' },
              body: raw,
              bodySize: raw.length,
              msgId: null,
            }),
          );
          clock.advance(1);
        }
        const log = await store.listInbound(source.id, { limit: 10 });
        expect(log.data.map((r) => r.status)).toEqual(['accepted', 'rejected']);
        expect(log.data[1]!.body.equals(raw)).toBe(true);
        // The store stamps each request with an id and its own time.
        expect(log.data).toEqual([...recorded].reverse());
        expect(recorded.map((r) => r.createdAt)).toEqual([clock.now() - 2, clock.now() - 1]);
        expect(recorded[0]!.id).toMatch(/^inreq_/);
        await expect(
          store.createSource({ name: 'x', provider: 'github', secrets: [], appId: app.id }),
        ).rejects.toMatchObject({
          field: 'secrets',
        });
        await store.deleteSource(source.id);
        expect(await store.getSource(source.id)).toBeNull();
        expect((await store.listInbound(source.id, { limit: 10 })).data).toEqual([]);
      });

      it("keeps a cut body's original size beside the bytes kept", async () => {
        const { store } = await setup();
        const source = await store.createSource({ name: 'S', provider: 'none', secrets: [], appId: 'shop' });
        const kept = Buffer.alloc(1024, 0x61);
        await store.recordInbound(
          inbound(source.id, 1, {
            status: 'rejected',
            reason: 'no_matching_signature',
            body: kept,
            bodySize: 1 << 20,
          }),
        );
        const [row] = (await store.listInbound(source.id, { limit: 10 })).data;
        expect(row).toMatchObject({ status: 'rejected', bodySize: 1 << 20 });
        expect(row!.body.equals(kept)).toBe(true);
      });

      it('reads one logged request by its source and id: not through another source, nor once pruned', async () => {
        const { store } = await setup({ inboundRetention: { maxPerSource: 2 } });
        const a = await store.createSource({ name: 'A', provider: 'none', secrets: [], appId: 'shop' });
        const b = await store.createSource({ name: 'B', provider: 'none', secrets: [], appId: 'shop' });
        const raw = Buffer.from([0xff, 0x00, 0x7b]);
        const first = await store.recordInbound(inbound(a.id, 1));
        const replayed = await store.recordInbound(
          inbound(a.id, 2, {
            status: 'replayed',
            reason: first.id,
            body: raw,
            bodySize: raw.length,
            msgId: 'msg_2',
          }),
        );
        const got = await store.getInbound(a.id, replayed.id);
        expect(got).toEqual(replayed);
        expect(got!.body.equals(raw)).toBe(true);
        expect(await store.getInbound(a.id, first.id)).toEqual(first);
        expect(await store.getInbound(b.id, replayed.id)).toBeNull();
        expect(await store.getInbound(a.id, 'inreq_missing')).toBeNull();
        // Past the cap of 2, the first one is gone, and so is reading it.
        await store.recordInbound(inbound(a.id, 3));
        expect(await store.getInbound(a.id, first.id)).toBeNull();
        await store.deleteSource(a.id);
        expect(await store.getInbound(a.id, replayed.id)).toBeNull();
      });

      it("keeps a source's newest maxPerSource requests, pruning that source's oldest only", async () => {
        const { store } = await setup({ inboundRetention: { maxPerSource: 3 } });
        const a = await store.createSource({ name: 'A', provider: 'none', secrets: [], appId: 'shop' });
        const b = await store.createSource({ name: 'B', provider: 'none', secrets: [], appId: 'shop' });
        for (const n of [1, 2]) await store.recordInbound(inbound(a.id, n));
        for (const n of [1, 2]) await store.recordInbound(inbound(b.id, n));
        expect(await loggedNumbers(store, a.id)).toEqual([2, 1]);
        for (const n of [3, 4, 5]) await store.recordInbound(inbound(a.id, n));
        expect(await loggedNumbers(store, a.id)).toEqual([5, 4, 3]);
        expect(await loggedNumbers(store, b.id)).toEqual([2, 1]);
        // What is past the cap is gone already: the sweep finds nothing to do.
        expect(await store.pruneInbound(100)).toBe(0);
      });

      it("deletes requests older than maxAgeMs by the store's clock, at most `limit` at a time", async () => {
        const { store, clock } = await setup({ inboundRetention: { maxAgeMs: DAY } });
        const a = await store.createSource({ name: 'A', provider: 'none', secrets: [], appId: 'shop' });
        const b = await store.createSource({ name: 'B', provider: 'none', secrets: [], appId: 'shop' });
        for (const n of [1, 2, 3]) await store.recordInbound(inbound(a.id, n));
        await store.recordInbound(inbound(b.id, 1));
        // Exactly maxAgeMs old is still kept.
        clock.advance(DAY);
        expect(await store.pruneInbound(10)).toBe(0);
        await store.recordInbound(inbound(a.id, 4));
        clock.advance(1);
        expect(await store.pruneInbound(3)).toBe(3);
        expect(await store.pruneInbound(3)).toBe(1);
        expect(await store.pruneInbound(3)).toBe(0);
        expect(await loggedNumbers(store, a.id)).toEqual([4]);
        expect(await loggedNumbers(store, b.id)).toEqual([]);
      });

      it('expunges bodies older than bodyMaxAgeMs, oldest first and `limit` at a time, keeping the rows', async () => {
        const { store, clock } = await setup({ inboundRetention: { maxAgeMs: 3 * DAY, bodyMaxAgeMs: DAY } });
        const a = await store.createSource({ name: 'A', provider: 'none', secrets: [], appId: 'shop' });
        const b = await store.createSource({ name: 'B', provider: 'none', secrets: [], appId: 'shop' });
        for (const n of [1, 2]) await store.recordInbound(inbound(a.id, n));
        const cut = await store.recordInbound(
          inbound(b.id, 3, { status: 'rejected', reason: 'no_matching_signature', bodySize: 1 << 20 }),
        );
        clock.advance(DAY); // exactly bodyMaxAgeMs old: kept
        expect(await store.expireInboundBodies(10)).toBe(0);
        const young = await store.recordInbound(inbound(a.id, 4));
        clock.advance(1);
        expect(await store.expireInboundBodies(2)).toBe(2);
        expect(await store.expireInboundBodies(2)).toBe(1);
        expect(await store.expireInboundBodies(2)).toBe(0);
        const rows = [
          ...(await store.listInbound(a.id, { limit: 10 })).data,
          await store.getInbound(b.id, cut.id),
        ];
        expect(rows.map((r) => [r!.headers['x-n'], r!.body.length, r!.bodyExpungedAt])).toEqual([
          ['4', young.body.length, null],
          ['2', 0, clock.now()],
          ['1', 0, clock.now()],
          ['3', 0, clock.now()],
        ]);
        // Everything but the body is kept: status, reason, headers, the size as received.
        expect(rows[3]).toMatchObject({
          status: 'rejected',
          reason: 'no_matching_signature',
          bodySize: 1 << 20,
        });
        clock.advance(DAY);
        expect(await store.expireInboundBodies(10)).toBe(1);
        expect((await store.getInbound(a.id, young.id))!.bodyExpungedAt).toBe(clock.now());
        // The rows go at maxAgeMs, expunged or not.
        clock.advance(DAY);
        expect(await store.pruneInbound(10)).toBe(3);
        expect(await loggedNumbers(store, a.id)).toEqual([4]);
      });

      it('keeps bodies with their rows when bodyMaxAgeMs is null (the default)', async () => {
        const { store, clock } = await setup({ inboundRetention: { maxAgeMs: 3 * DAY } });
        const a = await store.createSource({ name: 'A', provider: 'none', secrets: [], appId: 'shop' });
        const first = await store.recordInbound(inbound(a.id, 1));
        clock.advance(2 * DAY);
        expect(await store.expireInboundBodies(10)).toBe(0);
        expect(await store.getInbound(a.id, first.id)).toEqual(first);
        expect(first.bodyExpungedAt).toBeNull();
      });

      it('applies a lowered cap to every source at the next prune, then to each new request', async () => {
        const { store, reopen } = await setup();
        const a = await store.createSource({ name: 'A', provider: 'none', secrets: [], appId: 'shop' });
        const b = await store.createSource({ name: 'B', provider: 'none', secrets: [], appId: 'shop' });
        for (const n of [1, 2, 3, 4, 5]) await store.recordInbound(inbound(a.id, n));
        for (const n of [1, 2, 3]) await store.recordInbound(inbound(b.id, n));
        const capped = await reopen({ inboundRetention: { maxPerSource: 2 } });
        try {
          expect(await capped.pruneInbound(3)).toBe(3);
          expect(await capped.pruneInbound(3)).toBe(1);
          expect(await loggedNumbers(capped, a.id)).toEqual([5, 4]);
          expect(await loggedNumbers(capped, b.id)).toEqual([3, 2]);
          await capped.recordInbound(inbound(a.id, 6));
          expect(await loggedNumbers(capped, a.id)).toEqual([6, 5]);
        } finally {
          await capped[Symbol.asyncDispose]();
        }
      });

      it('refuses retention options out of range, naming the option', async () => {
        const clock = new ManualClock();
        for (const [inboundRetention, field] of [
          [{ maxPerSource: 0 }, 'inboundRetention.maxPerSource'],
          [{ maxPerSource: 1.5 }, 'inboundRetention.maxPerSource'],
          [{ maxAgeMs: -1 }, 'inboundRetention.maxAgeMs'],
          [{ maxAgeMs: Number.POSITIVE_INFINITY }, 'inboundRetention.maxAgeMs'],
          [{ bodyMaxAgeMs: 0 }, 'inboundRetention.bodyMaxAgeMs'],
          [{ bodyMaxAgeMs: 0.5 }, 'inboundRetention.bodyMaxAgeMs'],
        ] as const) {
          await expect(open(clock, { inboundRetention })).rejects.toMatchObject({
            code: 'validation',
            field,
          });
        }
      });

      it('updates name, secrets and passthrough in place, checked like a new source', async () => {
        const { store, clock } = await setup();
        const source = await store.createSource({
          name: 'Stripe',
          provider: 'stripe',
          secrets: ['old'],
          appId: 'shop',
        });
        clock.advance(1_000);
        const updated = await store.updateSource(source.id, {
          secrets: ['new', 'old'],
          passthroughHeaders: true,
        });
        expect(updated).toEqual({
          ...source,
          secrets: ['new', 'old'],
          passthroughHeaders: true,
          updatedAt: source.createdAt + 1_000,
        });
        expect(await store.getSource(source.id)).toEqual(updated);
        expect(await store.updateSource(source.id, { name: ' Stripe live ' })).toMatchObject({
          name: 'Stripe live',
          secrets: ['new', 'old'],
        });
        // A signed provider needs a secret; what is refused leaves the source as it was.
        await expect(store.updateSource(source.id, { secrets: [] })).rejects.toMatchObject({
          field: 'secrets',
        });
        expect((await store.getSource(source.id))!.secrets).toEqual(['new', 'old']);
        await expect(store.updateSource('src_missing', { name: 'x' })).rejects.toThrow(/not found/);
      });
    });

    it('keeps everything across a reopen', async () => {
      const { store, reopen, app } = await setup();
      const ep = await store.createEndpoint(app.id, { url: 'https://a.example' });
      const { message } = await store.acceptMessage({ appId: app.id, eventType: 'a', payload: '{"k":"v"}' });
      await store[Symbol.asyncDispose]();
      const again = await reopen();
      try {
        expect(await again.getEndpoint(app.id, ep.id)).toEqual(ep);
        expect(await again.getMessage(app.id, message.id)).toEqual(message);
        expect((await again.getDelivery(message.id, ep.id))!.status).toBe('pending');
      } finally {
        await again[Symbol.asyncDispose]();
      }
    });
  });
}

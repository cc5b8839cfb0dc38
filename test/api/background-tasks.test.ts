/**
 * Background tasks through the official `svix` SDK against a real server on 127.0.0.1:
 * recover, replay-missing and bulk-replay answer at once with a running `qtask_` task, the
 * task runner does the work in batches, and `GET /api/v1/background-task` reports it. A
 * runner stopped or killed between batches leaves the task to the next one, which resumes
 * it; a task nobody can finish fails visibly. The store's clock is a manual one (the API
 * checks a recover's 14 days against it), so leases expire when the test says so.
 */
import type { FastifyInstance } from 'fastify';
import { BackgroundTaskStatus, BackgroundTaskType, Svix } from 'svix';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { StoreUnavailableError, ValidationError } from '../../src/core/errors.js';
import type { BackgroundTask } from '../../src/core/types.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, type TestStore } from '../store-under-test.js';
import { failure, settled } from './svix-calls.js';

const ADMIN = 'background-tasks-admin';
const LEASE_MS = 60_000;

interface Server {
  api: FastifyInstance;
  svix: Svix;
  url: string;
}

let testStore: TestStore | null = null;
const servers: FastifyInstance[] = [];
afterEach(async () => {
  for (const api of servers.splice(0)) await api.close();
  await testStore?.close();
  testStore = null;
});

async function serve(store: Store, clock: ManualClock, batchSize = 2): Promise<Server> {
  const api = await buildApi({ store, clock, tasks: { batchSize, leaseMs: LEASE_MS } });
  servers.push(api);
  const url = await api.listen({ port: 0, host: '127.0.0.1' });
  return { api, url, svix: new Svix(ADMIN, { serverUrl: url }) };
}

async function setup(batchSize = 2) {
  const clock = new ManualClock(Date.now());
  testStore = await openTestStore('background-tasks', { clock });
  await testStore.store.saveToken(hashToken(ADMIN), null);
  return { clock, store: testStore.store, ...(await serve(testStore.store, clock, batchSize)) };
}

/**
 * An application whose endpoint has `count` failed deliveries (it was disabled while they
 * waited); `tagsOf` gives the tags of the i-th message, if any.
 */
async function failedDeliveries(
  store: Store,
  clock: ManualClock,
  count: number,
  tagsOf: (i: number) => string[] | null = () => null,
) {
  const app = await store.createApplication({ name: 'Outage' });
  const ep = await store.createEndpoint(app.id, { url: 'http://127.0.0.1:9/hook' });
  const start = clock.now();
  const msgs = [];
  for (let i = 0; i < count; i++) {
    clock.advance(1);
    msgs.push(
      (
        await store.acceptMessage({
          appId: app.id,
          eventType: 'order.paid',
          payload: `{"i":${i}}`,
          ...(tagsOf(i) ? { tags: tagsOf(i)! } : {}),
        })
      ).message,
    );
  }
  await store.updateEndpoint(app.id, ep.id, { disabled: true });
  await store.updateEndpoint(app.id, ep.id, { disabled: false });
  clock.advance(1_000);
  return { app, ep, msgs, since: new Date(start) };
}

describe('recover, replay-missing and bulk-replay run as background tasks', () => {
  it('recover answers at once with a running task; the runner recovers in batches and reports the count', async () => {
    const { svix, store, clock, api } = await setup(2);
    const { app, ep, msgs, since } = await failedDeliveries(store, clock, 5);
    const batches: BackgroundTask[] = [];
    api.tasks.events.on('batch', (t: BackgroundTask) => batches.push(t));
    const started = await svix.endpoint.recover(app.id, ep.id, { since });
    expect(started).toMatchObject({
      status: BackgroundTaskStatus.Running,
      task: BackgroundTaskType.EndpointRecover,
    });
    expect(started.id).toMatch(/^qtask_/);
    expect(started.updatedAt).toBeInstanceOf(Date);
    const done = await settled(svix, started.id);
    expect(done).toMatchObject({
      id: started.id,
      status: BackgroundTaskStatus.Finished,
      task: BackgroundTaskType.EndpointRecover,
      data: { deliveries: 5, since: since.toISOString(), until: null },
    });
    // Five failed deliveries, two a batch: three batches, each recorded as it went.
    expect(batches.map((b) => b.data.deliveries)).toEqual([2, 4, 5]);
    const states = await Promise.all(msgs.map((m) => store.getDelivery(m.id, ep.id)));
    expect(states.every((d) => d!.status === 'pending' && d!.dueAt === clock.now())).toBe(true);
  });

  it('replay-missing creates what the endpoint never got, as a task', async () => {
    const { svix, store, clock } = await setup(2);
    const app = await store.createApplication({ name: 'Late' });
    const since = new Date(clock.now());
    for (let i = 0; i < 3; i++) {
      clock.advance(1);
      await store.acceptMessage({ appId: app.id, eventType: 'order.paid', payload: '{}' });
    }
    const late = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/late' });
    const started = await svix.endpoint.replayMissing(app.id, late.id, { since });
    expect(started).toMatchObject({
      status: BackgroundTaskStatus.Running,
      task: BackgroundTaskType.EndpointReplay,
    });
    expect((await settled(svix, started.id)).data).toMatchObject({ deliveries: 3 });
    expect(await store.countDeliveries(late.id)).toMatchObject({ pending: 3 });
  });

  it('bulk-replay sends again the deliveries its filters pick', async () => {
    const { svix, store, clock } = await setup(2);
    const { app, ep, msgs, since } = await failedDeliveries(store, clock, 3);
    await store.acceptMessage({ appId: app.id, eventType: 'other.event', payload: '{}', channels: ['eu'] });
    const started = await svix.endpoint.bulkReplay(app.id, ep.id, {
      since,
      eventTypes: ['order.paid'],
      status: 2 as never, // MessageStatus.Fail
    });
    expect(started).toMatchObject({
      status: BackgroundTaskStatus.Running,
      task: BackgroundTaskType.EndpointBulkReplay,
    });
    expect((await settled(svix, started.id)).data).toMatchObject({ deliveries: 3 });
    for (const m of msgs) expect((await store.getDelivery(m.id, ep.id))!.status).toBe('pending');
  });

  it("bulk-replay's tag picks the deliveries of the messages carrying it", async () => {
    const { svix, store, clock } = await setup(2);
    const { app, ep, msgs, since } = await failedDeliveries(store, clock, 3, (i) =>
      i === 1 ? ['other'] : ['vip', 'eu'],
    );
    const started = await svix.endpoint.bulkReplay(app.id, ep.id, { since, tag: 'vip' });
    expect((await settled(svix, started.id)).data).toMatchObject({ deliveries: 2 });
    const states = await Promise.all(msgs.map(async (m) => (await store.getDelivery(m.id, ep.id))!.status));
    expect(states).toEqual(['pending', 'failed', 'pending']);
  });

  it('recover reaches 14 days back at most: further is a 422 naming since', async () => {
    const { svix, store, clock } = await setup();
    const { app, ep } = await failedDeliveries(store, clock, 1);
    const old = new Date(clock.now() - 15 * 86_400_000);
    const refused = await failure(svix.endpoint.recover(app.id, ep.id, { since: old }));
    expect(refused.code).toBe(422);
    expect((refused.body as { detail: { loc: string[]; msg: string }[] }).detail[0]).toMatchObject({
      loc: ['body', 'since'],
      msg: expect.stringContaining('14 days'),
    });
    const edge = new Date(clock.now() - 14 * 86_400_000 + 1_000);
    expect((await svix.endpoint.recover(app.id, ep.id, { since: edge })).status).toBe('running');
    // replay-missing has no such limit.
    expect((await svix.endpoint.replayMissing(app.id, ep.id, { since: old })).status).toBe('running');
  });
});

describe('GET /api/v1/background-task', () => {
  it('lists newest first with status and task filters and an iterator; an application token sees its own only', async () => {
    const { svix, store, clock, url } = await setup();
    const a = await failedDeliveries(store, clock, 1);
    const b = await failedDeliveries(store, clock, 1);
    const t1 = await svix.endpoint.recover(a.app.id, a.ep.id, { since: a.since });
    const t2 = await svix.endpoint.replayMissing(a.app.id, a.ep.id, { since: a.since });
    const t3 = await svix.endpoint.recover(b.app.id, b.ep.id, { since: b.since });
    for (const t of [t1, t2, t3]) await settled(svix, t.id);

    const first = await svix.backgroundTask.list({ limit: 2 });
    expect(first.data.map((t) => t.id)).toEqual([t3.id, t2.id]);
    expect(first.done).toBe(false);
    const rest = await svix.backgroundTask.list({ limit: 2, iterator: first.iterator });
    expect(rest.data.map((t) => t.id)).toEqual([t1.id]);
    expect(rest.done).toBe(true);
    expect(rest.data[0]).toMatchObject({ status: 'finished', data: { deliveries: 1 } });
    const recovers = await svix.backgroundTask.list({ task: BackgroundTaskType.EndpointRecover });
    expect(recovers.data.map((t) => t.id)).toEqual([t3.id, t1.id]);
    expect((await svix.backgroundTask.list({ status: BackgroundTaskStatus.Running })).data).toEqual([]);
    expect((await svix.backgroundTask.list({ status: BackgroundTaskStatus.Finished })).data).toHaveLength(3);
    const ascending = await svix.backgroundTask.list({ order: 'ascending' as never });
    expect(ascending.data.map((t) => t.id)).toEqual([t1.id, t2.id, t3.id]);

    // An application's token: its tasks only; another's task is not found.
    const portal = await svix.authentication.appPortalAccess(a.app.id, {});
    const own = new Svix(portal.token, { serverUrl: url });
    expect((await own.backgroundTask.list()).data.map((t) => t.id)).toEqual([t2.id, t1.id]);
    expect((await own.backgroundTask.get(t1.id)).id).toBe(t1.id);
    expect((await failure(own.backgroundTask.get(t3.id))).code).toBe(404);
    expect((await failure(svix.backgroundTask.get('qtask_unknown'))).code).toBe(404);
  });

  it('refuses a filter value it does not know with 422 naming the query parameter', async () => {
    const { url } = await setup();
    for (const query of ['status=done', 'task=endpoint.nothing', 'limit=0']) {
      const res = await fetch(`${url}/api/v1/background-task?${query}`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(res.status, query).toBe(422);
      expect(await res.text()).toContain(query.split('=')[0]!);
    }
  });
});

describe('a restart during a task', () => {
  it('a server stopped between batches gives the task back, and the next one resumes it at its cursor', async () => {
    const { svix, store, clock, api } = await setup(2);
    const { app, ep, msgs, since } = await failedDeliveries(store, clock, 6);
    // Stop the runner right after the first batch is recorded.
    api.tasks.events.once('batch', () => void api.tasks.stop());
    const given = new Promise((resolve) => api.tasks.events.once('settled', resolve));
    const started = await svix.endpoint.recover(app.id, ep.id, { since });
    await given;
    const paused = (await store.getTask(started.id))!;
    expect(paused).toMatchObject({ status: 'running', leaseOwner: null, data: { deliveries: 2 } });
    expect(paused.cursor).not.toBeNull();
    await api.close();
    servers.splice(servers.indexOf(api), 1);

    // The next server takes it over as it starts, with no wait for a lease.
    const next = await serve(store, clock, 2);
    const done = await settled(next.svix, started.id);
    expect(done).toMatchObject({ status: 'finished', data: { deliveries: 6 } });
    // A run given back is not an interruption: restarts (deploys) never wear a task out.
    expect((await store.getTask(started.id))!.runs).toBe(1);
    for (const m of msgs) expect((await store.getDelivery(m.id, ep.id))!.status).toBe('pending');
  });

  it('a server whose store goes away mid-task leaves it running; once its lease expires another runner finishes it', async () => {
    const { svix, store, clock, api } = await setup(1);
    const { app, ep, msgs, since } = await failedDeliveries(store, clock, 6);
    // The store closes under the runner after its first batch, as when the process dies:
    // nothing is given back, nothing is marked.
    let closed: PromiseLike<void> | null = null;
    api.tasks.events.once('batch', () => {
      closed = store[Symbol.asyncDispose]();
    });
    const stopped = new Promise((resolve) => api.tasks.events.once('settled', resolve));
    const started = await svix.endpoint.recover(app.id, ep.id, { since });
    await stopped;
    await closed;

    const again = await testStore!.reopen();
    const orphan = (await again.getTask(started.id))!;
    expect(orphan.status).toBe('running');
    expect(orphan.leaseOwner).toBe(api.tasks.owner);
    expect(orphan.data.deliveries).toBeGreaterThanOrEqual(1);
    expect(orphan.data.deliveries).toBeLessThan(6);

    // Another server on the same data waits for the dead runner's lease, then takes over.
    const next = await serve(again, clock, 1);
    const stillHeld = await next.svix.backgroundTask.get(started.id);
    expect(stillHeld.status).toBe('running');
    expect((await again.getTask(started.id))!.leaseOwner).toBe(api.tasks.owner);
    clock.advance(LEASE_MS);
    const done = await settled(next.svix, started.id);
    expect(done.status).toBe('finished');
    // A batch cut by the crash may be counted by neither runner; every delivery is recovered all the same.
    expect(done.data.deliveries).toBeGreaterThanOrEqual(5);
    expect((await again.getTask(started.id))!.runs).toBe(2);
    for (const m of msgs) expect((await again.getDelivery(m.id, ep.id))!.status).toBe('pending');
  });

  it("shows a reader Herald's own reasons only; a store that is away pauses a task instead of failing it", async () => {
    const { store, clock, api: plain } = await setup();
    // Only the server that knows these kinds may take them over.
    await plain.close();
    servers.splice(servers.indexOf(plain), 1);
    const { app } = await failedDeliveries(store, clock, 1);
    const steps: string[] = [];
    const handler = (kind: string, fault: () => Error) => ({
      kind,
      async step() {
        steps.push(kind);
        if (kind === 'test.flaky' && steps.filter((k) => k === kind).length > 1)
          return { cursor: null, data: { ok: true }, done: true };
        throw fault();
      },
    });
    const api = await buildApi({
      store,
      clock,
      tasks: {
        batchSize: 2,
        leaseMs: LEASE_MS,
        handlers: [
          handler('test.driver', () => new Error('relation "secret_table" does not exist')),
          handler('test.herald', () => new ValidationError('since', 'is too far back')),
          handler('test.flaky', () => new StoreUnavailableError('the database is unreachable')),
        ],
      },
    });
    servers.push(api);
    await api.ready();
    const submit = (kind: string) =>
      api.tasks.submit({ kind, appId: app.id, endpointId: null, params: {}, data: {} });
    const driver = await submit('test.driver');
    const herald = await submit('test.herald');
    const flaky = await submit('test.flaky');
    await api.tasks.idle();
    expect((await store.getTask(driver.id))!).toMatchObject({
      status: 'failed',
      data: { error: 'an internal error stopped it (the server log has the cause)' },
    });
    expect((await store.getTask(herald.id))!.data.error).toBe('since: is too far back');
    // Given back, not failed: the next takeover resumes it and it finishes.
    expect((await store.getTask(flaky.id))!).toMatchObject({ status: 'running', leaseOwner: null });
    clock.advance(LEASE_MS);
    await vi.waitFor(async () => expect((await store.getTask(flaky.id))!.status).toBe('finished'));
  });

  it('a task whose runners keep dying, or whose kind no handler knows, fails visibly instead of running forever', async () => {
    const { store, clock, api, svix } = await setup();
    await api.close();
    servers.splice(servers.indexOf(api), 1);
    const { app, ep } = await failedDeliveries(store, clock, 1);
    const base = {
      appId: app.id,
      endpointId: ep.id,
      params: { since: 0, until: null },
      data: { deliveries: 0 },
      owner: 'dead-runner',
      leaseMs: 1,
    };
    const doomed = await store.createTask({ ...base, kind: 'endpoint.recover' });
    // Its first runner and five more took it and died during it.
    for (let i = 0; i < 5; i++) {
      clock.advance(LEASE_MS);
      expect(await store.claimTasks(`dead-${i}`, 1, 10)).toHaveLength(1);
    }
    const stranger = await store.createTask({ ...base, kind: 'application.stats' });
    clock.advance(LEASE_MS);
    const next = await serve(store, clock);
    const failed = await settled(next.svix, doomed.id);
    expect(failed.status).toBe('failed');
    expect(String(failed.data.error)).toMatch(/interrupted 6 times/);
    const unknown = await settled(svix, stranger.id).catch(() => settled(next.svix, stranger.id));
    expect(unknown).toMatchObject({
      status: 'failed',
      data: { error: expect.stringContaining('no handler') },
    });
  });
});

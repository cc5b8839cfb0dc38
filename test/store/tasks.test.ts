/**
 * Contract cases of the background-task records and batches, on both backends: task rows and
 * their leases (create, claim, advance, release, list), the batch methods the endpoint tasks
 * run (recover, replay-missing, bulk-replay), the windowed delivery counts, and Svix's
 * create of event types.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { ConflictError } from '../../src/core/errors.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { NewTask, Store } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';
import { PG_URL } from '../pg.js';

const dir = tempDir();
const schemas: string[] = [];
let n = 0;

afterAll(async () => {
  dir.remove();
  const client = new pg.Client(PG_URL);
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
});

/** Opens a fresh store on `clock`, and a function that opens its data again. */
type Open = (clock: ManualClock) => Promise<{ store: Store; reopen: () => Promise<Store> }>;

const BACKENDS: [string, Open][] = [
  [
    'sqlite',
    async (clock) => {
      const path = dir.path(`tasks-${n++}.db`);
      return {
        store: openSqliteStore({ path, clock }),
        reopen: async () => openSqliteStore({ path, clock }),
      };
    },
  ],
  [
    'postgres',
    async (clock) => {
      const schema = `t${process.pid}_${Date.now().toString(36)}_tasks_${n++}`;
      schemas.push(schema);
      const again = () => openPostgresStore({ url: PG_URL, schema, clock, poolSize: 3 });
      return { store: await again(), reopen: again };
    },
  ],
];

const task = (fields: Partial<NewTask> = {}): NewTask => ({
  kind: 'endpoint.recover',
  appId: 'app_x',
  endpointId: 'ep_x',
  params: { since: 0, until: null },
  data: { deliveries: 0 },
  owner: 'runner-a',
  leaseMs: 60_000,
  ...fields,
});

describe.each(BACKENDS)('%s', (_name, open) => {
  let store: Store;
  let clock: ManualClock;
  let reopen: () => Promise<Store>;
  const fresh = async () => {
    clock = new ManualClock();
    ({ store, reopen } = await open(clock));
    return store;
  };
  afterEach(async () => {
    await store?.[Symbol.asyncDispose]();
  });

  describe('task rows', () => {
    it('a new task is running, held by its creator, with its params and data as given', async () => {
      await fresh();
      const created = await store.createTask(task({ params: { since: 5, until: 9 } }));
      expect(created).toMatchObject({
        kind: 'endpoint.recover',
        status: 'running',
        appId: 'app_x',
        endpointId: 'ep_x',
        params: { since: 5, until: 9 },
        data: { deliveries: 0 },
        cursor: null,
        runs: 1,
        leaseOwner: 'runner-a',
        leaseExpiresAt: clock.now() + 60_000,
        createdAt: clock.now(),
      });
      expect(created.id).toMatch(/^qtask_[0-9A-Za-z]{27}$/);
      expect(await store.getTask(created.id)).toEqual(created);
      expect(await store.getTask('qtask_none')).toBeNull();
    });

    it('a held task is not claimed until its lease expires; then it is, with a run counted', async () => {
      await fresh();
      const t = await store.createTask(task());
      expect(await store.claimTasks('runner-b', 60_000, 10)).toEqual([]);
      clock.advance(60_000);
      const [taken] = await store.claimTasks('runner-b', 30_000, 10);
      expect(taken).toMatchObject({
        id: t.id,
        runs: 2,
        leaseOwner: 'runner-b',
        leaseExpiresAt: clock.now() + 30_000,
      });
      // The first runner lost it: its progress is not recorded.
      expect(
        await store.advanceTask(t.id, 'runner-a', { cursor: 'x', data: {}, status: 'running', leaseMs: 1 }),
      ).toBe(false);
      expect(await store.claimTasks('runner-c', 60_000, 10)).toEqual([]);
    });

    it('advance records cursor and data and renews the lease; finishing frees it for good', async () => {
      await fresh();
      const t = await store.createTask(task());
      clock.advance(50_000);
      expect(
        await store.advanceTask(t.id, 'runner-a', {
          cursor: 'dlv_1',
          data: { deliveries: 3 },
          status: 'running',
          leaseMs: 60_000,
        }),
      ).toBe(true);
      expect(await store.getTask(t.id)).toMatchObject({
        cursor: 'dlv_1',
        data: { deliveries: 3 },
        status: 'running',
        leaseExpiresAt: clock.now() + 60_000,
        updatedAt: clock.now(),
      });
      clock.advance(30_000);
      expect(await store.claimTasks('runner-b', 60_000, 10)).toEqual([]);
      expect(
        await store.advanceTask(t.id, 'runner-a', {
          cursor: null,
          data: { deliveries: 4 },
          status: 'finished',
          leaseMs: 60_000,
        }),
      ).toBe(true);
      expect(await store.getTask(t.id)).toMatchObject({
        status: 'finished',
        data: { deliveries: 4 },
        leaseOwner: null,
        leaseExpiresAt: null,
      });
      clock.advance(120_000);
      expect(await store.claimTasks('runner-b', 60_000, 10)).toEqual([]);
      expect(
        await store.advanceTask(t.id, 'runner-a', { cursor: null, data: {}, status: 'failed', leaseMs: 1 }),
      ).toBe(false);
      expect((await store.getTask(t.id))!.status).toBe('finished');
    });

    it('a task given back is claimed at once, by another runner or the same one restarted', async () => {
      await fresh();
      const t = await store.createTask(task());
      await store.releaseTask(t.id, 'runner-b'); // not its holder: nothing changes
      expect(await store.claimTasks('runner-b', 60_000, 10)).toEqual([]);
      await store.releaseTask(t.id, 'runner-a');
      // The run given back is not counted: the next runner's run is the first.
      expect(await store.claimTasks('runner-b', 60_000, 10)).toMatchObject([{ id: t.id, runs: 1 }]);
    });

    it('survives a reopen: a task is durable with its progress', async () => {
      const first = await fresh();
      const t = await first.createTask(task());
      await first.advanceTask(t.id, 'runner-a', {
        cursor: 'c',
        data: { deliveries: 2 },
        status: 'running',
        leaseMs: 10,
      });
      await first[Symbol.asyncDispose]();
      store = await reopen();
      clock.advance(10);
      expect(await store.claimTasks('runner-b', 60_000, 10)).toMatchObject([
        { id: t.id, cursor: 'c', data: { deliveries: 2 }, runs: 2 },
      ]);
    });

    it('lists newest first or oldest first, by application, status and kind, page by page', async () => {
      await fresh();
      const made = [];
      for (let i = 0; i < 5; i++) {
        clock.advance(1);
        made.push(
          await store.createTask(
            task({
              appId: i % 2 ? 'app_b' : 'app_a',
              kind: i === 4 ? 'endpoint.replay' : 'endpoint.recover',
            }),
          ),
        );
      }
      await store.advanceTask(made[0]!.id, 'runner-a', {
        cursor: null,
        data: {},
        status: 'failed',
        leaseMs: 1,
      });
      const ids = (page: { data: { id: string }[] }) => page.data.map((t) => t.id);
      const first = await store.listTasks({}, { limit: 2 });
      expect(ids(first)).toEqual([made[4]!.id, made[3]!.id]);
      expect(first.done).toBe(false);
      const second = await store.listTasks({}, { limit: 2, iterator: first.iterator });
      expect(ids(second)).toEqual([made[2]!.id, made[1]!.id]);
      const last = await store.listTasks({}, { limit: 2, iterator: second.iterator });
      expect(ids(last)).toEqual([made[0]!.id]);
      expect(last.done).toBe(true);
      expect(ids(await store.listTasks({}, { limit: 10, order: 'ascending' }))).toEqual(
        made.map((t) => t.id),
      );
      expect(ids(await store.listTasks({ appId: 'app_b' }, { limit: 10 }))).toEqual([
        made[3]!.id,
        made[1]!.id,
      ]);
      expect(ids(await store.listTasks({ status: 'failed' }, { limit: 10 }))).toEqual([made[0]!.id]);
      expect(ids(await store.listTasks({ kind: 'endpoint.replay' }, { limit: 10 }))).toEqual([made[4]!.id]);
      expect(ids(await store.listTasks({ appId: 'app_a', status: 'running' }, { limit: 10 }))).toEqual([
        made[4]!.id,
        made[2]!.id,
      ]);
    });
  });

  /** An application with an endpoint and `count` messages to it, a millisecond apart. */
  async function withMessages(count: number, channels: (i: number) => string[] | null = () => null) {
    const app = await store.createApplication({ name: 'A' });
    const ep = await store.createEndpoint(app.id, { url: 'http://127.0.0.1:9/hook' });
    const msgs = [];
    for (let i = 0; i < count; i++) {
      clock.advance(1);
      const { message } = await store.acceptMessage({
        appId: app.id,
        eventType: i % 2 ? 'odd.event' : 'even.event',
        channels: channels(i),
        payload: `{"i":${i}}`,
      });
      msgs.push(message);
    }
    return { app, ep, msgs };
  }

  describe('batches of the endpoint tasks', () => {
    it('recoverBatch makes failed deliveries of the window due, a batch at a time from the cursor', async () => {
      await fresh();
      const { app, ep, msgs } = await withMessages(5);
      // Disabling fails what is pending; enabled again, those wait for a recover.
      await store.updateEndpoint(app.id, ep.id, { disabled: true });
      await store.updateEndpoint(app.id, ep.id, { disabled: false });
      clock.advance(1_000);
      const window = { since: msgs[1]!.createdAt, until: msgs[4]!.createdAt };
      const one = await store.recoverBatch(ep.id, window, null, 2);
      expect(one.count).toBe(2);
      expect(one.next).not.toBeNull();
      const two = await store.recoverBatch(ep.id, window, one.next, 2);
      expect(two).toEqual({ count: 1, next: null });
      const states = await Promise.all(msgs.map((m) => store.getDelivery(m.id, ep.id)));
      expect(states.map((d) => d!.status)).toEqual(['failed', 'pending', 'pending', 'pending', 'failed']);
      expect(states[2]!.dueAt).toBe(clock.now());
      // Again over the same ids: nothing is failed there any more.
      expect(await store.recoverBatch(ep.id, window, null, 10)).toEqual({ count: 0, next: null });
    });

    it('a batch reads at most its limit, matching or not, so a long scan is many short transactions', async () => {
      await fresh();
      const { ep, msgs } = await withMessages(5); // all pending: nothing for a recover
      const window = { since: msgs[0]!.createdAt, until: null };
      const one = await store.recoverBatch(ep.id, window, null, 2);
      expect(one.count).toBe(0);
      expect(one.next).not.toBeNull();
      const two = await store.recoverBatch(ep.id, window, one.next, 2);
      expect(two.next).not.toBeNull();
      expect(await store.recoverBatch(ep.id, window, two.next, 2)).toEqual({ count: 0, next: null });
      // Past the window's end nothing is read at all.
      const before = { since: msgs[0]!.createdAt - 10, until: msgs[0]!.createdAt };
      expect(await store.recoverBatch(ep.id, before, null, 2)).toEqual({ count: 0, next: null });
    });

    it('replayMissingBatch creates the deliveries an endpoint should have had, once each', async () => {
      await fresh();
      const { app, msgs } = await withMessages(5);
      const late = await store.createEndpoint(app.id, {
        url: 'http://127.0.0.1:9/late',
        filterTypes: ['even.event'],
      });
      const window = { since: msgs[0]!.createdAt, until: null };
      const one = await store.replayMissingBatch(late.id, window, null, 3);
      expect(one.count).toBe(2); // messages 0 and 2 of the first three
      const two = await store.replayMissingBatch(late.id, window, one.next, 3);
      expect(two).toEqual({ count: 1, next: null });
      const got = await Promise.all(msgs.map((m) => store.getDelivery(m.id, late.id)));
      expect(got.map((d) => d?.status ?? null)).toEqual(['pending', null, 'pending', null, 'pending']);
      expect(await store.replayMissingBatch(late.id, window, null, 10)).toEqual({ count: 0, next: null });
      await expect(store.replayMissingBatch('ep_unknown', window, null, 10)).rejects.toThrow(/not found/);
      // A disabled endpoint gets nothing.
      const off = await store.createEndpoint(app.id, { url: 'http://127.0.0.1:9/off', disabled: true });
      expect((await store.replayMissingBatch(off.id, window, null, 10)).count).toBe(0);
    });

    it('bulkReplayBatch sends again what matches its filters, whatever its state, but not what is being sent', async () => {
      await fresh();
      const { app, ep, msgs } = await withMessages(6, (i) => (i < 3 ? ['eu'] : ['us']));
      // Attempt messages 0 and 1: 0 succeeds with 200, 1 fails with 500; 2 is left leased.
      const claimed = await store.claimDue({
        owner: 'w',
        now: clock.now(),
        leaseMs: 60_000,
        limit: 3,
        skipEndpoints: [],
      });
      expect(claimed).toHaveLength(3);
      const attempt = (i: number, status: number) => ({
        id: `atmpt_${String(i).padStart(27, '0')}`,
        deliveryId: claimed[i]!.id,
        msgId: claimed[i]!.msgId,
        endpointId: ep.id,
        appId: app.id,
        url: ep.url,
        trigger: 'scheduled' as const,
        succeeded: status < 300,
        statusCode: status,
        responseBody: '',
        durationMs: 1,
        errorKind: status < 300 ? null : ('http_status' as const),
        errorMessage: null,
        requestHeaders: {},
        createdAt: clock.now(),
      });
      await store.complete(
        [
          {
            owner: 'w',
            deliveryId: claimed[0]!.id,
            endpointId: ep.id,
            attempt: attempt(0, 200),
            next: { status: 'succeeded' },
            disableEndpoint: false,
          },
          {
            owner: 'w',
            deliveryId: claimed[1]!.id,
            endpointId: ep.id,
            attempt: attempt(1, 500),
            next: { status: 'failed', exhausted: true },
            disableEndpoint: false,
          },
        ],
        clock.now(),
        86_400_000,
      );
      const window = { since: msgs[0]!.createdAt, until: null };
      const state = async () =>
        (await Promise.all(msgs.map((m) => store.getDelivery(m.id, ep.id)))).map((d) => d!.status);
      expect(await state()).toEqual(['succeeded', 'failed', 'sending', 'pending', 'pending', 'pending']);

      expect((await store.bulkReplayBatch(ep.id, { ...window, statusCodeClass: 500 }, null, 10)).count).toBe(
        1,
      );
      expect(await state()).toEqual(['succeeded', 'pending', 'sending', 'pending', 'pending', 'pending']);
      expect(
        (await store.bulkReplayBatch(ep.id, { ...window, status: 'succeeded', channel: 'us' }, null, 10))
          .count,
      ).toBe(0);
      expect(
        (await store.bulkReplayBatch(ep.id, { ...window, status: 'succeeded', channel: 'eu' }, null, 10))
          .count,
      ).toBe(1);
      expect((await store.getDelivery(msgs[0]!.id, ep.id))!.dueAt).toBe(clock.now());
      // Every delivery of the window, in batches: the leased one is left to its worker.
      const one = await store.bulkReplayBatch(
        ep.id,
        { ...window, eventTypes: ['even.event', 'odd.event'] },
        null,
        4,
      );
      const two = await store.bulkReplayBatch(
        ep.id,
        { ...window, eventTypes: ['even.event', 'odd.event'] },
        one.next,
        4,
      );
      expect(one.count + two.count).toBe(5);
      expect(two.next).toBeNull();
      expect(await state()).toEqual(['pending', 'pending', 'sending', 'pending', 'pending', 'pending']);
      expect(
        (await store.bulkReplayBatch(ep.id, { ...window, eventTypes: ['none.event'] }, null, 10)).count,
      ).toBe(0);
    });

    it('countDeliveries counts the deliveries created in a window when given one', async () => {
      await fresh();
      const { ep, msgs } = await withMessages(4);
      expect(await store.countDeliveries(ep.id)).toMatchObject({ pending: 4 });
      expect(
        await store.countDeliveries(ep.id, { since: msgs[1]!.createdAt, until: msgs[3]!.createdAt }),
      ).toEqual({
        pending: 2,
        sending: 0,
        succeeded: 0,
        failed: 0,
        canceled: 0,
      });
      expect(
        await store.countDeliveries(ep.id, { since: msgs[3]!.createdAt + 1, until: null }),
      ).toMatchObject({
        pending: 0,
      });
    });
  });

  describe('event types', () => {
    it('createEventType refuses a live name, revives an archived one, and keeps deprecated and featureFlag', async () => {
      await fresh();
      const made = await store.createEventType({
        name: 'a.b',
        description: 'one',
        deprecated: true,
        featureFlag: 'beta',
      });
      expect(made).toMatchObject({
        name: 'a.b',
        description: 'one',
        deprecated: true,
        featureFlag: 'beta',
        archived: false,
      });
      await expect(store.createEventType({ name: 'a.b', description: 'two' })).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(await store.getEventType('a.b')).toEqual(made);
      await store.upsertEventType({ ...made, archived: true });
      clock.advance(5);
      const revived = await store.createEventType({ name: 'a.b', description: 'three' });
      expect(revived).toMatchObject({
        description: 'three',
        archived: false,
        deprecated: false,
        featureFlag: null,
      });
      expect(revived.updatedAt).toBe(clock.now());
    });
  });
});

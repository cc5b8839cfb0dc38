/**
 * Health that tells the truth: a database that reads but cannot commit is in error, a
 * dispatcher stalled while work is due is in error (503), an idle one is not; `/healthz` and
 * `/readyz` for orchestrators. The stalls are real: a dispatcher thread blocked on purpose
 * (`HERALD_TEST_HOOKS=1`, SIGUSR2) and a claim held up by a table lock on PostgreSQL.
 */
import { createServer } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { Liveness } from '../../src/delivery/liveness.js';
import { TEST_BLOCK_MS } from '../../src/delivery/thread.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { fixture } from '../delivery/fixture.js';
import { startReceiver } from '../helpers.js';
import { freshDatabase } from '../pg.js';
import { startHerald } from '../serve.js';
import { db, openTestStore, type TestStore } from '../store-under-test.js';

describe('Liveness: when a dispatcher counts as stalled', () => {
  it('is alive until a turn lasts longer than stallMs, and again once the loop turns', () => {
    const live = new Liveness();
    expect(live.check(1_000, 100)).toBeNull(); // not started
    live.turned(1_000);
    expect(live.check(1_100, 100)).toBeNull();
    expect(live.check(1_101, 100)).toMatch(/in one turn for 101 ms/);
    live.turned(1_101);
    expect(live.check(1_150, 100)).toBeNull();
  });

  it('is alive however long an idle loop sleeps, and stalled once it oversleeps due work', () => {
    const live = new Liveness();
    live.turned(1_000);
    live.sleeping(null); // nothing due: until told of work
    expect(live.check(1_000 + 86_400_000, 100)).toBeNull();
    live.turned(2_000);
    live.sleeping(5_000); // a retry due at 5,000
    expect(live.check(5_100, 100)).toBeNull();
    expect(live.check(5_101, 100)).toMatch(/was to turn for due work at .* and has not for 101 ms/);
  });

  it("is stalled once its thread's heartbeat stops, whatever the loop recorded", () => {
    const writer = new Liveness();
    // The main thread's view of the buffer the dispatcher thread writes.
    const reader = new Liveness(writer.buffer);
    writer.turned(1_000);
    writer.sleeping(null);
    writer.beat(1_000);
    expect(reader.check(1_100, 100)).toBeNull();
    expect(reader.check(1_101, 100)).toMatch(/thread has not answered for 101 ms/);
    writer.beat(1_101);
    expect(reader.check(1_150, 100)).toBeNull();
  });
});

describe('the database part of /api/v1/health and /readyz', () => {
  let testStore: TestStore;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    testStore = await openTestStore('health_probe');
    const api = await buildApi({ store: testStore.store });
    url = await api.listen({ port: 0, host: '127.0.0.1' });
    close = () => api.close();
  });
  afterAll(async () => {
    await close?.();
    await testStore?.close();
  });

  it('answers /healthz and /readyz 200 without a token, and health commits its probe', async () => {
    const live = await fetch(`${url}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${url}/api/v1/health`)).status).toBe(200);
    const [probe] = await testStore.sql('SELECT id, checked_at FROM health_probe');
    expect(Number(probe!.id)).toBe(1);
    expect(Number(probe!.checked_at)).toBeGreaterThan(0);
  });

  it('reports a database that answers reads but cannot commit: 503 on health and readyz, 200 on healthz', async () => {
    // Every write of the probe refused, as a full disk or a read-only standby refuses it.
    if (testStore.db === 'sqlite') {
      await testStore.sql(
        "CREATE TRIGGER probe_refused BEFORE UPDATE ON health_probe BEGIN SELECT RAISE(ABORT, 'no space left'); END",
      );
    } else {
      await testStore.sql(
        `CREATE FUNCTION probe_refused() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'no space left'; END $$`,
      );
      await testStore.sql(
        'CREATE TRIGGER probe_refused BEFORE INSERT OR UPDATE ON health_probe FOR EACH ROW EXECUTE FUNCTION probe_refused()',
      );
    }
    try {
      // Reads still work: what a SELECT 1 health check would have called healthy.
      expect(await testStore.store.listApplications({ limit: 1 })).toMatchObject({ data: [] });
      const health = await fetch(`${url}/api/v1/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({
        database: { status: 'error', detail: expect.stringContaining('commit') },
      });
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({
        status: 'error',
        detail: expect.stringContaining('commit'),
      });
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    } finally {
      await testStore.sql(`DROP TRIGGER probe_refused${testStore.db === 'sqlite' ? '' : ' ON health_probe'}`);
    }
    expect((await fetch(`${url}/api/v1/health`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });
});

/** Polls `url` until it answers `status`; resolves with the body then. */
async function until(url: string, status: number, deadlineMs = 20_000): Promise<unknown> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const res = await fetch(url);
    const body = await res.json();
    if (res.status === status) return body;
    if (Date.now() > end) throw new Error(`${url} still answers ${res.status}: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('herald serve with a dispatcher stalled on purpose', () => {
  it('answers 503 naming the dispatcher while its thread is blocked, then 200 again', async () => {
    const herald = await startHerald(['--dispatcher-stall-ms', '1000', '--metrics-port', '0'], {
      HERALD_TEST_HOOKS: '1',
    });
    try {
      const health = `${herald.url}/api/v1/health`;
      expect(await until(health, 200)).toEqual({ database: { status: 'ok' }, dispatcher: { status: 'ok' } });
      const metrics = /metrics at (http:\/\/\S+)\/metrics/.exec(herald.output())![1]!;
      expect((await fetch(`${metrics}/readyz`)).status).toBe(200);
      const blockedAt = Date.now();
      herald.child.kill('SIGUSR2'); // blocks the dispatcher thread for TEST_BLOCK_MS
      const stalled = (await until(health, 503)) as { dispatcher: { status: string; detail: string } };
      expect(stalled).toMatchObject({ database: { status: 'ok' }, dispatcher: { status: 'error' } });
      expect(stalled.dispatcher.detail).toMatch(/dispatcher thread has not answered/);
      // The API itself kept answering: only the dispatcher's thread is stuck.
      expect((await fetch(`${herald.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${herald.url}/readyz`)).status).toBe(200);
      // The metrics port's readiness is the worker's: the dispatcher counts there.
      expect((await fetch(`${metrics}/readyz`)).status).toBe(503);
      expect(await until(health, 200)).toEqual({ database: { status: 'ok' }, dispatcher: { status: 'ok' } });
      expect(Date.now() - blockedAt).toBeGreaterThanOrEqual(TEST_BLOCK_MS - 500);
      expect((await fetch(`${metrics}/readyz`)).status).toBe(200);
    } finally {
      expect(await herald.stop()).toBe(0);
    }
  });
});

describe.skipIf(db !== 'postgres')('a dispatcher whose claim does not return while work is due', () => {
  // SQLite's claim is synchronous: a database locked by another process blocks the thread
  // (the heartbeat case above) instead of leaving the loop in a turn; PostgreSQL's waits.
  it('is reported stalled once its turn outlasts stallMs, and alive again once the claim returns', async () => {
    const f = await fixture({ manualClock: true, stallMs: 5_000 });
    const receiver = await startReceiver();
    const api = await buildApi({
      store: f.store,
      clock: f.clock!,
      dispatcher: () => {
        const stalled = f.dispatcher.health();
        return stalled === null ? 'ok' : { status: 'error', detail: stalled };
      },
    });
    const url = await api.listen({ port: 0, host: '127.0.0.1' });
    try {
      const clock = f.clock!;
      const endpoint = await f.store.createEndpoint(f.appId, { url: receiver.url });
      await f.store.acceptMessage({
        appId: f.appId,
        eventType: 'order.paid',
        payload: '{}',
        deliverAt: clock.now() + 20_000,
      });
      await f.idle();
      while (!f.dispatcher.liveness.asleep()) await new Promise((resolve) => setTimeout(resolve, 10));
      // Asleep until the message is due: alive, however far the clock runs before that.
      clock.advance(15_000);
      expect(f.dispatcher.health()).toBeNull();
      // Another session holds the deliveries table: the claim at the due time waits for it.
      await f.testStore.sql('BEGIN');
      await f.testStore.sql('LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE');
      clock.advance(5_000);
      for (;;) {
        const waiting = await f.testStore.sql(
          "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'deliveries'::regclass",
        );
        if (Number(waiting[0]!.n) > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(f.dispatcher.health()).toBeNull();
      clock.advance(5_001);
      expect(f.dispatcher.health()).toMatch(/in one turn for 5001 ms/);
      const res = await fetch(`${url}/api/v1/health`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({
        database: { status: 'ok' },
        dispatcher: { status: 'error', detail: expect.stringContaining('is the database answering') },
      });
      const sent = f.nextAttempt(endpoint.id);
      await f.testStore.sql('COMMIT');
      expect((await sent).attempt.succeeded).toBe(true);
      await f.idle();
      expect(f.dispatcher.health()).toBeNull();
      expect((await fetch(`${url}/api/v1/health`)).status).toBe(200);
    } finally {
      await api.close();
      await receiver.close();
      await f.close();
    }
  });
});

describe.skipIf(db !== 'postgres')('a herald serve --role worker whose claim does not return', () => {
  // A worker has no API: its dispatcher shares the main thread with the --metrics-port
  // listener, whose /readyz reads the loop's record. A blocked event loop answers nothing at
  // all (a probe's timeout); a claim that waits leaves the loop free to answer 503.
  it('answers 503 on the metrics port while its claim waits for a lock, then 200 again', async () => {
    const database = await freshDatabase('worker_stall');
    const receiver = await startReceiver();
    const worker = await startHerald(
      ['--role', 'worker', '--dispatcher-stall-ms', '1000', '--metrics-port', '0'],
      {},
      { db: database.url },
    );
    const store = await openPostgresStore({ url: database.url, poolSize: 2 });
    const locker = new pg.Client(database.url);
    await locker.connect();
    try {
      const metrics = /metrics at (http:\/\/\S+)\/metrics/.exec(worker.output())![1]!;
      expect((await fetch(`${metrics}/readyz`)).status).toBe(200);
      const app = await store.createApplication({ name: 'stall' });
      await store.createEndpoint(app.id, { url: receiver.url });
      await store.acceptMessage({
        appId: app.id,
        eventType: 'e',
        payload: '{}',
        deliverAt: Date.now() + 1_500,
      });
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE');
      const deadline = Date.now() + 15_000;
      let status = 200;
      while (status === 200 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await fetch(`${metrics}/readyz`)).status;
      }
      expect(status).toBe(503);
      // Alive all along: its liveness probe still answers.
      expect((await fetch(`${metrics}/healthz`)).status).toBe(200);
      await locker.query('COMMIT');
      while (status !== 200 && Date.now() < deadline + 10_000) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await fetch(`${metrics}/readyz`)).status;
      }
      expect(status).toBe(200);
    } finally {
      await locker.end();
      await store[Symbol.asyncDispose]();
      expect(await worker.stop()).toBe(0);
      await receiver.close();
      await database.drop();
    }
  });
});

/** A port free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.skipIf(db !== 'postgres')('herald serve while its migrations run', () => {
  // On SQLite the migrations run synchronously on the event loop: nothing answers meanwhile.
  it('answers /healthz 200 and /readyz 503 on the API port until they are done, then serves there', async () => {
    const database = await freshDatabase('starting');
    // Another migrator holds the migration lock (src/store/postgres/migrate.ts): this start waits.
    const other = new pg.Client(database.url);
    await other.connect();
    await other.query('SELECT pg_advisory_lock($1)', [0x6865_7261]);
    const port = await freePort();
    const starting = startHerald(['--port', String(port)], {}, { db: database.url });
    let herald: Awaited<typeof starting> | undefined;
    try {
      const base = `http://127.0.0.1:${port}`;
      const notReady = await (async () => {
        for (;;) {
          const res = await fetch(`${base}/readyz`).catch(() => null);
          if (res) return res;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({
        status: 'error',
        detail: expect.stringContaining('migrations'),
      });
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/api/v1/app`)).status).toBe(503);
      await other.query('SELECT pg_advisory_unlock($1)', [0x6865_7261]);
      herald = await starting;
      expect(herald.url).toBe(base);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect((await herald.post('/app', { name: 'after the migrations' })).id).toMatch(/^app_/);
    } finally {
      await other.end();
      expect(await (herald ?? (await starting)).stop()).toBe(0);
      await database.drop();
    }
  });
});

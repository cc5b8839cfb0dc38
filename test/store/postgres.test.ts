import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { takeWriter } from '../../src/store/postgres/activity.js';
import {
  againOnDeadlock,
  openConnection,
  prepared,
  wakeChannel,
} from '../../src/store/postgres/connection.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { plainBox } from '../../src/store/secret-box.js';
import type { Completion, DisabledEndpoint, Store } from '../../src/store/store.js';
import { attemptOf, claimFor } from '../helpers.js';
import { PG_URL } from '../pg.js';
import { storeContract } from './contract.js';
import { expectMigratedLog, OLD_LOG, oldBody } from './old-inbound-log.js';

const prefix = `t${process.pid}_${Date.now().toString(36)}`;
const schemas: string[] = [];

function newSchema(): string {
  const name = `${prefix}_${schemas.length}`;
  schemas.push(name);
  return name;
}

afterAll(async () => {
  const client = new pg.Client(PG_URL);
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
});

/**
 * Resolves once `store` has heard a notification sent after everything it committed: the
 * server delivers notifications in commit order, so any echo of the store's own commits
 * would have been heard before it.
 */
async function wakesHeard(store: Store, schema: string): Promise<void> {
  const barrier = `barrier_${Math.random().toString(36).slice(2)}`;
  const heard = new Promise<void>((resolve) => {
    const off = store.onWake((ids) => {
      if (ids?.includes(barrier)) {
        off();
        resolve();
      }
    });
  });
  const client = new pg.Client(PG_URL);
  await client.connect();
  try {
    await client.query('SELECT pg_notify($1, $2)', [wakeChannel(schema), JSON.stringify([barrier])]);
  } finally {
    await client.end();
  }
  await heard;
}

storeContract('postgres', async (clock, options) => {
  const schema = newSchema();
  const store = await openPostgresStore({ url: PG_URL, schema, clock, poolSize: 3, ...options });
  return {
    store,
    reopen: (again) => openPostgresStore({ url: PG_URL, schema, clock, poolSize: 3, ...again }),
    wakesHeard: () => wakesHeard(store, schema),
  };
});

describe('PostgreSQL specifics', () => {
  it('migrates once when several processes start at once (advisory lock)', async () => {
    const schema = newSchema();
    const clock = new ManualClock();
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => openPostgresStore({ url: PG_URL, schema, clock, poolSize: 1 })),
    );
    const client = new pg.Client(PG_URL);
    await client.connect();
    const { rows } = await client.query(`SELECT version FROM ${schema}.herald_migrations ORDER BY version`);
    await client.end();
    expect(rows).toEqual([
      { version: 1 },
      { version: 2 },
      { version: 3 },
      { version: 4 },
      { version: 5 },
      { version: 6 },
      { version: 7 },
      { version: 8 },
      { version: 9 },
      { version: 10 },
      { version: 11 },
      { version: 12 },
      { version: 13 },
      { version: 14 },
      { version: 15 },
      { version: 16 },
      { version: 17 },
      { version: 19 },
      { version: 20 },
      { version: 21 },
      { version: 22 },
    ]);
    for (const s of stores) await s[Symbol.asyncDispose]();
  });

  it('two workers never claim the same delivery (SKIP LOCKED)', async () => {
    const schema = newSchema();
    const clock = new ManualClock();
    const a = await openPostgresStore({ url: PG_URL, schema, clock });
    const b = await openPostgresStore({ url: PG_URL, schema, clock });
    try {
      const app = await a.createApplication({ name: 'x' });
      await a.createEndpoint(app.id, { url: 'https://e.example' });
      await Promise.all(
        Array.from({ length: 300 }, () => a.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' })),
      );
      const claim = (store: typeof a, owner: string) =>
        store.claimDue({ owner, now: clock.now(), leaseMs: 60_000, limit: 50, skipEndpoints: [] });
      const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => claim(i % 2 ? a : b, `w${i}`)));
      const ids = claims.flat().map((c) => c.id);
      expect(ids).toHaveLength(300);
      expect(new Set(ids).size).toBe(300);
    } finally {
      await a[Symbol.asyncDispose]();
      await b[Symbol.asyncDispose]();
    }
  });

  it('ends a session left idle in a transaction, so a process cut off mid-transaction frees its row locks', async () => {
    const schema = newSchema();
    const conn = await openConnection({
      url: PG_URL,
      schema,
      clock: new ManualClock(),
      poolSize: 2,
      box: plainBox,
      migrate: true,
      idleInTransactionMs: 500,
    });
    const other = new pg.Client(PG_URL);
    await other.connect();
    try {
      await other.query(`CREATE TABLE ${schema}.cut (id int PRIMARY KEY)`);
      await other.query(`INSERT INTO ${schema}.cut VALUES (1)`);
      // The transaction locks the row, then waits on nothing, as a process whose link is down.
      let hung!: () => void;
      const locked = new Promise<void>((resolve) => {
        hung = resolve;
      });
      const cutOff = conn
        .tx(async (c) => {
          await c.query(`SELECT * FROM ${schema}.cut WHERE id = 1 FOR UPDATE`);
          await locked;
          await c.query('SELECT 1');
        })
        .then(
          () => 'committed',
          (error: Error) => error.message,
        );
      const lockable = async () => {
        try {
          await other.query('BEGIN');
          await other.query(`SELECT * FROM ${schema}.cut WHERE id = 1 FOR UPDATE NOWAIT`);
          return true;
        } catch {
          return false;
        } finally {
          await other.query('ROLLBACK');
        }
      };
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await lockable()).toBe(false);
      // PostgreSQL ends the idle session; the row is free for others, and nothing committed.
      const deadline = Date.now() + 10_000;
      while (!(await lockable()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await lockable()).toBe(true);
      hung();
      expect(await cutOff).not.toBe('committed');
      // The pool replaces the ended session: the connection works on.
      expect((await conn.tx((c) => c.query('SELECT 1 AS one'))).rows).toEqual([{ one: 1 }]);
    } finally {
      await other.end();
      await conn.close();
    }
  });

  it('prepares the statements of the delivery path once per session; none with preparedStatements off (for PgBouncer)', async () => {
    const statement = prepared('SELECT $1::int + 1 AS answer');
    const sessionStatements = async (preparedStatements: boolean) => {
      const conn = await openConnection({
        url: PG_URL,
        schema: newSchema(),
        clock: new ManualClock(),
        poolSize: 1,
        box: plainBox,
        migrate: true,
        preparedStatements,
      });
      try {
        for (const n of [1, 2, 3]) expect((await conn.q(statement, [n])).rows).toEqual([{ answer: n + 1 }]);
        // In a transaction too (the batches of the delivery path run there).
        await conn.tx(async (c) => expect((await c.query(statement, [41])).rows).toEqual([{ answer: 42 }]));
        const { rows } = await conn.q<{ name: string }>(
          'SELECT name FROM pg_prepared_statements WHERE statement = $1',
          [statement],
        );
        return rows.map((r) => r.name);
      } finally {
        await conn.close();
      }
    };
    const names = await sessionStatements(true);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^herald_[0-9a-f]{24}$/);
    expect(await sessionStatements(false)).toEqual([]);
  });

  it("runs a transaction again when it was a deadlock's victim, three times at most; no other error", async () => {
    const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });
    let runs = 0;
    const failingTwice = () => (++runs <= 2 ? Promise.reject(deadlock) : Promise.resolve('done'));
    expect(await againOnDeadlock(failingTwice)).toBe('done');
    expect(runs).toBe(3);
    runs = 0;
    const failing = (error: Error) => () => {
      runs++;
      return Promise.reject(error);
    };
    await expect(againOnDeadlock(failing(deadlock))).rejects.toBe(deadlock);
    expect(runs).toBe(3);
    runs = 0;
    const other = Object.assign(new Error('unique violation'), { code: '23505' });
    await expect(againOnDeadlock(failing(other))).rejects.toBe(other);
    expect(runs).toBe(1);
  });

  it("a batch stuck in its transaction holds its own activity row only: others' completions go on", async () => {
    const schema = newSchema();
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 12));
    const store = await openPostgresStore({ url: PG_URL, schema, clock, poolSize: 2 });
    // 15 processes cut off mid-batch: each took a writer of the completions' 16 and upserted
    // this minute's row of it, and waits there, holding both.
    const stuck: pg.Client[] = [];
    try {
      const app = await store.createApplication({ name: 'x' });
      const ep = await store.createEndpoint(app.id, { url: 'https://e.example' });
      for (let i = 0; i < 5; i++) await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' });
      const minute = clock.now() - (clock.now() % 60_000);
      const held = new Set<number>();
      for (let i = 0; i < 15; i++) {
        const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
        await client.connect();
        stuck.push(client);
        await client.query('BEGIN');
        const w = await takeWriter(client, schema, 'attempts');
        await client.query(
          'INSERT INTO activity_minutes (minute, writer, succeeded) VALUES ($1, $2, 1) ON CONFLICT (minute, writer) DO UPDATE SET succeeded = activity_minutes.succeeded + 1',
          [minute, w],
        );
        held.add(w);
      }
      expect(held.size).toBe(15);
      // Five batches, one after the other: each takes the one writer left, none waits.
      const claimed = await claimFor(store, clock.now(), 5);
      for (const d of claimed) {
        const attempt = attemptOf(d, true, clock.now());
        const completed = store.complete(
          [
            {
              owner: 'w',
              deliveryId: d.id,
              endpointId: ep.id,
              attempt,
              next: { status: 'succeeded' },
              disableEndpoint: false,
            },
          ],
          clock.now(),
          86_400_000,
        );
        const waited = new Promise((resolve) => setTimeout(() => resolve('waited'), 5_000));
        expect(await Promise.race([completed.then(() => 'done'), waited])).toBe('done');
      }
      expect((await store.activity(minute, minute + 60_000, 60_000))[0]!.succeeded).toBe(5);
      // The sixteenth held too: a batch waits for one of them, and goes on once it is free.
      const last = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
      await last.connect();
      stuck.push(last);
      await last.query('BEGIN');
      held.add(await takeWriter(last, schema, 'attempts'));
      expect(held.size).toBe(16);
      await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' });
      const [d] = await claimFor(store, clock.now(), 1);
      const completed = store
        .complete(
          [
            {
              owner: 'w',
              deliveryId: d!.id,
              endpointId: ep.id,
              attempt: attemptOf(d!, true, clock.now()),
              next: { status: 'succeeded' },
              disableEndpoint: false,
            },
          ],
          clock.now(),
          86_400_000,
        )
        .then(() => 'done');
      const soon = new Promise((resolve) => setTimeout(() => resolve('waiting'), 500));
      expect(await Promise.race([completed, soon])).toBe('waiting');
      for (const client of stuck.splice(0)) await client.end();
      expect(await completed).toBe('done');
      expect((await store.activity(minute, minute + 60_000, 60_000))[0]!.succeeded).toBe(6);
    } finally {
      for (const client of stuck) await client.end();
      await store[Symbol.asyncDispose]();
    }
  });

  describe('two stores completing attempts of one endpoint at once end as one after the other would', () => {
    const DAY = 86_400_000;
    type Next = Completion['next'];
    const exhausted: Next = { status: 'failed', exhausted: true };
    const succeeded: Next = { status: 'succeeded' };
    /**
     * Six deliveries to one endpoint whose failure clock started a day ago (the first one
     * exhausted then); the next three are completed by store A's batch and store B's, in
     * `order`, each batch listing [index of the delivery, what became of it]; the last two
     * wait. What the stores reported, and the endpoint and its deliveries after.
     */
    async function outcome(
      order: 'together' | 'a, b' | 'b, a',
      batchA: [number, Next][],
      batchB: [number, Next][],
    ) {
      const schema = newSchema();
      const clock = new ManualClock(Date.UTC(2026, 5, 1));
      const a = await openPostgresStore({ url: PG_URL, schema, clock, poolSize: 2 });
      const b = await openPostgresStore({ url: PG_URL, schema, clock, poolSize: 2 });
      try {
        const app = await a.createApplication({ name: 'x' });
        const ep = await a.createEndpoint(app.id, { url: 'https://e.example' });
        const msgs = [];
        for (let i = 0; i < 6; i++)
          msgs.push((await a.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' })).message);
        const now = clock.now();
        const claimed = await a.claimDue({ owner: 'w', now, leaseMs: 60_000, limit: 4, skipEndpoints: [] });
        const done = (i: number, next: Next): Completion => {
          const d = claimed[i]!;
          const attempt = {
            id: `atmpt_${d.id.slice(4)}`,
            deliveryId: d.id,
            msgId: d.msgId,
            endpointId: d.endpointId,
            appId: d.appId,
            url: 'https://e.example',
            trigger: 'scheduled' as const,
            succeeded: next.status === 'succeeded',
            statusCode: next.status === 'succeeded' ? 200 : 500,
            responseBody: '',
            durationMs: 1,
            errorKind: next.status === 'succeeded' ? null : ('http_status' as const),
            errorMessage: null,
            requestHeaders: {},
            createdAt: now,
          };
          return { owner: 'w', deliveryId: d.id, endpointId: ep.id, attempt, next, disableEndpoint: false };
        };
        await a.complete([done(0, exhausted)], now - DAY, DAY);
        const runA = () =>
          a.complete(
            batchA.map(([i, next]) => done(i, next)),
            now,
            DAY,
          );
        const runB = () =>
          b.complete(
            batchB.map(([i, next]) => done(i, next)),
            now,
            DAY,
          );
        let reports: DisabledEndpoint[][];
        if (order === 'together') reports = await Promise.all([runA(), runB()]);
        else if (order === 'a, b') reports = [await runA(), await runB()];
        else reports = [await runB(), await runA()].reverse();
        const endpoint = (await a.getEndpoint(app.id, ep.id))!;
        return {
          reportedByA: reports[0]!.map((d) => d.reason),
          reportedByB: reports[1]!.map((d) => d.reason),
          disabled: endpoint.disabled,
          failingFor: endpoint.failingSince === null ? null : now - endpoint.failingSince,
          deliveries: await Promise.all(msgs.map(async (m) => (await a.getDelivery(m.id, ep.id))!.status)),
        };
      } finally {
        await a[Symbol.asyncDispose]();
        await b[Symbol.asyncDispose]();
      }
    }

    it.each([
      ['both exhaust past the clock: one of them disables', [[1, exhausted]], [[2, exhausted]]],
      [
        'one succeeds then exhausts, the other exhausts',
        [
          [3, succeeded],
          [1, exhausted],
        ],
        [[2, exhausted]],
      ],
    ] as [string, [number, Next][], [number, Next][]][])('%s', async (_name, batchA, batchB) => {
      const serial = [await outcome('a, b', batchA, batchB), await outcome('b, a', batchA, batchB)];
      // The two orders end differently, so that matching one of them says something.
      expect(serial[0]).not.toEqual(serial[1]);
      for (let i = 0; i < 6; i++) expect(serial).toContainEqual(await outcome('together', batchA, batchB));
    });
  });

  it('wakes another process through LISTEN/NOTIFY, naming the endpoints', async () => {
    const schema = newSchema();
    const a = await openPostgresStore({ url: PG_URL, schema });
    const b = await openPostgresStore({ url: PG_URL, schema });
    try {
      const app = await a.createApplication({ name: 'x' });
      const ep = await a.createEndpoint(app.id, { url: 'https://e.example' });
      const woken = new Promise<readonly string[] | null>((resolve) => b.onWake(resolve));
      await a.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' });
      expect(await woken).toEqual([ep.id]);
    } finally {
      await a[Symbol.asyncDispose]();
      await b[Symbol.asyncDispose]();
    }
  });

  it('wakes only the stores of its own schema: two schemas of one database do not hear each other', async () => {
    expect(wakeChannel('public')).toBe('herald_wake');
    expect(wakeChannel('tenant_a')).not.toBe(wakeChannel('tenant_b'));
    expect(wakeChannel('x'.repeat(63)).length).toBeLessThanOrEqual(63);
    const schema = newSchema();
    const sender = await openPostgresStore({ url: PG_URL, schema });
    const sameSchema = await openPostgresStore({ url: PG_URL, schema });
    const otherSchema = await openPostgresStore({ url: PG_URL, schema: newSchema() });
    try {
      const heardByOther: (readonly string[] | null)[] = [];
      otherSchema.onWake((ids) => heardByOther.push(ids));
      const app = await sender.createApplication({ name: 'x' });
      const ep = await sender.createEndpoint(app.id, { url: 'https://e.example' });
      const heard = new Promise<readonly string[] | null>((resolve) => sameSchema.onWake(resolve));
      await sender.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' });
      // The notification reached its own schema's other process; by then the other schema's
      // listener, on the same database, would have had it too.
      expect(await heard).toEqual([ep.id]);
      await otherSchema.listApplications({ limit: 1, iterator: null });
      expect(heardByOther).toEqual([]);
    } finally {
      for (const s of [sender, sameSchema, otherSchema]) await s[Symbol.asyncDispose]();
    }
  });

  it('keeps a lone surrogate as U+FFFD, as pg writes text, in batches sent as JSON records', async () => {
    const clock = new ManualClock();
    const store = await openPostgresStore({ url: PG_URL, schema: newSchema(), clock });
    try {
      const app = await store.createApplication({ name: 'x' });
      await store.createEndpoint(app.id, { url: 'https://e.example' });
      const { message } = await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '"\ud800"' });
      expect((await store.getMessage(app.id, message.id))!.payload).toBe('"\ufffd"');
      const [d] = await claimFor(store, clock.now(), 1);
      const attempt = {
        id: 'atmpt_1',
        deliveryId: d!.id,
        msgId: d!.msgId,
        endpointId: d!.endpointId,
        appId: app.id,
        url: 'https://e.example',
        trigger: 'scheduled' as const,
        succeeded: true,
        statusCode: 200,
        responseBody: 'a\udc00b\ud83d\ude00',
        durationMs: 1,
        errorKind: null,
        errorMessage: null,
        requestHeaders: {},
        createdAt: clock.now(),
      };
      await store.complete(
        [
          {
            owner: 'w',
            deliveryId: d!.id,
            endpointId: d!.endpointId,
            attempt,
            next: { status: 'succeeded' },
            disableEndpoint: false,
          },
        ],
        clock.now(),
        86_400_000,
      );
      expect((await store.getAttempt(app.id, d!.msgId, 'atmpt_1'))!.responseBody).toBe(
        'a\ufffdb\ud83d\ude00',
      );
    } finally {
      await store[Symbol.asyncDispose]();
    }
  });

  it('migrates a request log written before retention (004_inbound_retention.sql)', async () => {
    const schema = newSchema();
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${schema}`);
      await client.query(`CREATE TABLE herald_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      const dir = new URL('../../src/store/postgres/migrations/', import.meta.url);
      for (const name of readdirSync(dir).sort()) {
        const version = Number(name.slice(0, 3));
        if (version >= 4) continue;
        await client.query(readFileSync(new URL(name, dir), 'utf8'));
        await client.query('INSERT INTO herald_migrations VALUES ($1, $2, 0)', [version, name]);
      }
      const { app, source, requests } = OLD_LOG;
      await client.query(
        'INSERT INTO applications (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)',
        [app.id, app.name, app.createdAt],
      );
      await client.query(
        `INSERT INTO sources (id, name, provider, secrets, app_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, 1)`,
        [source.id, source.name, source.provider, source.secrets, app.id],
      );
      for (const [i, r] of requests.entries()) {
        await client.query(
          `INSERT INTO inbound_requests (id, source_id, status, reason, headers, body, created_at)
           VALUES ($1, $2, $3, $4, '{}', $5, $6)`,
          [r.id, source.id, r.status, r.reason, oldBody(i, r.body), i + 1],
        );
      }
    } finally {
      await client.end();
    }
    const store = await openPostgresStore({
      url: PG_URL,
      schema,
      clock: new ManualClock(),
      inboundRetention: { maxPerSource: 3 },
    });
    try {
      await expectMigratedLog(store);
    } finally {
      await store[Symbol.asyncDispose]();
    }
  });
});

/**
 * Retention on the store under test: the server's default payload retention (messages with
 * no retention of their own), the attempts' response bodies expunged with the payload, the
 * rows retention that deletes old messages with their deliveries and attempts (never one
 * still to send), and the disk space given back (SQLite) or the autovacuum settings of the
 * queue tables (PostgreSQL).
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type PayloadSweepEvent, PayloadSweeper } from '../../src/delivery/payload-sweeper.js';
import { type RowSweepEvent, RowSweeper } from '../../src/delivery/row-sweeper.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { herald } from '../cli/run.js';
import { type Fixture, fixture } from '../delivery/fixture.js';
import { receiversClosedAfterEach, tempDir, waitForEvent } from '../helpers.js';
import { startHerald } from '../serve.js';
import { db } from '../store-under-test.js';

const DAY = 86_400_000;
const receiver = receiversClosedAfterEach();
let f: Fixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

/** Sends one message to `url` and resolves once its first attempt is committed. */
async function sent(
  fx: Fixture,
  endpointId: string,
  payload: string,
  retentionHours?: number,
  eventType = 'order.paid',
) {
  const attempt = fx.nextAttempt(endpointId);
  const { message } = await fx.store.acceptMessage({
    appId: fx.appId,
    eventType,
    payload,
    ...(retentionHours ? { payloadRetentionHours: retentionHours } : {}),
  });
  return { message, attempt: (await attempt).attempt };
}

describe('payload retention with a server default (--retention-days)', () => {
  it('expunges the payloads and response bodies of messages without their own retention once the default ends', async () => {
    f = await fixture({ manualClock: true });
    const clock = f.clock!;
    const r = await receiver((_req, res) => res.end('secret answer'));
    const endpoint = await f.store.createEndpoint(f.appId, { url: r.url });
    const plain = await sent(f, endpoint.id, '{"n":1}');
    const own = await sent(f, endpoint.id, '{"n":2}', 24 * 30 * 2); // 60 days, its own
    clock.advance(10 * DAY);
    const young = await sent(f, endpoint.id, '{"n":3}');
    const sweep = async () => {
      const sweeper = new PayloadSweeper({ store: f!.store, clock, retentionMs: 30 * DAY, batchSize: 1 });
      const done = waitForEvent<PayloadSweepEvent>(sweeper, 'sweep');
      sweeper.start();
      const event = await done;
      await sweeper[Symbol.asyncDispose]();
      return event;
    };
    const bodyOf = async (msgId: string) =>
      (await f!.store.listAttempts({ appId: f!.appId, msgId }, { limit: 5 })).data[0]!.responseBody;
    const payloadOf = async (msgId: string) => (await f!.store.getMessage(f!.appId, msgId))!.payload;

    clock.advance(20 * DAY); // the first message is 30 days old: kept until it is older
    expect(await sweep()).toEqual({ expunged: 0 });
    clock.advance(1);
    // Batches of one: the sweep goes on until one comes back short.
    expect(await sweep()).toEqual({ expunged: 1 });
    expect(await payloadOf(plain.message.id)).toBeNull();
    expect(await bodyOf(plain.message.id)).toBe('');
    // Its own retention (60 days) wins over the server's default; the young one is kept.
    expect(await payloadOf(own.message.id)).toBe('{"n":2}');
    expect(await bodyOf(own.message.id)).toBe('secret answer');
    expect(await payloadOf(young.message.id)).toBe('{"n":3}');
    clock.advance(30 * DAY);
    expect(await sweep()).toEqual({ expunged: 2 });
    for (const m of [own, young]) {
      expect(await payloadOf(m.message.id)).toBeNull();
      expect(await bodyOf(m.message.id)).toBe('');
    }
    // The messages and their attempts stay (as Svix), only their content is gone.
    expect((await f.store.listMessages({ appId: f.appId }, { limit: 10 })).data).toHaveLength(3);
  });

  it('keeps payloads without their own retention for ever when the default is off (0 days)', async () => {
    f = await fixture({ manualClock: true });
    const r = await receiver();
    const endpoint = await f.store.createEndpoint(f.appId, { url: r.url });
    const { message } = await sent(f, endpoint.id, '{"kept":true}');
    f.clock!.advance(3650 * DAY);
    expect(await f.store.expirePayloads(10, null)).toBe(0);
    expect((await f.store.getMessage(f.appId, message.id))!.payload).toBe('{"kept":true}');
  });
});

describe('rows retention (--retention-rows-days)', () => {
  it('deletes old messages with their deliveries and attempts, in batches, but none still to send', async () => {
    f = await fixture({ manualClock: true, retrySchedule: [7 * DAY] });
    const clock = f.clock!;
    const ok = await receiver();
    const failing = await receiver((_req, res) => res.writeHead(500).end('down'));
    const good = await f.store.createEndpoint(f.appId, { url: ok.url, filterTypes: ['order.paid'] });
    const bad = await f.store.createEndpoint(f.appId, { url: failing.url, filterTypes: ['order.failed'] });
    const done = [await sent(f, good.id, '{"a":1}'), await sent(f, good.id, '{"a":2}')];
    // Failed once, its retry due in 7 days: still to send.
    const waiting = await sent(f, bad.id, '{"b":1}', undefined, 'order.failed');
    expect((await f.store.getDelivery(waiting.message.id, bad.id))!.status).toBe('pending');
    clock.advance(6 * DAY);
    const fresh = await sent(f, good.id, '{"a":3}');

    const sweeper = new RowSweeper({ store: f.store, clock, retentionMs: 5 * DAY, batchSize: 1 });
    const swept = waitForEvent<RowSweepEvent>(sweeper, 'sweep');
    sweeper.start();
    expect(await swept).toEqual({ deleted: 2 });
    await sweeper[Symbol.asyncDispose]();

    for (const { message } of done) {
      expect(await f.store.getMessage(f.appId, message.id)).toBeNull();
      expect(await f.store.listDeliveries(message.id)).toEqual([]);
      expect((await f.store.listAttempts({ appId: f.appId, msgId: message.id }, { limit: 5 })).data).toEqual(
        [],
      );
    }
    const rows = async (table: string) =>
      (await f!.testStore.sql(`SELECT count(*) AS n FROM ${table}`)).map((r) => Number(r.n))[0];
    expect(await rows('attempts')).toBe(2); // the waiting one's and the fresh one's
    expect(await rows('deliveries')).toBe(2);
    expect((await f.store.getMessage(f.appId, waiting.message.id))?.payload).toBe('{"b":1}');
    expect((await f.store.getMessage(f.appId, fresh.message.id))?.payload).toBe('{"a":3}');
    // Once its delivery is done (the endpoint disabled fails it), the waiting one goes too.
    await f.store.updateEndpoint(f.appId, bad.id, { disabled: true });
    clock.advance(60 * DAY);
    await f.idle();
    expect(await f.store.pruneMessages(10, 5 * DAY)).toBe(2);
    expect(await rows('messages')).toBe(0);
  });
});

describe.skipIf(db !== 'sqlite')('SQLite gives the space back', () => {
  it('creates new files in incremental auto-vacuum mode and returns freed pages after a sweep', async () => {
    const dir = tempDir();
    try {
      const path = dir.path('space.db');
      const store = openSqliteStore({ path });
      const app = await store.createApplication({ name: 'space' });
      const big = JSON.stringify({ pad: 'x'.repeat(50_000) });
      for (let i = 0; i < 100; i++)
        await store.acceptMessage({ appId: app.id, eventType: 'x', payload: big });
      await store[Symbol.asyncDispose]();
      const raw = new Database(path);
      expect(raw.pragma('auto_vacuum', { simple: true })).toBe(2);
      raw.pragma('wal_checkpoint(TRUNCATE)');
      raw.close();
      const before = statSync(path).size;
      const again = openSqliteStore({ path });
      expect(await again.pruneMessages(1_000, -DAY)).toBe(100); // all: created before tomorrow
      const freed = await again.reclaimSpace!(1_000_000);
      expect(freed).toBeGreaterThan(1_000); // ~5 MB of 4 KiB pages
      expect(await again.reclaimSpace!(1_000)).toBe(0);
      await again[Symbol.asyncDispose]();
      const check = new Database(path);
      check.pragma('wal_checkpoint(TRUNCATE)');
      check.close();
      expect(statSync(path).size).toBeLessThan(before / 4);
    } finally {
      dir.remove();
    }
  });

  it('leaves a file made before in its mode: reclaimSpace gives nothing back there (VACUUM does, README)', async () => {
    const dir = tempDir();
    try {
      const path = dir.path('old.db');
      const raw = new Database(path);
      raw.exec('CREATE TABLE before_herald (x)'); // a file with a table: its mode is fixed
      raw.close();
      const store = openSqliteStore({ path });
      expect(await store.reclaimSpace!(1_000)).toBe(0);
      await store[Symbol.asyncDispose]();
      const check = new Database(path);
      expect(check.pragma('auto_vacuum', { simple: true })).toBe(0);
      check.close();
    } finally {
      dir.remove();
    }
  });
});

describe.skipIf(db !== 'postgres')('PostgreSQL autovacuum of the queue tables', () => {
  it('sets the settings the README gives on deliveries, attempts and messages', async () => {
    f = await fixture();
    const rows = await f.testStore.sql(
      "SELECT relname, reloptions FROM pg_class WHERE relname IN ('deliveries', 'attempts', 'messages') AND relnamespace = current_schema()::regnamespace ORDER BY relname",
    );
    expect(Object.fromEntries(rows.map((r) => [r.relname, r.reloptions]))).toEqual({
      attempts: [
        'autovacuum_vacuum_scale_factor=0.05',
        'autovacuum_vacuum_insert_scale_factor=0.05',
        'autovacuum_analyze_scale_factor=0.05',
      ],
      deliveries: [
        'autovacuum_vacuum_scale_factor=0.01',
        'autovacuum_vacuum_threshold=1000',
        'autovacuum_analyze_scale_factor=0.02',
        'autovacuum_vacuum_cost_delay=0',
      ],
      messages: [
        'autovacuum_vacuum_scale_factor=0.05',
        'autovacuum_vacuum_insert_scale_factor=0.05',
        'autovacuum_analyze_scale_factor=0.05',
      ],
    });
  });

  it('herald serve warns at start when the server runs with autovacuum off, where they never act', async () => {
    f = await fixture();
    const off = (await f.testStore.sql('SHOW autovacuum'))[0]!.autovacuum === 'off';
    expect(await f.store.maintenanceWarnings!()).toEqual(
      off ? [expect.stringContaining("PostgreSQL's autovacuum is off on this server")] : [],
    );
    const h = await startHerald();
    try {
      const line = h
        .output()
        .split('\n')
        .find((l) => l.includes('autovacuum is off'));
      if (off) expect(JSON.parse(line!)).toMatchObject({ level: 40, msg: expect.stringContaining('VACUUM') });
      else expect(line).toBeUndefined();
    } finally {
      await h.stop();
    }
  });
});

describe('herald serve retention flags', () => {
  it('refuses a --retention-days, --retention-rows-days or --inbound-body-days that is not a number of days, naming the flag', async () => {
    for (const flag of ['--retention-days', '--retention-rows-days', '--inbound-body-days']) {
      const r = await herald(['serve', flag, '-1']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(flag);
      expect(r.stderr).toContain('from 0 (off) to 36500');
    }
  });
});

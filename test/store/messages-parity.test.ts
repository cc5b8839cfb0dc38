/**
 * The Store contract's message-parity cases (tags, deliverAt, payload retention, expunged
 * content, resend to an endpoint never routed to), on both backends from this one file: a
 * fresh SQLite file and a fresh PostgreSQL schema per case.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { NotFoundError, ValidationError } from '../../src/core/errors.js';
import type { Attempt } from '../../src/core/types.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { ClaimedDelivery, Store } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';
import { PG_URL } from '../pg.js';
import { recoverAll, replayMissingAll } from './drain.js';

const HOUR = 3_600_000;
const dir = tempDir();
const schemas: string[] = [];
let n = 0;

const BACKENDS: [string, (clock: ManualClock) => Promise<Store>][] = [
  ['sqlite', async (clock) => openSqliteStore({ path: dir.path(`parity-${n++}.db`), clock })],
  [
    'postgres',
    async (clock) => {
      const schema = `t${process.pid}_${Date.now().toString(36)}_parity_${n++}`;
      schemas.push(schema);
      return openPostgresStore({ url: PG_URL, schema, clock, poolSize: 2 });
    },
  ],
];

afterAll(async () => {
  dir.remove();
  const client = new pg.Client(PG_URL);
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
});

function attemptOf(d: ClaimedDelivery, at: number, body: string): Attempt {
  return {
    id: `atmpt_${String(at).padStart(27, '0')}`,
    deliveryId: d.id,
    msgId: d.msgId,
    endpointId: d.endpointId,
    appId: d.appId,
    url: 'http://127.0.0.1/',
    trigger: d.trigger,
    succeeded: false,
    statusCode: 500,
    responseBody: body,
    durationMs: 1,
    errorKind: 'http_status',
    errorMessage: 'status 500',
    requestHeaders: {},
    createdAt: at,
  };
}

describe.each(BACKENDS)('Store contract, message parity: %s', (backend, open) => {
  let store: Store;
  let clock: ManualClock;
  afterEach(async () => {
    await store?.[Symbol.asyncDispose]();
  });
  const fresh = async () => {
    clock = new ManualClock();
    store = await open(clock);
    const app = await store.createApplication({ name: 'Parity' });
    const ep = await store.createEndpoint(app.id, { url: 'https://example.com/hook' });
    return { app, ep };
  };
  const claim = (now: number) =>
    store.claimDue({ owner: 'w', now, leaseMs: 60_000, limit: 100, skipEndpoints: [] });

  it('stores tags and filters messages, attempts and endpoint deliveries by one', async () => {
    const { app, ep } = await fresh();
    const { message: a } = await store.acceptMessage({
      appId: app.id,
      eventType: 'x',
      payload: '{}',
      tags: ['t/1', 'eu'],
    });
    const { message: b } = await store.acceptMessage({ appId: app.id, eventType: 'x', payload: '{}' });
    expect((await store.getMessage(app.id, a.id))?.tags).toEqual(['t/1', 'eu']);
    expect((await store.getMessage(app.id, b.id))?.tags).toBeNull();
    const page = { limit: 10 };
    expect((await store.listMessages({ appId: app.id, tag: 't/1' }, page)).data.map((m) => m.id)).toEqual([
      a.id,
    ]);
    const now = clock.now();
    const claimed = await claim(now);
    await store.complete(
      claimed.map((d, i) => ({
        owner: 'w',
        deliveryId: d.id,
        endpointId: d.endpointId,
        attempt: attemptOf(d, now + i, 'x'),
        next: { status: 'failed', exhausted: false },
        disableEndpoint: false,
      })),
      now,
      Number.MAX_SAFE_INTEGER,
    );
    const tagged = await store.listAttempts({ appId: app.id, endpointId: ep.id, tag: 'eu' }, page);
    expect(tagged.data.map((x) => x.msgId)).toEqual([a.id]);
    expect((await store.listAttempts({ appId: app.id, msgId: b.id, tag: 'eu' }, page)).data).toEqual([]);
    const deliveries = await store.listEndpointDeliveries({ endpointId: ep.id, tag: 'eu' }, page);
    expect(deliveries.data.map((x) => x.message.id)).toEqual([a.id]);
    expect((await store.listEndpointDeliveries({ endpointId: ep.id }, page)).data).toHaveLength(2);
    await expect(
      store.acceptMessage({
        appId: app.id,
        eventType: 'x',
        payload: '{}',
        tags: ['a', 'b', 'c', 'd', 'e', 'f'],
      }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('makes the deliveries of a deliverAt message due then, not before; refuses one past 24 h', async () => {
    const { app } = await fresh();
    const at = clock.now() + HOUR;
    const { message } = await store.acceptMessage({
      appId: app.id,
      eventType: 'x',
      payload: '{}',
      deliverAt: at,
    });
    expect(message.deliverAt).toBe(at);
    expect((await store.listMessages({ appId: app.id }, { limit: 10 })).data.map((m) => m.id)).toEqual([
      message.id,
    ]);
    expect(await store.nextDueAt()).toBe(at);
    expect(await claim(at - 1)).toEqual([]);
    expect((await claim(at)).map((d) => d.msgId)).toEqual([message.id]);

    const past = await store.acceptMessage({
      appId: app.id,
      eventType: 'x',
      payload: '{}',
      deliverAt: clock.now() - 1,
    });
    expect(past.message.deliverAt).toBeNull();
    const far = store.acceptMessage({
      appId: app.id,
      eventType: 'x',
      payload: '{}',
      deliverAt: clock.now() + 24 * HOUR + 1,
    });
    await expect(far).rejects.toMatchObject({ field: 'deliverAt' });
  });

  it.skipIf(backend === 'postgres')(
    'leaves a deliverAt message out of a standing claim (PostgreSQL has none)',
    async () => {
      const { app } = await fresh();
      const fresh_: ClaimedDelivery[] = [];
      const off = store.standingClaims!.onFresh((_o, ds) => fresh_.push(...ds));
      await store.standingClaims!.stand('w', { leaseMs: 60_000, limit: 10, skipEndpoints: [] });
      const at = clock.now() + HOUR;
      const later = await store.acceptMessage({
        appId: app.id,
        eventType: 'x',
        payload: '{}',
        deliverAt: at,
      });
      const now = await store.acceptMessage({ appId: app.id, eventType: 'x', payload: '{"now":1}' });
      expect(fresh_.map((d) => d.msgId)).toEqual([now.message.id]);
      // A millisecond before its time, only the other's expired lease is due.
      expect((await claim(at - 1)).map((d) => d.msgId)).toEqual([now.message.id]);
      expect((await claim(at)).map((d) => d.msgId)).toEqual([later.message.id]);
      off();
    },
  );

  it('resends to an endpoint of the application the message never went to, not to another application’s', async () => {
    const { app, ep } = await fresh();
    const { message } = await store.acceptMessage({ appId: app.id, eventType: 'x', payload: '{}' });
    await claim(clock.now());
    const later = await store.createEndpoint(app.id, { url: 'https://example.com/later' });
    clock.advance(1000);
    const made = await store.resend(message.id, later.id);
    expect(made).toMatchObject({
      msgId: message.id,
      endpointId: later.id,
      status: 'pending',
      dueAt: clock.now(),
    });
    const [due] = await claim(clock.now());
    expect(due).toMatchObject({ endpointId: later.id, trigger: 'manual', payload: '{}' });
    // Once there, a resend reuses it (no second delivery).
    expect((await store.listDeliveries(message.id)).map((d) => d.endpointId).sort()).toEqual(
      [ep.id, later.id].sort(),
    );
    const other = await store.createApplication({ name: 'Other' });
    const theirs = await store.createEndpoint(other.id, { url: 'https://example.com/theirs' });
    await expect(store.resend(message.id, theirs.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(await store.listDeliveries(message.id)).toHaveLength(2);
  });

  it('expunges a message: payload and attempt bodies gone, rows kept, nothing sent or recovered again', async () => {
    const { app, ep } = await fresh();
    const { message } = await store.acceptMessage({ appId: app.id, eventType: 'x', payload: '{"s":1}' });
    const { message: kept } = await store.acceptMessage({
      appId: app.id,
      eventType: 'x',
      payload: '{"k":1}',
    });
    const now = clock.now();
    const claimed = await claim(now);
    await store.complete(
      claimed.map((d, i) => ({
        owner: 'w',
        deliveryId: d.id,
        endpointId: d.endpointId,
        attempt: attemptOf(d, now + i, `body of ${d.msgId}`),
        next: { status: 'pending', dueAt: now + 1000 },
        disableEndpoint: false,
      })),
      now,
      Number.MAX_SAFE_INTEGER,
    );
    await store.saveIdempotent(
      'admin',
      'k',
      {
        requestHash: 'h',
        statusCode: 202,
        response: `{"id":"${message.id}","eventType":"x","payload":{"s":1},"timestamp":"t"}`,
        createdAt: now,
      },
      0,
    );

    await store.expungeMessageContent(app.id, message.id);
    const got = await store.getMessage(app.id, message.id);
    expect(got).toMatchObject({ id: message.id, eventType: 'x', payload: null });
    expect((await store.getMessage(app.id, kept.id))?.payload).toBe('{"k":1}');
    const [attempt] = (await store.listAttempts({ appId: app.id, msgId: message.id }, { limit: 10 })).data;
    expect(attempt).toMatchObject({ responseBody: '', expungedAt: now });
    const [keptAttempt] = (await store.listAttempts({ appId: app.id, msgId: kept.id }, { limit: 10 })).data;
    expect(keptAttempt?.responseBody).toBe(`body of ${kept.id}`);
    expect((await store.getIdempotent('admin', 'k', 0))?.response).toBe(
      `{"id":"${message.id}","eventType":"x","payload":{"expired":true},"timestamp":"t"}`,
    );
    // Its retry is claimed with no payload (the worker fails it unsent).
    const retries = await claim(now + 1000);
    expect(retries.map((d) => [d.msgId, d.payload])).toEqual([
      [message.id, null],
      [kept.id, '{"k":1}'],
    ]);
    await store.complete(
      retries.map((d) => ({
        owner: 'w',
        deliveryId: d.id,
        endpointId: d.endpointId,
        attempt: null,
        next: { status: 'failed', exhausted: false },
        disableEndpoint: false,
      })),
      now + 1000,
      Number.MAX_SAFE_INTEGER,
    );
    expect(await recoverAll(store, ep.id, 0, null)).toBe(1);
    const late = await store.createEndpoint(app.id, { url: 'https://example.com/late' });
    expect(await replayMissingAll(store, late.id, 0, null)).toBe(1);
    expect((await store.listDeliveries(message.id)).map((d) => d.status)).toEqual(['failed']);

    await expect(store.expungeMessageContent(app.id, 'msg_missing')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.expungeAttemptContent(app.id, kept.id, 'atmpt_missing')).rejects.toBeInstanceOf(
      NotFoundError,
    );
    await store.expungeAttemptContent(app.id, kept.id, keptAttempt!.id);
    expect((await store.getAttempt(app.id, kept.id, keptAttempt!.id))?.responseBody).toBe('');
    expect((await store.getMessage(app.id, kept.id))?.payload).toBe('{"k":1}');
  });

  it('task batches leave a message whose payload is gone alone, replay a deliverAt message at its time, and bulk-replay filters by tag', async () => {
    const { app, ep } = await fresh();
    const accept = async (tags?: string[]) =>
      (await store.acceptMessage({ appId: app.id, eventType: 'x', payload: '{}', ...(tags ? { tags } : {}) }))
        .message;
    const gone = await accept(['vip']);
    const vip = await accept(['vip']);
    const plain = await accept();
    // Every delivery fails.
    const failAll = async () => {
      const due = await claim(clock.now());
      await store.complete(
        due.map((d) => ({
          owner: 'w',
          deliveryId: d.id,
          endpointId: d.endpointId,
          attempt: null,
          next: { status: 'failed', exhausted: false },
          disableEndpoint: false,
        })),
        clock.now(),
        Number.MAX_SAFE_INTEGER,
      );
      return due.length;
    };
    expect(await failAll()).toBe(3);
    await store.expungeMessageContent(app.id, gone.id);
    const all = { since: 0, until: null };
    const status = async (msgId: string) => (await store.getDelivery(msgId, ep.id))?.status;

    expect((await store.recoverBatch(ep.id, all, null, 100)).count).toBe(2);
    expect(await status(gone.id)).toBe('failed');
    expect(await failAll()).toBe(2);
    expect((await store.bulkReplayBatch(ep.id, { ...all, tag: 'vip' }, null, 100)).count).toBe(1);
    expect([await status(gone.id), await status(vip.id), await status(plain.id)]).toEqual([
      'failed',
      'pending',
      'failed',
    ]);

    const at = clock.now() + HOUR;
    const later = await store.acceptMessage({ appId: app.id, eventType: 'x', payload: '{}', deliverAt: at });
    const late = await store.createEndpoint(app.id, { url: 'https://example.com/late' });
    expect((await store.replayMissingBatch(late.id, all, null, 100)).count).toBe(3);
    expect(await store.getDelivery(gone.id, late.id)).toBeNull();
    expect((await store.getDelivery(later.message.id, late.id))?.dueAt).toBe(at);
    expect((await store.getDelivery(vip.id, late.id))?.dueAt).toBe(clock.now());
  });

  it("expunges an application's messages in batches after a cursor, and no other application's", async () => {
    const { app } = await fresh();
    const other = await store.createApplication({ name: 'Other' });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await store.acceptMessage({ appId: app.id, eventType: 'x', payload: `{"i":${i}}` })).message.id,
      );
      clock.advance(1);
    }
    const { message: theirs } = await store.acceptMessage({ appId: other.id, eventType: 'x', payload: '{}' });
    const answer = (id: string, payload: string) => `{"id":"${id}","payload":${payload},"timestamp":"t"}`;
    for (const [i, id] of [ids[0]!, ids[1]!, theirs.id].entries()) {
      const response = answer(id, id === theirs.id ? '{}' : `{"i":${i}}`);
      await store.saveIdempotent(
        'admin',
        `k${i}`,
        { requestHash: 'h', statusCode: 202, response, createdAt: 0 },
        0,
      );
    }
    const first = await store.expungeAppContents(app.id, null, 2);
    // The answers kept for the batch's creations replay with the payload expired, in one go.
    expect((await store.getIdempotent('admin', 'k0', 0))?.response).toBe(answer(ids[0]!, '{"expired":true}'));
    expect((await store.getIdempotent('admin', 'k1', 0))?.response).toBe(answer(ids[1]!, '{"expired":true}'));
    expect((await store.getIdempotent('admin', 'k2', 0))?.response).toBe(answer(theirs.id, '{}'));
    expect(first).toEqual({ visited: 2, last: ids[1] });
    expect((await store.getMessage(app.id, ids[2]!))?.payload).toBe('{"i":2}');
    const rest = await store.expungeAppContents(app.id, first.last, 10);
    expect(rest).toEqual({ visited: 3, last: ids[4] });
    expect(await store.expungeAppContents(app.id, rest.last, 10)).toEqual({ visited: 0, last: ids[4] });
    for (const id of ids) expect((await store.getMessage(app.id, id))?.payload).toBeNull();
    expect((await store.getMessage(other.id, theirs.id))?.payload).toBe('{}');
  });

  it('expires payloads by the clock, in bounded batches, keeping the messages', async () => {
    const { app } = await fresh();
    const short = [];
    for (let i = 0; i < 3; i++)
      short.push(
        (
          await store.acceptMessage({
            appId: app.id,
            eventType: 'x',
            payload: '{}',
            payloadRetentionHours: 1,
          })
        ).message,
      );
    const { message: kept } = await store.acceptMessage({
      appId: app.id,
      eventType: 'x',
      payload: '{"kept":1}',
    });
    expect(short[0]?.payloadExpiresAt).toBe(clock.now() + HOUR);
    clock.advance(HOUR - 1);
    expect(await store.expirePayloads(10)).toBe(0);
    clock.advance(1);
    expect(await store.expirePayloads(2)).toBe(2);
    expect(await store.expirePayloads(2)).toBe(1);
    expect(await store.expirePayloads(2)).toBe(0);
    for (const m of short) expect((await store.getMessage(app.id, m.id))?.payload).toBeNull();
    expect((await store.getMessage(app.id, kept.id))?.payload).toBe('{"kept":1}');
    expect((await store.listMessages({ appId: app.id }, { limit: 10 })).data).toHaveLength(4);
    await expect(
      store.acceptMessage({ appId: app.id, eventType: 'x', payload: '{}', payloadRetentionHours: 0 }),
    ).rejects.toMatchObject({ field: 'payloadRetentionHours' });
  });
});

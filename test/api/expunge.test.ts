/**
 * Expunged content, through the official `svix` client: a message's payload (and its
 * attempts' response bodies), one attempt's body, every message of an application, and the
 * payload retention (`payloadRetentionPeriod` / `payloadRetentionHours`) swept on the manual
 * clock. The records stay; the content is gone, on SQLite from the database file and its WAL
 * too. A delivery still pending when its payload goes fails unsent, saying why.
 */
import { readFileSync } from 'node:fs';
import { BackgroundTaskStatus, BackgroundTaskType, MessageStatus } from 'svix';
import { afterEach, describe, expect, it } from 'vitest';
import { type PayloadSweepEvent, PayloadSweeper } from '../../src/delivery/payload-sweeper.js';
import { receiversClosedAfterEach, waitForEvent } from '../helpers.js';
import { failure, locs, type Parity, startParity } from './parity.js';
import { settled } from './svix-calls.js';

const HOUR = 3_600_000;
const receiver = receiversClosedAfterEach();
let p: Parity | undefined;
let sweeper: PayloadSweeper | undefined;

afterEach(async () => {
  await sweeper?.[Symbol.asyncDispose]();
  sweeper = undefined;
  await p?.close();
  p = undefined;
});

/** Whether `marker` is anywhere in the SQLite database file or its write-ahead log. */
function inSqliteFiles(path: string, marker: string): boolean {
  const read = (file: string) => {
    try {
      return readFileSync(file);
    } catch {
      return Buffer.alloc(0);
    }
  };
  return read(path).includes(marker) || read(`${path}-wal`).includes(marker);
}

describe('DELETE /app/{app}/msg/{msg}/content', () => {
  it('keeps the message and its attempts, and removes the payload and response bodies for good', async () => {
    p = await startParity('expunge_message');
    const { svix } = p;
    const secret = `card-${Math.random().toString(36).slice(2)}`;
    const echoed = `echo-${Math.random().toString(36).slice(2)}`;
    // Echoes a marker for the sensitive message only (the other one's attempt keeps its body).
    const r = await receiver((req, res) => res.end(req.body.includes(secret) ? echoed : 'fine'));
    const app = await svix.application.create({ name: 'Sensitive' });
    const ep = await svix.endpoint.create(app.id, { url: r.url });
    const body = { eventType: 'card.added', payload: { secret }, tags: ['pci'] };
    const sent = p.nextAttempt();
    // Raw, with its content: the SDK asks for none and puts back the payload it sent.
    const create = () => p!.raw('POST', `/app/${app.id}/msg`, body, { 'idempotency-key': 'add-card-1' });
    const msg = (await create()).json as { id: string; payload: unknown };
    expect(msg.payload).toEqual({ secret });
    await sent;
    const keep = await svix.message.create(app.id, { eventType: 'card.added', payload: { other: 'kept' } });
    if (p.testStore.db === 'sqlite') {
      await p.testStore.sql('PRAGMA wal_checkpoint(PASSIVE)');
      expect(inSqliteFiles(p.testStore.location, secret)).toBe(true);
      expect(inSqliteFiles(p.testStore.location, echoed)).toBe(true);
    }

    await svix.message.expungeContent(app.id, msg.id);

    const got = await svix.message.get(app.id, msg.id);
    expect(got).toMatchObject({
      id: msg.id,
      eventType: 'card.added',
      tags: ['pci'],
      payload: { expired: true },
    });
    expect((await svix.message.get(app.id, keep.id)).payload).toEqual({ other: 'kept' });
    expect((await svix.message.list(app.id)).data.map((m) => [m.id, m.payload])).toEqual([
      [keep.id, { other: 'kept' }],
      [msg.id, { expired: true }],
    ]);
    const [attempt] = (await svix.messageAttempt.listByMsg(app.id, msg.id)).data;
    expect(attempt).toMatchObject({ endpointId: ep.id, status: MessageStatus.Success, response: 'EXPUNGED' });
    // The answer kept for the idempotency key replays, without the payload.
    expect(await create()).toMatchObject({ status: 202, json: { id: msg.id, payload: { expired: true } } });
    // Nothing is left to send again.
    const resend = await failure(svix.messageAttempt.resend(app.id, msg.id, ep.id));
    expect(resend.code).toBe(409);
    expect(resend.body).toMatchObject({ code: 'missing_payload' });

    if (p.testStore.db === 'sqlite') {
      await p.testStore.sql('PRAGMA wal_checkpoint(TRUNCATE)');
      expect(inSqliteFiles(p.testStore.location, secret)).toBe(false);
      expect(inSqliteFiles(p.testStore.location, echoed)).toBe(false);
    } else {
      const rows = await p.testStore.sql(
        "SELECT (SELECT count(*) FROM messages WHERE payload LIKE '%' || ? || '%') AS m, (SELECT count(*) FROM attempts WHERE response_body LIKE '%' || ? || '%') AS a, (SELECT count(*) FROM idempotency_keys WHERE response LIKE '%' || ? || '%') AS k",
        [secret, echoed, secret],
      );
      expect(rows.map((x) => [Number(x.m), Number(x.a), Number(x.k)])).toEqual([[0, 0, 0]]);
    }
    expect((await failure(svix.message.expungeContent(app.id, 'msg_unknown'))).code).toBe(404);
  });

  it('a delivery still waiting for its retry fails unsent when it comes due, saying why', async () => {
    p = await startParity('expunge_pending', { manualClock: true });
    const { svix, store } = p;
    const clock = p.clock!;
    const r = await receiver((_req, res) => {
      res.statusCode = 500;
      res.end('down');
    });
    const app = await svix.application.create({ name: 'Retrying' });
    const ep = await store.createEndpoint(app.id, { url: r.url, retrySchedule: [60_000] });
    const first = p.nextAttempt();
    const msg = await svix.message.create(app.id, { eventType: 'a', payload: { try: 1 } });
    expect((await first).next).toEqual({ status: 'pending', dueAt: clock.now() + 60_000 });

    await svix.message.expungeContent(app.id, msg.id);
    const unsent = p.nextAttempt();
    clock.advance(60_000);
    const { attempt, next } = await unsent;
    expect(attempt).toMatchObject({ errorKind: 'payload_expired', statusCode: null, succeeded: false });
    expect(next).toEqual({ status: 'failed', exhausted: false });
    expect(r.received).toHaveLength(1);
    const [dest] = (await svix.messageAttempt.listAttemptedDestinations(app.id, msg.id)).data;
    expect(dest).toMatchObject({ id: ep.id, status: MessageStatus.Fail });
    // The SDK's MessageAttemptOut has no field for it: Herald's errorMessage says why, beside.
    const raw = await p.raw('GET', `/app/${app.id}/attempt/msg/${msg.id}`);
    expect((raw.json as { data: { errorKind: string; errorMessage: string }[] }).data[0]).toMatchObject({
      errorKind: 'payload_expired',
      errorMessage: expect.stringContaining('payload is gone'),
    });
    // Recover (a background task) does not make it pending again.
    const recover = await svix.endpoint.recover(app.id, ep.id, { since: new Date(clock.now() - HOUR) });
    expect((await settled(svix, recover.id)).data).toMatchObject({ deliveries: 0 });
    expect((await store.getDelivery(msg.id, ep.id))?.status).toBe('failed');
  });
});

describe('DELETE /app/{app}/msg/{msg}/attempt/{attempt}/content', () => {
  it("removes that attempt's response body only", async () => {
    p = await startParity('expunge_attempt');
    const { svix } = p;
    const r = await receiver((req, res) => res.end(`answer to ${req.body}`));
    const app = await svix.application.create({ name: 'Attempts' });
    await svix.endpoint.create(app.id, { url: r.url });
    const two = p.attempts(2);
    const a = await svix.message.create(app.id, { eventType: 'a', payload: { n: 1 } });
    const b = await svix.message.create(app.id, { eventType: 'a', payload: { n: 2 } });
    await two;
    const [ofA] = (await svix.messageAttempt.listByMsg(app.id, a.id)).data;
    await svix.messageAttempt.expungeContent(app.id, a.id, ofA!.id);
    expect((await svix.messageAttempt.get(app.id, a.id, ofA!.id)).response).toBe('EXPUNGED');
    expect((await svix.messageAttempt.listByMsg(app.id, b.id)).data[0]?.response).toBe('answer to {"n":2}');
    expect((await svix.message.get(app.id, a.id)).payload).toEqual({ n: 1 });
    // Another message's attempt id under this message is not found.
    const [ofB] = (await svix.messageAttempt.listByMsg(app.id, b.id)).data;
    expect((await failure(svix.messageAttempt.expungeContent(app.id, a.id, ofB!.id))).code).toBe(404);
  });
});

describe('POST /app/{app}/msg/expunge-all-contents', () => {
  it("answers a running background task that expunges every message of the application in batches, not another's", async () => {
    p = await startParity('expunge_all', { taskBatchSize: 2 });
    const { svix } = p;
    const mine = await svix.application.create({ name: 'Mine' });
    const other = await svix.application.create({ name: 'Other' });
    for (let i = 0; i < 5; i++) await svix.message.create(mine.id, { eventType: 'a', payload: { i } });
    const theirs = await svix.message.create(other.id, { eventType: 'a', payload: { theirs: true } });

    const task = await svix.message.expungeAllContents(mine.id);
    // As Svix answers: at once, the task still running.
    expect(task).toMatchObject({
      status: BackgroundTaskStatus.Running,
      task: BackgroundTaskType.ApplicationPurgeContent,
    });
    expect(task.id).toMatch(/^qtask_/);
    expect(task.updatedAt).toBeInstanceOf(Date);
    const done = await settled(svix, task.id);
    // Five messages, two a batch: three batches, every message counted once.
    expect(done).toMatchObject({
      status: BackgroundTaskStatus.Finished,
      task: BackgroundTaskType.ApplicationPurgeContent,
      data: { messagesPurged: 5 },
    });
    expect((await svix.message.list(mine.id)).data.map((m) => m.payload)).toEqual(
      Array(5).fill({ expired: true }),
    );
    expect((await svix.message.get(other.id, theirs.id)).payload).toEqual({ theirs: true });
    // The task is the application's: listed for it, with its kind.
    const listed = await svix.backgroundTask.list({ task: BackgroundTaskType.ApplicationPurgeContent });
    expect(listed.data.map((t) => t.id)).toEqual([task.id]);
    // New messages are not affected.
    const after = await svix.message.create(mine.id, { eventType: 'a', payload: { fresh: true } });
    expect((await svix.message.get(mine.id, after.id)).payload).toEqual({ fresh: true });
  });

  it('a purge of an application with no messages finishes having purged none; an unknown application is 404', async () => {
    p = await startParity('expunge_all_empty', { taskBatchSize: 2 });
    const { svix } = p;
    const empty = await svix.application.create({ name: 'Empty' });
    const task = await svix.message.expungeAllContents(empty.id);
    expect(await settled(svix, task.id)).toMatchObject({
      status: BackgroundTaskStatus.Finished,
      data: { messagesPurged: 0 },
    });
    expect((await failure(svix.message.expungeAllContents('app_unknown'))).code).toBe(404);
  });
});

describe('payload retention', () => {
  it('expunges the payload when payloadRetentionHours or payloadRetentionPeriod ends, keeping the message', async () => {
    p = await startParity('retention', { manualClock: true });
    const { svix, store } = p;
    const clock = p.clock!;
    const r = await receiver((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const app = await svix.application.create({ name: 'Short-lived' });
    // A retry due after the payload's retention ends: it fails unsent then.
    await store.createEndpoint(app.id, { url: r.url, retrySchedule: [2 * HOUR] });
    const firstTries = p.attempts(2);
    const hour = await svix.message.create(app.id, {
      eventType: 'a',
      payload: { h: 1 },
      payloadRetentionHours: 1,
    });
    const day = await svix.message.create(app.id, {
      eventType: 'a',
      payload: { d: 1 },
      payloadRetentionPeriod: 1,
    });
    await firstTries;
    // It sweeps at start, then every 5 minutes of the clock.
    sweeper = new PayloadSweeper({ store, clock });
    const started = waitForEvent<PayloadSweepEvent>(sweeper, 'sweep');
    sweeper.start();
    expect((await started).expunged).toBe(0);
    const swept = waitForEvent<PayloadSweepEvent>(sweeper, 'sweep', (e) => e.expunged > 0);
    clock.advance(HOUR);
    expect((await swept).expunged).toBe(1);
    expect((await svix.message.get(app.id, hour.id)).payload).toEqual({ expired: true });
    expect((await svix.message.get(app.id, day.id)).payload).toEqual({ d: 1 });

    const unsent = p.nextAttempt((e) => e.attempt.msgId === hour.id);
    const retried = p.nextAttempt((e) => e.attempt.msgId === day.id);
    clock.advance(HOUR);
    expect((await unsent).attempt.errorKind).toBe('payload_expired');
    expect((await retried).attempt.statusCode).toBe(503);
    expect(r.received.map((x) => x.body)).toEqual(['{"h":1}', '{"d":1}', '{"d":1}']);

    clock.advance(22 * HOUR - 1);
    expect(await sweeper.sweep()).toEqual({ expunged: 0 });
    clock.advance(1);
    expect(await sweeper.sweep()).toEqual({ expunged: 1 });
    expect((await svix.message.get(app.id, day.id)).payload).toEqual({ expired: true });
    expect((await svix.message.list(app.id)).data).toHaveLength(2);
  });

  it('refuses both at once, or out of range, with 422 naming the field', async () => {
    p = await startParity('retention_limits');
    const { svix } = p;
    const app = await svix.application.create({ name: 'Limits' });
    const create = (extra: object) => svix.message.create(app.id, { eventType: 'a', payload: {}, ...extra });
    expect(locs(await failure(create({ payloadRetentionHours: 2, payloadRetentionPeriod: 2 })))).toEqual([
      ['body', 'payloadRetentionHours'],
    ]);
    expect(locs(await failure(create({ payloadRetentionHours: 0 })))).toEqual([
      ['body', 'payloadRetentionHours'],
    ]);
    expect(locs(await failure(create({ payloadRetentionHours: 2161 })))).toEqual([
      ['body', 'payloadRetentionHours'],
    ]);
    expect(locs(await failure(create({ payloadRetentionPeriod: 91 })))).toEqual([
      ['body', 'payloadRetentionPeriod'],
    ]);
    await create({ payloadRetentionHours: 2160 });
    await create({ payloadRetentionPeriod: 90 });
    expect((await svix.message.list(app.id)).data).toHaveLength(2);
  });
});

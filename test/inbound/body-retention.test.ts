/**
 * The inbound request log's body retention on the store under test, through a real API on
 * 127.0.0.1: the body sweep (`InboundBodySweeper`, batch after batch until one comes back
 * short) expunges the bodies of requests older than `bodyMaxAgeMs` and keeps their rows, which
 * the API shows with `bodyExpunged` and an empty body; replaying one is a 409 that says why;
 * the row sweep still deletes the rows at `maxAgeMs`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import {
  type BodySweepEvent,
  InboundBodySweeper,
  InboundSweeper,
  type SweepEvent,
} from '../../src/inbound/retention.js';
import { waitForEvent } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const TOKEN = 'body-retention-admin';
const DAY = 86_400_000;

let t: TestStore;
let api: Awaited<ReturnType<typeof buildApi>>;
let base: string;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  t = await openTestStore('inbound_bodies', {
    clock,
    inboundRetention: { maxAgeMs: 30 * DAY, bodyMaxAgeMs: 7 * DAY },
  });
  await t.store.saveToken(hashToken(TOKEN), null);
  api = await buildApi({ store: t.store, clock });
  base = await api.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await api.close();
  await t.close();
});

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Runs one sweep of `sweeper` to its end and stops it. */
async function sweepOnce<E>(sweeper: InboundBodySweeper | InboundSweeper): Promise<E> {
  const done = waitForEvent<E>(sweeper, 'sweep');
  sweeper.start();
  const event = await done;
  await sweeper[Symbol.asyncDispose]();
  return event;
}

describe('inbound body retention', () => {
  it('expunges old bodies in batches, keeps their rows, shows it, and refuses to replay them', async () => {
    const app = await admin('POST', '/app', { name: 'Bodies' });
    const source = await admin('POST', '/source', {
      name: 'Plain',
      provider: 'none',
      secrets: [],
      appId: app.json.id,
    });
    const sourceId = String(source.json.id);
    const record = (n: number) =>
      t.store.recordInbound({
        sourceId,
        status: 'accepted',
        reason: null,
        headers: { 'x-n': String(n) },
        body: Buffer.from(`{"card":"4242-${n}"}`),
        bodySize: `{"card":"4242-${n}"}`.length,
        msgId: null,
      });
    const old = [];
    for (const n of [1, 2, 3, 4, 5]) old.push(await record(n));
    clock.advance(7 * DAY + 1);
    const young = await record(6);

    const bodies = new InboundBodySweeper({ store: t.store, clock, batchSize: 2 });
    expect(await sweepOnce<BodySweepEvent>(bodies)).toEqual({ expunged: 5 });

    const log = (await admin('GET', `/source/${sourceId}/request`)).json.data as Record<string, unknown>[];
    expect(log.map((r) => [r.id, r.body, r.bodyExpunged, r.bodyTruncated])).toEqual([
      [young.id, '{"card":"4242-6"}', false, false],
      ...[...old].reverse().map((r) => [r.id, '', true, false]),
    ]);
    // The rest of the row stays: status, headers, the size as received.
    expect(log[1]).toMatchObject({ status: 'accepted', headers: { 'x-n': '5' }, bodySize: 17 });

    const replay = await admin('POST', `/source/${sourceId}/request/${old[0]!.id}/replay`, {});
    expect(replay.status).toBe(409);
    expect(JSON.stringify(replay.json)).toContain('retention expunged its body');

    // The rows go at maxAgeMs, as before.
    clock.advance(23 * DAY);
    expect(await sweepOnce<SweepEvent>(new InboundSweeper({ store: t.store, clock }))).toEqual({
      deleted: 5,
    });
    const left = (await admin('GET', `/source/${sourceId}/request`)).json.data as Record<string, unknown>[];
    expect(left.map((r) => r.id)).toEqual([young.id]);
  });
});

/**
 * The listener stream's limits, in process on the store under test: who may open one (a full
 * token of that application or an admin token), how many per application per minute, one
 * connection per listener name, and how many deliveries are handed unanswered at once.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'listen-admin';
const OTHER = 'listen-other-app';
const READONLY = 'listen-readonly';
let t: TestStore;
let store: Store;
let api: FastifyInstance;
let base: string;
let appId: string;

beforeAll(async () => {
  t = await openTestStore('listen_limits');
  store = t.store;
  await store.saveToken(hashToken(ADMIN), null);
  appId = (await store.createApplication({ name: 'Shop', uid: 'shop' })).id;
  const other = await store.createApplication({ name: 'Other', uid: 'other' });
  await store.saveToken(hashToken(OTHER), other.id);
  await store.saveToken(hashToken(READONLY), appId, { readOnly: true });
  api = await buildApi({ store, listen: { connectionsPerMinute: 6, maxInFlight: 2 } });
  await api.listen({ port: 0, host: '127.0.0.1' });
  base = `127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  for (const name of ['bounded', 'twice']) {
    const r = await fetch(`http://${base}/api/v1/app/shop/listener/${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(r.status).toBe(200);
  }
});
afterAll(async () => {
  await api.close();
  await t.close();
});

/** Opens a stream; resolves once it is open, or with the HTTP status that refused it. */
function connect(name: string, token = ADMIN) {
  const socket = new WebSocket(`ws://${base}/api/v1/app/shop/listener/${name}/listen`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const frames: { type: string; id?: string }[] = [];
  const waiting: (() => void)[] = [];
  socket.on('message', (d) => {
    frames.push(JSON.parse(String(d)));
    for (const w of waiting.splice(0)) w();
  });
  const opened = new Promise<number>((resolve) => {
    socket.once('open', () => resolve(101));
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.once('error', () => resolve(0));
  });
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  const framesOf = async (type: string, n: number) => {
    while (frames.filter((f) => f.type === type).length < n) await new Promise<void>((r) => waiting.push(r));
    return frames.filter((f) => f.type === type);
  };
  return { socket, frames, opened, closed, framesOf };
}

describe('listener streams', () => {
  it("refuses another application's token and a read-only one before the upgrade", async () => {
    expect(await connect('bounded', OTHER).opened).toBe(403);
    expect(await connect('bounded', READONLY).opened).toBe(403);
    expect(await connect('bounded', 'nope').opened).toBe(401);
  });

  it('hands at most maxInFlight unanswered deliveries; an answer makes room for the next', async () => {
    const c = connect('bounded');
    expect(await c.opened).toBe(101);
    await c.framesOf('hello', 1);
    for (let n = 1; n <= 5; n++)
      await store.acceptMessage({ appId, eventType: 'a.b', payload: `{"n":${n}}` });
    const two = await c.framesOf('delivery', 2);
    // A claim for more would have come with the wake-ups of the five messages; none did.
    expect(c.frames.filter((f) => f.type === 'delivery')).toHaveLength(2);
    c.socket.send(
      JSON.stringify({
        type: 'result',
        id: two[0]!.id,
        statusCode: 200,
        durationMs: 1,
        body: 'ok',
        errorKind: null,
        errorMessage: null,
      }),
    );
    const three = await c.framesOf('delivery', 3);
    expect(new Set(three.map((f) => f.id)).size).toBe(3);
    // A second connection of the same name is refused while this one holds it.
    const again = connect('bounded');
    expect(await again.closed).toBe(4409);
    c.socket.close();
    await c.closed;
  });

  it('closes a stream that sends a result for a delivery it was not handed', async () => {
    const c = connect('twice');
    await c.framesOf('hello', 1);
    c.socket.send(
      JSON.stringify({ type: 'result', id: 'dlv_forged', statusCode: 200, durationMs: 1, body: '' }),
    );
    expect(await c.closed).toBe(1008);
  });

  it('limits new streams per application per minute (429 saying when to try again)', async () => {
    let refused = 0;
    for (let i = 0; i < 6; i++) {
      const c = connect('twice');
      const status = await c.opened;
      if (status === 429) refused++;
      c.socket.terminate();
    }
    expect(refused).toBeGreaterThan(0);
  });
});

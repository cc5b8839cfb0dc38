/**
 * `herald tail` beside separate workers on PostgreSQL: the attempt stream of a `--role api`
 * process shows the attempts a `--role worker` process commits (the workers NOTIFY them while
 * a stream holds the tailing lock), and once nobody tails, the workers send nothing.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { attemptsChannel } from '../../src/store/postgres/attempt-feed.js';
import { startReceiver } from '../helpers.js';
import { freshDatabase } from '../pg.js';
import { startHerald } from '../serve.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Reads `event: attempt` data lines of an SSE answer as they come. */
async function attemptStream(url: string, token: string) {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
  expect(res.status).toBe(200);
  const events: { msgId: string; responseStatusCode: number; eventType: string }[] = [];
  let connected = false;
  let buffer = '';
  const reading = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(': connected')) connected = true;
          const data = /^data: (.*)$/m.exec(block);
          if (/^event: attempt$/m.test(block) && data) events.push(JSON.parse(data[1]!));
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // Aborted at the end of the test.
    }
  })();
  return {
    events,
    connected: () => connected,
    close: async () => {
      abort.abort();
      await reading;
    },
  };
}

async function until(check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the attempt stream with --role api beside --role worker (PostgreSQL)', () => {
  it("shows the worker's attempts, and the worker notifies nobody once no stream is open", {
    timeout: 90_000,
  }, async () => {
    const db = await freshDatabase('tail');
    cleanups.push(db.drop);
    const token = `tail_${Date.now()}`;
    const api = await startHerald(['--role', 'api'], {}, { db: db.url, token });
    cleanups.push(() => api.stop());
    const worker = await startHerald(['--role', 'worker'], {}, { db: db.url, token });
    cleanups.push(() => worker.stop());
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    await api.post('/app', { name: 'Shop', uid: 'shop' });
    await api.post('/app/shop/endpoint', { url: receiver.url });

    const stream = await attemptStream(`${api.url}/api/v1/app/shop/attempt/stream`, token);
    await until(stream.connected);
    const sent: string[] = [];
    for (let n = 0; n < 3; n++)
      sent.push((await api.post('/app/shop/msg', { eventType: 'order.paid', payload: { n } })).id);
    await until(() => stream.events.length >= 3);
    expect(stream.events.map((e) => e.msgId).sort()).toEqual([...sent].sort());
    expect(stream.events.every((e) => e.responseStatusCode === 200 && e.eventType === 'order.paid')).toBe(
      true,
    );
    // The API process sent none of them: every attempt was the worker's.
    expect(api.output()).not.toMatch(/dispatcher running/);

    await stream.close();
    // Nobody tails now: after the worker's next look (at most a second), it notifies nothing.
    const { channel } = attemptsChannel('public');
    const listener = new pg.Client(db.url);
    await listener.connect();
    cleanups.push(() => listener.end());
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    await listener.query(`LISTEN ${channel}`);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const quiet = await api.post('/app/shop/msg', { eventType: 'order.paid', payload: { n: 9 } });
    await until(() => receiver.received.some((r) => r.headers['webhook-id'] === quiet.id));
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(heard).toEqual([]);
  });
});

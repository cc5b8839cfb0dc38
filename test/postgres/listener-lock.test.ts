/**
 * One connection per listener name across API processes on PostgreSQL: while one `--role api`
 * process holds a listener's stream, another refuses the same name with 4409; once the first
 * connection closes (or its process dies), the other takes it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freshDatabase } from '../pg.js';
import { type HeraldProcess, startHerald } from '../serve.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Opens a listener stream; resolves with its hello, or the close code that ended it first. */
function connect(api: HeraldProcess, name: string) {
  const url = `${api.url.replace(/^http/, 'ws')}/api/v1/app/shop/listener/${name}/listen`;
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${api.token}` } });
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  const first = new Promise<{ hello: true } | { closed: number }>((resolve) => {
    socket.on('message', (d) => {
      if (JSON.parse(String(d)).type === 'hello') resolve({ hello: true });
    });
    void closed.then((code) => resolve({ closed: code }));
  });
  cleanups.push(async () => {
    socket.close();
    await closed;
  });
  return { socket, first, closed };
}

describe('a listener name across API processes (PostgreSQL)', () => {
  it('is connected to one process at a time', { timeout: 60_000 }, async () => {
    const db = await freshDatabase('listenlock');
    cleanups.push(db.drop);
    const token = `lock_${Date.now()}`;
    const one = await startHerald(['--role', 'api'], {}, { db: db.url, token });
    cleanups.push(() => one.stop());
    const two = await startHerald(['--role', 'api'], {}, { db: db.url, token });
    cleanups.push(() => two.stop());
    await one.post('/app', { name: 'Shop', uid: 'shop' });
    const put = await fetch(`${one.url}/api/v1/app/shop/listener/laptop`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(put.status).toBe(200);

    const first = connect(one, 'laptop');
    expect(await first.first).toEqual({ hello: true });
    const refused = connect(two, 'laptop');
    expect(await refused.first).toEqual({ closed: 4409 });
    // Another name is not held.
    expect(await connect(two, 'desk').first).toEqual({ hello: true });

    first.socket.close();
    await first.closed;
    // The first process gives the name back as its connection closes.
    let taken: { hello: true } | { closed: number } = { closed: 0 };
    for (let i = 0; i < 20 && !('hello' in taken); i++) {
      taken = await connect(two, 'laptop').first;
      if (!('hello' in taken)) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(taken).toEqual({ hello: true });

    // A process that dies gives back what it held: its session, and with it the lock, ends.
    two.child.kill('SIGKILL');
    let again: { hello: true } | { closed: number } = { closed: 0 };
    for (let i = 0; i < 50 && !('hello' in again); i++) {
      again = await connect(one, 'laptop').first;
      if (!('hello' in again)) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(again).toEqual({ hello: true });
  });
});

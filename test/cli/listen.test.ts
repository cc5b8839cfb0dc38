/**
 * `herald listen` as a person runs it: a real `herald serve` (from dist), a real local server
 * that verifies every delivery with the printed secret using the `standardwebhooks` library,
 * and `herald listen` as a child process between them: killed and started again with nothing
 * lost and the order kept, the server's side of the stream dropped mid-delivery, and "Ready"
 * never printed while the stream is held closed.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { api } from './run.js';
import { spawnHerald } from './spawned.js';

let herald: HeraldProcess;
beforeAll(async () => {
  herald = await startHerald();
  expect((await api(herald, 'POST', '/app', { name: 'Shop', uid: 'shop' })).status).toBe(201);
});
afterAll(async () => {
  await herald?.stop();
});

/** A local server that verifies each request with `secret()` and records what it got. */
async function verifyingReceiver(secret: () => string, hold?: () => Promise<void>) {
  const verified: { msgId: string; n: number }[] = [];
  const refused: string[] = [];
  const receiver = await startReceiver((req, res) => {
    void (async () => {
      await hold?.();
      try {
        const body = new Webhook(secret()).verify(req.body, req.headers as Record<string, string>) as {
          n: number;
        };
        verified.push({ msgId: String(req.headers['webhook-id']), n: body.n });
        res.end('thanks');
      } catch (error) {
        refused.push((error as Error).message);
        res.statusCode = 401;
        res.end('bad signature');
      }
    })();
  });
  return { receiver, verified, refused };
}

const send = async (n: number, eventType = 'order.paid') => {
  const r = await api(herald, 'POST', '/app/shop/msg', { eventType, payload: { n, note: 'é ✓' } });
  expect(r.status).toBe(202);
  return r.body.id as string;
};

function listen(receiver: Receiver, name: string, server = herald.url, extra: string[] = []) {
  return spawnHerald(
    ['listen', '--app', 'shop', '--forward-to', receiver.url, '--name', name, '--server', server, ...extra],
    { HERALD_TOKEN: herald.token },
  );
}

describe('herald listen', () => {
  it('prints the endpoint and secret first, forwards signed deliveries that verify, and loses nothing across a SIGKILL', async () => {
    let secret = '';
    const { receiver, verified, refused } = await verifyingReceiver(() => secret);
    try {
      const first = listen(receiver, 'laptop', herald.url, ['--events', 'order.paid']);
      const [, endpointId, , key] = await first.waitFor(
        /^endpoint (ep_\S+) \(listener (\S+)\).*\n {2}secret: (whsec_\S+)/m,
      );
      secret = key!;
      await first.waitFor(/^Ready: forwarding shop's deliveries/m);
      // The secret comes before any connection news.
      expect(first.stdout().indexOf('secret:')).toBeLessThan(first.stdout().indexOf('connecting'));
      const one = await send(1);
      await send(99, 'order.refunded'); // not in --events: never forwarded
      await receiver.arrived(1);
      await first.waitFor(new RegExp(`order\\.paid {2}${one} {2}200 {2}\\d+ ms`));
      expect(verified).toEqual([{ msgId: one, n: 1 }]);

      // Killed outright: the next five wait in Herald, and arrive in order when it comes back.
      // (Killed before Herald has the answer for the first, it would send that one again, as
      // at-least-once delivery should: wait for its attempt to be recorded.)
      await pollAttempts(`msg/${one}`, 1);
      await first.stop('SIGKILL');
      const ids: string[] = [];
      for (let n = 2; n <= 6; n++) ids.push(await send(n));
      const again = listen(receiver, 'laptop', herald.url, ['--events', 'order.paid']);
      const [, sameId, sameSecret] = await again.waitFor(/^endpoint (ep_\S+) .*\n {2}secret: (whsec_\S+)/m);
      expect([sameId, sameSecret]).toEqual([endpointId, secret]);
      await receiver.arrived(6);
      expect(verified.map((v) => v.n)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(verified.map((v) => v.msgId).slice(1)).toEqual(ids);
      expect(refused).toEqual([]);
      // The bytes were the stored ones: the receiver saw the payload as sent, signature and all.
      expect(JSON.parse(receiver.received[1]!.body)).toEqual({ n: 2, note: 'é ✓' });
      expect(receiver.received[1]!.headers['user-agent']).toMatch(/^Herald\//);
      // Each local answer is an attempt in the log.
      for (const id of ids) await again.waitFor(new RegExp(`${id} {2}200`));
      const attempts = await pollAttempts(`endpoint/${endpointId}`, 6);
      expect(attempts.map((a: { responseStatusCode: number }) => a.responseStatusCode)).toEqual(
        Array(6).fill(200),
      );
      expect(await again.stop('SIGINT')).toBe(0);
    } finally {
      await receiver.close();
    }
  });

  it('a local failure is a failed attempt, retried on the short schedule', async () => {
    let secret = '';
    let fail = true;
    const receiver = await startReceiver((req, res) => {
      if (fail) {
        fail = false;
        res.statusCode = 500;
        return res.end('local bug');
      }
      new Webhook(secret).verify(req.body, req.headers as Record<string, string>);
      res.end('ok');
    });
    try {
      const l = listen(receiver, 'flaky');
      secret = (await l.waitFor(/secret: (whsec_\S+)/))[1]!;
      await l.waitFor(/^Ready/m);
      const id = await send(7);
      await l.waitFor(new RegExp(`${id} {2}500`));
      await l.waitFor(new RegExp(`${id} {2}200 {2}\\d+ ms {2}\\(retry 1\\)`));
      const body = { data: await pollAttempts(`msg/${id}`, 2) };
      expect(
        body.data.map((a: { responseStatusCode: number; response: string }) => a.responseStatusCode).sort(),
      ).toEqual([200, 500]);
      expect(body.data.some((a: { response: string }) => a.response === 'local bug')).toBe(true);
      await l.stop();
    } finally {
      await receiver.close();
    }
  });

  it('never says Ready while the stream is held closed; reconnects by itself once it opens, and a drop mid-delivery is retried, not lost', async () => {
    const proxy = await streamProxy(herald.url);
    let secret = '';
    let release: (() => void) | null = null;
    let holdNext = false;
    const { receiver, verified } = await verifyingReceiver(
      () => secret,
      () =>
        holdNext
          ? new Promise<void>((resolve) => {
              holdNext = false;
              release = resolve;
            })
          : Promise.resolve(),
    );
    try {
      proxy.refuse = true;
      const l = listen(receiver, 'behind-proxy', proxy.url);
      secret = (await l.waitFor(/secret: (whsec_\S+)/))[1]!;
      await l.waitFor(/not connected: 503[^\n]*reconnecting in/);
      await l.waitFor(
        /not connected: 503[^\n]*reconnecting in/,
        l.output().lastIndexOf('reconnecting in') + 1,
      );
      expect(l.output()).not.toMatch(/Ready/);
      proxy.refuse = false;
      await l.waitFor(/^Ready/m);

      // The server's side of the stream drops while the local server holds the delivery.
      holdNext = true;
      const id = await send(42);
      await receiver.arrived(1);
      const mark = l.output().length;
      proxy.dropAll();
      (release as unknown as () => void)();
      await l.waitFor(/^reconnecting to/m, mark);
      await l.waitFor(/^Ready/m, mark);
      await receiver.arrived(2);
      expect(verified.map((v) => v.msgId)).toEqual([id, id]);
      await l.stop();
    } finally {
      await receiver.close();
      await proxy.close();
    }
  });

  it('is refused, with the reason, for a token that may not listen', async () => {
    const receiver = await startReceiver();
    try {
      const l = spawnHerald(
        ['listen', '--app', 'shop', '--forward-to', receiver.url, '--server', herald.url],
        {
          HERALD_TOKEN: 'not-a-token',
        },
      );
      expect(await l.exited()).toBe(2);
      expect(l.output()).toMatch(/herald: the token was refused/);
      expect(l.output()).not.toMatch(/Ready/);
    } finally {
      await receiver.close();
    }
  });
});

/** The attempts of `of` (`endpoint/{id}` or `msg/{id}`) once there are `count`: the log is written just after the client reports. */
async function pollAttempts(of: string, count: number) {
  for (;;) {
    const { body } = await api(herald, 'GET', `/app/shop/attempt/${of}`);
    if (body.data.length >= count) return body.data;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A proxy in front of Herald for the stream: it passes HTTP requests on, and upgrades too
 * unless `refuse` (then it answers 503, as a server whose stream route is closed); `dropAll`
 * closes every stream it carries, as a server that vanished mid-delivery.
 */
async function streamProxy(target: string) {
  const upstream = new URL(target);
  const tunnels = new Set<Socket>();
  const state = { refuse: false };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = { ...req.headers } as Record<string, string>;
    for (const name of ['host', 'connection', 'content-length', 'transfer-encoding']) delete headers[name];
    const r = await fetch(new URL(req.url!, target), {
      method: req.method!,
      headers,
      ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
    });
    res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' });
    res.end(Buffer.from(await r.arrayBuffer()));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (state.refuse) {
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\r\n{"detail":"stream route closed"}',
      );
      return;
    }
    const up = connect(Number(upstream.port), upstream.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) up.write(head);
      up.pipe(socket).pipe(up);
    });
    tunnels.add(socket).add(up);
    const gone = () => {
      socket.destroy();
      up.destroy();
    };
    socket.on('error', gone).on('close', gone);
    up.on('error', gone).on('close', gone);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get refuse() {
      return state.refuse;
    },
    set refuse(v: boolean) {
      state.refuse = v;
    },
    dropAll() {
      for (const s of tunnels) s.destroy();
      tunnels.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of tunnels) s.destroy();
        server.close(() => resolve());
      }),
  };
}

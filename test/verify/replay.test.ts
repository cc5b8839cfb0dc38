/**
 * The duplicate guard in every adapter, on real servers (127.0.0.1, port 0): a webhook
 * handled once is acknowledged 200 and not handled again, a forged one with a known id is
 * still refused, one whose handler failed is handled again, one still being handled gets 409.
 */
import { EventEmitter, once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { generateHmacSecret } from '../../src/core/signing.js';
import {
  fastifyWebhook,
  hmac,
  honoWebhook,
  MemoryReplayStore,
  nodeMiddleware,
  type ReplayStore,
  standardWebhooks,
  verifyRequest,
  webHandler,
} from '../../src/verify/index.js';
import { closeAfterAll, listen, signer } from './fixture.js';

const secret = generateHmacSecret();
const verify = standardWebhooks(secret);
const body = '{"type":"order.paid","total":42.5}';
const signed = signer(secret, body);

/** A MemoryReplayStore that reports each settled id, so a test can wait for it. */
class WatchedStore extends MemoryReplayStore {
  readonly events = new EventEmitter();
  override handled(id: string, ttlMs: number): void {
    super.handled(id, ttlMs);
    this.events.emit('handled', id);
  }
  override release(id: string): void {
    super.release(id);
    this.events.emit('released', id);
  }
}

/**
 * The route's work: answers a status, or throws. `hungUp` settles when the sender has gone
 * (only adapters on Node's `ServerResponse` give it).
 */
type Handle = (hungUp?: Promise<unknown>) => Promise<number>;

/** Mounts an adapter with `store` and a route answering what `handle` gives; returns the URL. */
type Mount = (store: ReplayStore, handle: Handle) => Promise<string>;

async function listenFetch(fetch: (request: Request) => Response | Promise<Response>): Promise<string> {
  const server = serve({ fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  closeAfterAll(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

const closed = (res: ServerResponse) => once(res, 'close');

const mounts: [string, Mount][] = [
  [
    'Node http',
    async (store, handle) => {
      const middleware = nodeMiddleware(verify, { replay: store });
      return listen(
        createServer((req, res) =>
          middleware(req, res, async () => {
            try {
              res.statusCode = await handle(closed(res));
            } catch {
              res.statusCode = 500;
            }
            res.end('handled');
          }),
        ),
      );
    },
  ],
  [
    'Express',
    async (store, handle) => {
      const app = express();
      app.post('/hook', nodeMiddleware(verify, { replay: store }), async (_req, res) => {
        // Express 5 answers 500 for a handler that rejects.
        res.status(await handle(closed(res))).send('handled');
      });
      return listen(createServer(app));
    },
  ],
  [
    'Fastify',
    async (store, handle) => {
      const app = Fastify();
      await app.register(async (scope) => {
        await fastifyWebhook(verify, { replay: store })(scope as never);
        scope.post('/hook', async (_request, reply) => {
          reply.code(await handle(closed(reply.raw)));
          return 'handled';
        });
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      closeAfterAll(() => app.close());
      return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/hook`;
    },
  ],
  [
    'Hono',
    async (store, handle) => {
      const app = new Hono<{ Variables: { rawBody: Buffer } }>();
      app.onError((_error, c) => c.text('handler failed', 500));
      app.post('/hook', honoWebhook(verify, { replay: store }) as never, async (c) =>
        c.text('handled', (await handle()) as 200),
      );
      return listenFetch(app.fetch);
    },
  ],
  [
    'Fetch API (webHandler)',
    async (store, handle) =>
      listenFetch(async (request) => {
        const handler = webHandler(verify, async () => new Response('handled', { status: await handle() }), {
          replay: store,
        });
        try {
          return await handler(request);
        } catch {
          return new Response('handler failed', { status: 500 });
        }
      }),
  ],
];

async function send(url: string, headers: Record<string, string>, signal?: AbortSignal) {
  const res = await fetch(url, { method: 'POST', headers, body, signal });
  const text = await res.text();
  return { status: res.status, body: text, code: text.startsWith('{') ? JSON.parse(text).code : undefined };
}

/** A handler that answers 200 and counts its calls. */
function counting() {
  const counter = {
    calls: 0,
    handle: async () => {
      counter.calls++;
      return 200;
    },
  };
  return counter;
}

/** A promise with its resolver, for a handler the test lets go of. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe.each(mounts)('%s', (name, mount) => {
  it('acknowledges a webhook already handled with 200, without handling it again', async () => {
    const counter = counting();
    const url = await mount(new WatchedStore(), counter.handle);
    const headers = signed();
    expect(await send(url, headers)).toMatchObject({ status: 200, body: 'handled' });
    expect(await send(url, headers)).toMatchObject({ status: 200, code: 'duplicate' });
    expect(await send(url, headers)).toMatchObject({ status: 200, code: 'duplicate' });
    // Another id is another webhook.
    expect(await send(url, signed())).toMatchObject({ status: 200, body: 'handled' });
    expect(counter.calls).toBe(2);
  });

  it('checks the signature first: a forged request carrying a handled id is 401', async () => {
    const counter = counting();
    const url = await mount(new WatchedStore(), counter.handle);
    const headers = signed();
    await send(url, headers);
    const forged = await send(url, { ...headers, 'webhook-signature': 'v1,Zm9yZ2Vk' });
    expect(forged).toMatchObject({ status: 401, code: 'no_matching_signature' });
    expect(counter.calls).toBe(1);
  });

  it('hands a webhook whose handler failed (5xx, or threw) to the handler again', async () => {
    const outcomes: (number | 'throw')[] = [503, 'throw', 200];
    let calls = 0;
    const url = await mount(new WatchedStore(), async () => {
      const outcome = outcomes[calls++];
      if (outcome === 'throw') throw new Error('the handler failed');
      return outcome ?? 200;
    });
    const headers = signed();
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(url, headers)).status);
    expect(statuses).toEqual([503, 500, 200, 200]);
    expect(calls).toBe(3);
  });

  it('answers 409 to a duplicate arriving while the first is being handled, then 200 once it is', async () => {
    const entered = deferred<void>();
    const finish = deferred<number>();
    let calls = 0;
    const url = await mount(new WatchedStore(), async () => {
      calls++;
      entered.resolve();
      return finish.promise;
    });
    const headers = signed();
    const first = send(url, headers);
    await entered.promise;
    expect(await send(url, headers)).toMatchObject({ status: 409, code: 'in_progress' });
    finish.resolve(200);
    expect(await first).toMatchObject({ status: 200, body: 'handled' });
    expect(await send(url, headers)).toMatchObject({ status: 200, code: 'duplicate' });
    expect(calls).toBe(1);
  });

  it.skipIf(name === 'Hono' || name === 'Fetch API (webHandler)')(
    // Those two settle when the handler returns its Response, whatever the connection did.
    'keeps the id of a handler that answered 2xx after its sender hung up (a sender timeout)',
    async () => {
      const store = new WatchedStore();
      // Wrapped: a promise resolved with a promise would wait for that one.
      const entered = deferred<{ hungUp?: Promise<unknown> }>();
      const finish = deferred<number>();
      const url = await mount(store, async (hungUp) => {
        entered.resolve({ hungUp });
        return finish.promise;
      });
      const headers = signed();
      const abort = new AbortController();
      const first = send(url, headers, abort.signal).catch((error: Error) => error.name);
      const { hungUp } = await entered.promise;
      abort.abort();
      expect(await first).toBe('AbortError');
      await hungUp;
      const handled = once(store.events, 'handled');
      finish.resolve(200);
      expect(await handled).toEqual([headers['webhook-id']]);
      expect(await send(url, headers)).toMatchObject({ status: 200, code: 'duplicate' });
    },
  );
});

describe('the guard around the adapters', () => {
  it('a verifier that returns no id (Slack, generic HMAC) never deduplicates', async () => {
    let calls = 0;
    const handler = webHandler(
      hmac('k', { header: 'x-sig' }),
      () => {
        calls++;
        return new Response('handled');
      },
      { replay: new MemoryReplayStore() },
    );
    const { createHmac } = await import('node:crypto');
    const headers = { 'x-sig': createHmac('sha256', 'k').update(body).digest('hex') };
    for (let i = 0; i < 2; i++) {
      const res = await handler(new Request('http://x/hook', { method: 'POST', headers, body }));
      expect(res.status).toBe(200);
    }
    expect(calls).toBe(2);
  });

  it('keeps ids for replayTtlMs: a duplicate after it is handled again', async () => {
    let now = 0;
    let calls = 0;
    const handler = webHandler(
      verify,
      () => {
        calls++;
        return new Response('handled');
      },
      { replay: new MemoryReplayStore(() => now), replayTtlMs: 60_000 },
    );
    const headers = signed();
    const post = () => handler(new Request('http://x/hook', { method: 'POST', headers, body }));
    await post();
    now = 59_999;
    expect(await (await post()).json()).toMatchObject({ code: 'duplicate' });
    now = 60_000;
    expect(await (await post()).text()).toBe('handled');
    expect(calls).toBe(2);
  });

  it('a store that fails to record an outcome is a process warning; the answer stands', async () => {
    const failing: ReplayStore = {
      claim: () => 'new',
      handled: () => Promise.reject(new Error('store down')),
      release: () => undefined,
    };
    const handler = webHandler(verify, () => new Response('handled'), { replay: failing });
    const warned = once(process, 'warning');
    const headers = signed();
    const res = await handler(new Request('http://x/hook', { method: 'POST', headers, body }));
    expect([res.status, await res.text()]).toEqual([200, 'handled']);
    const [warning] = (await warned) as [Error];
    expect(warning.message).toContain(`failed to settle webhook ${headers['webhook-id']}: Error: store down`);
  });

  it('verifyRequest verifies and returns the raw body, and takes no replay store', async () => {
    const raw = await verifyRequest(
      new Request('http://x/hook', { method: 'POST', headers: signed(), body }),
      verify,
    );
    expect(raw.toString()).toBe(body);
    await expect(
      verifyRequest(
        new Request('http://x/hook', { method: 'POST', headers: { ...signed(), 'webhook-id': 'x' }, body }),
        verify,
      ),
    ).rejects.toMatchObject({ reason: 'no_matching_signature' });
  });
});

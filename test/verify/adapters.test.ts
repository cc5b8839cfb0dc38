/**
 * The adapters on real servers (127.0.0.1, port 0): Express, Fastify, Hono, Node `http`, and
 * the Fetch API `Request`. Each passes a signed request, refuses a forged one with 401 and
 * its reason, and hands the raw body on.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { generateHmacSecret } from '../../src/core/signing.js';
import {
  fastifyWebhook,
  MemoryReplayStore,
  nodeMiddleware,
  standardWebhooks,
  type VerifiedRequest,
  webHandler,
} from '../../src/verify/index.js';
import { closeAfterAll, listen, signer } from './fixture.js';

const secret = generateHmacSecret();
const verify = standardWebhooks(secret);
const body = '{"type":"order.paid",  "total": 42.5}';
const signed = signer(secret, body);

/** Sends a valid request, a forged one, and the valid one again (when `replays`); returns statuses and bodies. */
async function exercise(url: string, replays = false) {
  const headers = signed();
  const ok = await fetch(url, { method: 'POST', headers, body });
  const forged = await fetch(url, {
    method: 'POST',
    headers: { ...signed(), 'webhook-signature': 'v1,Zm9yZ2Vk' },
    body,
  });
  const result = {
    ok: ok.status,
    echoed: await ok.text(),
    forged: forged.status,
    reason: ((await forged.json()) as { code: string }).code,
  };
  if (!replays) return result;
  const again = await fetch(url, { method: 'POST', headers, body });
  return { ...result, replayed: again.status, replayReason: ((await again.json()) as { code: string }).code };
}

describe('adapters', () => {
  it('Node http', async () => {
    const middleware = nodeMiddleware(verify, { replay: new MemoryReplayStore() });
    const url = await listen(
      createServer((req, res) => middleware(req, res, () => res.end((req as VerifiedRequest).rawBody))),
    );
    expect(await exercise(url, true)).toEqual({
      ok: 200,
      echoed: body,
      forged: 401,
      reason: 'no_matching_signature',
      replayed: 200,
      replayReason: 'duplicate',
    });
  });

  it('Express, mounted before any body parser', async () => {
    const app = express();
    app.post('/hook', nodeMiddleware(verify), (req, res) => {
      res.send((req as unknown as VerifiedRequest).rawBody.toString());
    });
    const url = await listen(createServer(app));
    expect(await exercise(url)).toEqual({
      ok: 200,
      echoed: body,
      forged: 401,
      reason: 'no_matching_signature',
    });
  });

  it('Express after express.json() fails loudly instead of verifying a re-serialised body', async () => {
    const app = express();
    app.use(express.json());
    app.post('/hook', nodeMiddleware(verify), (_req, res) => {
      res.send('should not get here');
    });
    const url = await listen(createServer(app));
    const res = await fetch(url, { method: 'POST', headers: signed(), body });
    expect(res.status).toBe(500);
  });

  it('Fastify', async () => {
    const app = Fastify();
    await app.register(async (scope) => {
      await fastifyWebhook(verify)(scope as never);
      scope.post('/hook', async (request) => (request as unknown as { rawBody: Buffer }).rawBody.toString());
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    closeAfterAll(() => app.close());
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/hook`;
    expect(await exercise(url)).toEqual({
      ok: 200,
      echoed: body,
      forged: 401,
      reason: 'no_matching_signature',
    });
  });

  it('Hono', async () => {
    const { honoWebhook } = await import('../../src/verify/index.js');
    const app = new Hono<{ Variables: { rawBody: Buffer } }>();
    app.post('/hook', honoWebhook(verify) as never, (c) => c.text(c.get('rawBody').toString()));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    closeAfterAll(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    expect(await exercise(url)).toEqual({
      ok: 200,
      echoed: body,
      forged: 401,
      reason: 'no_matching_signature',
    });
  });

  it('Fetch API Request (Next.js route handlers, Bun, Deno)', async () => {
    const handler = webHandler(verify, (_request, raw) => new Response(raw.toString()));
    const ok = await handler(new Request('http://x/hook', { method: 'POST', headers: signed(), body }));
    expect([ok.status, await ok.text()]).toEqual([200, body]);
    const forged = await handler(
      new Request('http://x/hook', { method: 'POST', headers: { ...signed(), 'webhook-id': 'x' }, body }),
    );
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ code: 'no_matching_signature' });
  });
});

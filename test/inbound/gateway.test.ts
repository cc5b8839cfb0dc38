/**
 * The inbound gateway end to end: provider-signed requests (GitHub through
 * @octokit/webhooks-methods, Stripe through stripe's test helper) go through a source to a
 * local service that verifies Herald's own signature; forgeries are refused and logged;
 * a downstream outage loses nothing.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sign as githubSign } from '@octokit/webhooks-methods';
import type { FastifyInstance } from 'fastify';
import Stripe from 'stripe';
import { Webhook } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir, waitForEvent } from '../helpers.js';

const TOKEN = 'inbound-admin';
const dir = tempDir();
const clock = new ManualClock(Date.now());
let store: SqliteStore;
let api: FastifyInstance;
let dispatcher: Dispatcher;
let base: string;
let receiverPort = 0;
let receiver: Server | null = null;
const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];

function startReceiver(): Promise<void> {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.end();
    });
  });
  return new Promise((resolve) =>
    receiver!.listen(receiverPort, '127.0.0.1', () => {
      receiverPort = (receiver!.address() as AddressInfo).port;
      resolve();
    }),
  );
}

function stopReceiver(): Promise<void> {
  return new Promise((resolve) => {
    receiver!.closeAllConnections();
    receiver!.close(() => resolve());
  });
}

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

let endpointSecret: string;
let appId: string;

beforeAll(async () => {
  store = openSqliteStore({ path: dir.path('inbound.db'), clock });
  await store.saveToken(hashToken(TOKEN), null);
  api = await buildApi({ store, maxPayloadBytes: 64 * 1024 });
  base = await api.listen({ port: 0, host: '127.0.0.1' });
  dispatcher = new Dispatcher({ store, clock, allowNetworks: ['127.0.0.0/8'], random: () => 0.5 }).start();
  await startReceiver();
  appId = String((await admin('POST', '/app', { name: 'My service', uid: 'my-service' })).json.id);
  const ep = await admin('POST', '/app/my-service/endpoint', {
    url: `http://127.0.0.1:${receiverPort}/hooks`,
  });
  endpointSecret = String((await admin('GET', `/app/my-service/endpoint/${ep.json.id}/secret`)).json.key);
});

afterAll(async () => {
  await dispatcher.stop();
  await api.close();
  if (receiver?.listening) await stopReceiver();
  await store[Symbol.asyncDispose]();
  dir.remove();
});

function verifiedByHerald(index: number): unknown {
  const r = received[index]!;
  return new Webhook(endpointSecret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });
}

describe('inbound gateway', () => {
  it('forwards a GitHub push signed by @octokit/webhooks-methods, byte for byte, signed by Herald', async () => {
    const source = await admin('POST', '/source', {
      name: 'GitHub',
      provider: 'github',
      secrets: ['gh-secret'],
      appId: 'my-service',
    });
    expect(source.status).toBe(201);
    expect(source.json.ingestUrl).toMatch(/\/in\/src_/);
    const body = '{"ref":"refs/heads/main","commits":[{"id":"abc"}],  "pusher":{"name":"ada"}}';
    const delivered = waitForEvent<AttemptEvent>(dispatcher, 'attempt');
    const res = await fetch(`${base}/in/${source.json.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': 'gh-delivery-1',
        'x-hub-signature-256': await githubSign('gh-secret', body),
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ eventType: 'push' });
    expect((await delivered).attempt.succeeded).toBe(true);
    expect(received.at(-1)!.body).toBe(body);
    expect(verifiedByHerald(received.length - 1)).toEqual(JSON.parse(body));
    // Provider headers stay behind unless the source passes them through.
    expect(received.at(-1)!.headers['x-github-event']).toBeUndefined();
  });

  it("passes the provider's headers through when the source says so, never Herald's own", async () => {
    const source = await admin('POST', '/source', {
      name: 'GitHub passthrough',
      provider: 'github',
      secrets: ['gh-secret'],
      appId,
      passthroughHeaders: true,
    });
    expect(source.json.passthroughHeaders).toBe(true);
    const body = '{"action":"opened","number":7}';
    const delivered = waitForEvent<AttemptEvent>(dispatcher, 'attempt');
    const res = await fetch(`${base}/in/${source.json.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'pull_request',
        'x-github-delivery': 'gh-delivery-pt',
        'x-hub-signature-256': await githubSign('gh-secret', body),
        'webhook-id': 'spoofed',
      },
      body,
    });
    expect(await res.json()).toMatchObject({ eventType: 'pull_request.opened' });
    await delivered;
    const got = received.at(-1)!;
    expect(got.headers['x-github-event']).toBe('pull_request');
    expect(got.headers['x-github-delivery']).toBe('gh-delivery-pt');
    expect(got.headers['x-hub-signature-256']).toMatch(/^sha256=/);
    expect(got.headers['webhook-id']).toMatch(/^msg_/);
    expect(verifiedByHerald(received.length - 1)).toEqual(JSON.parse(body));
  });

  it('forwards a Stripe event once, however often Stripe retries it', async () => {
    const source = await admin('POST', '/source', {
      name: 'Stripe',
      provider: 'stripe',
      secrets: ['whsec_stripe'],
      appId,
    });
    const stripe = new Stripe('sk_test_unused');
    const body = JSON.stringify({ id: 'evt_123', type: 'invoice.paid', data: { object: { amount: 1200 } } });
    const send = () =>
      fetch(`${base}/in/${source.json.id}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'stripe-signature': stripe.webhooks.generateTestHeaderString({
            payload: body,
            secret: 'whsec_stripe',
          }),
        },
        body,
      });
    const before = received.length;
    const delivered = waitForEvent<AttemptEvent>(dispatcher, 'attempt');
    const first = await send();
    expect(await first.json()).toMatchObject({ eventType: 'invoice.paid' });
    await delivered;
    const retry = await send();
    expect(retry.status).toBe(200);
    const again = (await retry.json()) as { duplicate: boolean; id: string };
    expect(again.duplicate).toBe(true);
    expect(received.length).toBe(before + 1);
    const log = await admin('GET', `/source/${source.json.id}/request`);
    expect((log.json.data as { status: string }[]).map((r) => r.status)).toEqual(['duplicate', 'accepted']);
  });

  it('refuses a forged request with 401, logs it as rejected, forwards nothing', async () => {
    const source = await admin('POST', '/source', {
      name: 'GitHub 2',
      provider: 'github',
      secrets: ['right'],
      appId,
    });
    const body = '{"ref":"refs/heads/evil"}';
    const before = (await admin('GET', '/app/my-service/msg')).json.data as unknown[];
    const res = await fetch(`${base}/in/${source.json.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-hub-signature-256': await githubSign('wrong', body),
      },
      body,
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'no_matching_signature' });
    const log = await admin('GET', `/source/${source.json.id}/request`);
    expect(log.json.data).toEqual([
      expect.objectContaining({ status: 'rejected', reason: 'no_matching_signature', body }),
    ]);
    expect((await admin('GET', '/app/my-service/msg')).json.data).toHaveLength(before.length);
    expect((await fetch(`${base}/in/src_unknown`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('rotates a source secret in place: the ingest URL stays, both verify meanwhile, then only the new one', async () => {
    const source = await admin('POST', '/source', {
      name: 'GitHub 3',
      provider: 'github',
      secrets: ['v1'],
      appId,
    });
    const push = async (secret: string) => {
      const body = '{"ref":"refs/heads/main"}';
      const res = await fetch(`${base}/in/${source.json.id}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-hub-signature-256': await githubSign(secret, body),
        },
        body,
      });
      return res.status;
    };
    expect(await push('v1')).toBe(200);
    // During the rotation both secrets verify; then the old one is dropped.
    const patched = await admin('PATCH', `/source/${source.json.id}`, {
      secrets: ['v2', 'v1'],
      name: 'GitHub 3b',
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({
      id: source.json.id,
      name: 'GitHub 3b',
      ingestUrl: source.json.ingestUrl,
    });
    expect([await push('v1'), await push('v2')]).toEqual([200, 200]);
    expect((await admin('PATCH', `/source/${source.json.id}`, { secrets: ['v2'] })).status).toBe(200);
    expect([await push('v1'), await push('v2')]).toEqual([401, 200]);
    // Provider and application cannot change, and saying so is an error, not ignored.
    const refused = await admin('PATCH', `/source/${source.json.id}`, { provider: 'stripe' });
    expect(refused.status).toBe(422);
    expect(JSON.stringify(refused.json)).toMatch(/provider/);
    expect((await admin('PATCH', `/source/${source.json.id}`, { secrets: [] })).status).toBe(422);
    expect((await admin('PATCH', '/source/src_missing', { name: 'x' })).status).toBe(404);
    expect((await admin('GET', `/source/${source.json.id}`)).json).toMatchObject({
      provider: 'github',
      name: 'GitHub 3b',
    });
  });

  it('refuses a body over the limit with 413', async () => {
    const source = await admin('POST', '/source', { name: 'Open', provider: 'none', appId });
    const res = await fetch(`${base}/in/${source.json.id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ blob: 'x'.repeat(70 * 1024) }),
    });
    expect(res.status).toBe(413);
  });

  it('keeps what arrives while the downstream service is down and delivers it once it is back', async () => {
    const source = await admin('POST', '/source', { name: 'Open 2', provider: 'none', appId });
    await stopReceiver();
    const failed = waitForEvent<AttemptEvent>(dispatcher, 'attempt');
    const res = await fetch(`${base}/in/${source.json.id}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'plain text from a legacy system',
    });
    expect(res.status).toBe(200);
    expect((await failed).attempt.errorKind).toBe('connection_refused');
    await startReceiver();
    const delivered = waitForEvent<AttemptEvent>(dispatcher, 'attempt');
    clock.advance(5_000);
    expect((await delivered).attempt.succeeded).toBe(true);
    expect(JSON.parse(received.at(-1)!.body)).toEqual({
      body: 'plain text from a legacy system',
      contentType: 'text/plain',
    });
  });

  it('refuses bad source definitions with 422', async () => {
    expect(
      (await admin('POST', '/source', { name: 'x', provider: 'github', secrets: [], appId })).status,
    ).toBe(422);
    expect((await admin('POST', '/source', { name: 'x', provider: 'paypal', appId })).status).toBe(422);
    expect((await admin('POST', '/source', { name: 'x', provider: 'none', appId: 'nope' })).status).toBe(404);
  });
});

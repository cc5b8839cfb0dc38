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
import { REJECTED_BODY_KEPT_BYTES } from '../../src/inbound/gateway.js';
import { InboundSweeper, type SweepEvent } from '../../src/inbound/retention.js';
import type { InboundRetention } from '../../src/store/inbound-retention.js';
import type { Store } from '../../src/store/store.js';
import { waitForEvent } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const TOKEN = 'inbound-admin';
const clock = new ManualClock(Date.now());
let opened: TestStore;
let store: Store;
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
  opened = await openTestStore('gateway', { clock });
  store = opened.store;
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
  await opened.close();
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

describe('inbound request log: what it keeps, and for how long', () => {
  const DAY = 86_400_000;
  const MiB = 1024 * 1024;
  /** A store of its own (a manual clock) behind an API with the default 1 MiB limit. */
  async function openLog(retention: Partial<InboundRetention> = {}) {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const testStore = await openTestStore('inbound_log', { clock, inboundRetention: retention });
    const logStore = testStore.store;
    await logStore.saveToken(hashToken(TOKEN), null);
    const logApi = await buildApi({ store: logStore });
    const app = (await logStore.createApplication({ name: 'Log' })).id;
    const call = async (method: 'GET' | 'POST', url: string, payload?: unknown) =>
      (
        await logApi.inject({
          method,
          url: `/api/v1${url}`,
          headers: { authorization: `Bearer ${TOKEN}` },
          ...(payload ? { payload: payload as Record<string, unknown> } : {}),
        })
      ).json() as Record<string, unknown>;
    const source = async (body: Record<string, unknown>) =>
      String((await call('POST', '/source', { appId: app, ...body })).id);
    const log = async (sourceId: string) =>
      (await call('GET', `/source/${sourceId}/request?limit=250`)).data as {
        status: string;
        headers: Record<string, string>;
        body: string;
        bodyTruncated: boolean;
        bodySize: number;
      }[];
    return {
      testStore,
      clock,
      store: logStore,
      api: logApi,
      source,
      log,
      close: async () => {
        await logApi.close();
        await testStore.close();
      },
    };
  }

  /**
   * Bytes the database holds, as a reader sees it: SQLite's pages (the file and what the WAL
   * adds to it), or PostgreSQL's inbound_requests table with its TOAST and indexes.
   */
  async function databaseBytes(testStore: TestStore): Promise<number> {
    const [row] =
      testStore.db === 'sqlite'
        ? await testStore.sql(
            'SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()',
          )
        : await testStore.sql("SELECT pg_total_relation_size('inbound_requests') AS n");
    return Number(row!.n);
  }

  it('keeps the headers, the first 1 KiB and the size of each forged request: 32 x 1 MiB add under 1 MB', async () => {
    const log = await openLog();
    try {
      const sourceId = await log.source({ name: 'GitHub', provider: 'github', secrets: ['right'] });
      const body = JSON.stringify({ blob: 'x'.repeat(MiB - 11) });
      expect(Buffer.byteLength(body)).toBe(MiB);
      const signature = await githubSign('wrong', body);
      const before = await databaseBytes(log.testStore);
      for (let i = 0; i < 32; i++) {
        const res = await log.api.inject({
          method: 'POST',
          url: `/in/${sourceId}`,
          headers: {
            'content-type': 'application/json',
            'x-github-event': 'push',
            'x-hub-signature-256': signature,
          },
          payload: body,
        });
        expect(res.statusCode).toBe(401);
      }
      const grown = (await databaseBytes(log.testStore)) - before;
      // Whole bodies took 33,619,968 bytes here; now 65,536 (16 pages, ~2 KB a row).
      expect(grown).toBeLessThan(1_000_000);
      const rows = await log.log(sourceId);
      expect(rows).toHaveLength(32);
      for (const row of rows) {
        expect(row).toMatchObject({ status: 'rejected', bodyTruncated: true, bodySize: MiB });
        expect(row.body).toBe(body.slice(0, REJECTED_BODY_KEPT_BYTES));
        expect(row.headers).toMatchObject({ 'x-github-event': 'push', 'x-hub-signature-256': signature });
      }
    } finally {
      await log.close();
    }
  });

  it('keeps the whole body of an accepted request and of its duplicate', async () => {
    const log = await openLog();
    try {
      const sourceId = await log.source({ name: 'Open', provider: 'none' });
      const body = JSON.stringify({ type: 'order.paid', note: 'y'.repeat(4000) });
      for (const expected of [200, 200]) {
        const res = await log.api.inject({
          method: 'POST',
          url: `/in/${sourceId}`,
          headers: { 'content-type': 'application/json', 'idempotency-key': 'order-1' },
          payload: body,
        });
        expect(res.statusCode).toBe(expected);
      }
      expect(await log.log(sourceId)).toEqual([
        expect.objectContaining({ status: 'duplicate', body, bodyTruncated: false, bodySize: body.length }),
        expect.objectContaining({ status: 'accepted', body, bodyTruncated: false, bodySize: body.length }),
      ]);
    } finally {
      await log.close();
    }
  });

  it("keeps each source's newest requests past the cap, leaving the other sources' alone", async () => {
    const log = await openLog({ maxPerSource: 20 });
    try {
      const busy = await log.source({ name: 'Busy', provider: 'none' });
      const quiet = await log.source({ name: 'Quiet', provider: 'none' });
      const send = (sourceId: string, n: number) =>
        log.api.inject({
          method: 'POST',
          url: `/in/${sourceId}`,
          headers: { 'x-n': String(n) },
          payload: `{"n":${n}}`,
        });
      for (const n of [1, 2, 3]) await send(quiet, n);
      for (let n = 1; n <= 25; n++) await send(busy, n);
      const numbers = async (sourceId: string) =>
        (await log.log(sourceId)).map((r) => Number(r.headers['x-n']));
      expect(await numbers(busy)).toEqual(Array.from({ length: 20 }, (_, i) => 25 - i));
      expect(await numbers(quiet)).toEqual([3, 2, 1]);
    } finally {
      await log.close();
    }
  });

  it('sweeps away requests older than the retention, by the clock', async () => {
    const log = await openLog({ maxAgeMs: 30 * DAY });
    const sweeper = new InboundSweeper({ store: log.store, clock: log.clock });
    try {
      const swept = () => waitForEvent<SweepEvent>(sweeper, 'sweep');
      const started = swept();
      sweeper.start();
      await started;
      const sourceId = await log.source({ name: 'Open', provider: 'none' });
      const send = (text: string) =>
        log.api.inject({ method: 'POST', url: `/in/${sourceId}`, payload: text });
      await send('old 1');
      await send('old 2');
      let next = swept();
      log.clock.advance(29 * DAY);
      expect(await next).toEqual({ deleted: 0 });
      await send('new');
      next = swept();
      log.clock.advance(DAY + 1);
      expect(await next).toEqual({ deleted: 2 });
      expect((await log.log(sourceId)).map((r) => r.body)).toEqual(['new']);
    } finally {
      await sweeper[Symbol.asyncDispose]();
      await log.close();
    }
  });
});

/** Each row of DESIGN.md's response table, against a real receiver, in manual time. */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_SCHEDULE_MS } from '../../src/core/retry.js';
import { type Receiver, startReceiver } from '../helpers.js';
import { type Fixture, fixture } from './fixture.js';

let f: Fixture;
const receivers: Receiver[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await f?.close();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function answer(status: number, headers: Record<string, string> = {}, body = '') {
  const r = await startReceiver((_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  });
  receivers.push(r);
  return r;
}

/** Sends one message to one endpoint at `url` and returns its first committed attempt. */
async function sendOnce(url: string, options: Parameters<typeof fixture>[0] = {}) {
  f = await fixture({ manualClock: true, ...options });
  const ep = await f.store.createEndpoint(f.appId, { url, timeoutMs: 1_000 });
  const first = f.nextAttempt();
  const { message } = await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{"x":1}' });
  const event = await first;
  const delivery = await f.store.getDelivery(message.id, ep.id);
  const endpoint = await f.store.getEndpoint(f.appId, ep.id);
  return { event, delivery: delivery!, endpoint: endpoint!, sentAt: event.attempt.createdAt };
}

describe('response handling', () => {
  it.each([200, 201, 204, 299])('%i is a success', async (status) => {
    const r = await answer(status);
    const { event, delivery } = await sendOnce(r.url);
    expect(event.attempt).toMatchObject({ succeeded: true, statusCode: status, errorKind: null });
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 1, dueAt: null, leaseOwner: null });
  });

  it('a 3xx is a failure and the redirect is not followed', async () => {
    const target = await answer(200);
    const r = await answer(301, { location: target.url });
    const { event, delivery, sentAt } = await sendOnce(r.url);
    expect(event.attempt).toMatchObject({ succeeded: false, statusCode: 301, errorKind: 'http_status' });
    expect(target.received).toHaveLength(0);
    expect(delivery).toMatchObject({
      status: 'pending',
      attempts: 1,
      dueAt: sentAt + DEFAULT_RETRY_SCHEDULE_MS[0]!,
    });
  });

  it('410 Gone disables the endpoint and stops retrying', async () => {
    const r = await answer(410);
    const { event, delivery, endpoint } = await sendOnce(r.url);
    expect(event.next).toEqual({ status: 'failed', exhausted: false });
    expect(delivery.status).toBe('failed');
    expect(endpoint.disabled).toBe(true);
  });

  it.each([429, 502, 503, 504])('%i throttles: the next delay is at least 60 s', async (status) => {
    const r = await answer(status);
    const { delivery, sentAt } = await sendOnce(r.url);
    expect(delivery).toMatchObject({ status: 'pending', dueAt: sentAt + 60_000 });
  });

  it('500 is retried on the schedule', async () => {
    const r = await answer(500, {}, 'database down');
    const { event, delivery, sentAt } = await sendOnce(r.url);
    expect(event.attempt).toMatchObject({
      statusCode: 500,
      responseBody: 'database down',
      errorKind: 'http_status',
    });
    expect(delivery).toMatchObject({ status: 'pending', dueAt: sentAt + 5_000 });
  });

  it.each([
    ['honoured within the clamp', '7', 7_000],
    ['raised to the scheduled delay', '1', 5_000],
    ['capped at twice the scheduled delay', '3600', 10_000],
  ])('Retry-After is %s', async (_name, retryAfter, expected) => {
    const r = await answer(500, { 'retry-after': retryAfter });
    const { delivery, sentAt } = await sendOnce(r.url);
    expect(delivery.dueAt).toBe(sentAt + expected);
  });

  it('Retry-After on a 503 is clamped around the 60 s throttle floor', async () => {
    const r = await answer(503, { 'retry-after': '90' });
    const { delivery, sentAt } = await sendOnce(r.url);
    expect(delivery.dueAt).toBe(sentAt + 90_000);
  });

  it('connection refused is retried', async () => {
    const r = await answer(200);
    const url = r.url;
    await r.close();
    receivers.length = 0;
    const { event, delivery } = await sendOnce(url);
    expect(event.attempt).toMatchObject({ statusCode: null, errorKind: 'connection_refused' });
    expect(delivery.status).toBe('pending');
  });

  it('a reset connection is retried', async () => {
    const server: Server = createServer((socket) => socket.on('data', () => socket.resetAndDestroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const { event, delivery } = await sendOnce(`http://127.0.0.1:${port}/`);
    expect(event.attempt).toMatchObject({ statusCode: null, errorKind: 'connection_reset' });
    expect(delivery.status).toBe('pending');
  });

  it('a hanging receiver times out and is retried', async () => {
    const r = await startReceiver(() => {
      /* never answers */
    });
    receivers.push(r);
    const { event, delivery } = await sendOnce(r.url);
    expect(event.attempt).toMatchObject({ statusCode: null, errorKind: 'timeout' });
    expect(event.attempt.durationMs).toBeGreaterThanOrEqual(900);
    expect(delivery.status).toBe('pending');
  });

  it('a response body is kept up to 20,000 bytes and the rest is not read', async () => {
    const r = await answer(500, {}, 'x'.repeat(1_000_000));
    const { event } = await sendOnce(r.url);
    expect(event.attempt.responseBody).toHaveLength(20_000);
  });

  it('a body holding NUL bytes is recorded, each shown as U+FFFD (PostgreSQL text cannot hold U+0000)', async () => {
    const r = await answer(200, {}, 'ok\u0000then\u0000');
    const { event, delivery } = await sendOnce(r.url);
    expect(delivery.status).toBe('succeeded');
    const stored = await f.store.listAttempts(
      { appId: f.appId, endpointId: event.attempt.endpointId },
      { limit: 5 },
    );
    expect(stored.data.map((a) => a.responseBody)).toEqual(['ok\uFFFDthen\uFFFD']);
  });

  it('a DNS failure is retried', async () => {
    const { event, delivery } = await sendOnce('http://no-such-host.invalid/', {
      resolver: async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
      },
    });
    expect(event.attempt).toMatchObject({ statusCode: null, errorKind: 'dns' });
    expect(delivery.status).toBe('pending');
  });
});

describe('the retry schedule', () => {
  it('runs all 8 attempts of the default schedule in manual time, then fails the delivery', async () => {
    const r = await answer(500);
    f = await fixture({ manualClock: true });
    const ep = await f.store.createEndpoint(f.appId, { url: r.url });
    let next = f.nextAttempt();
    const { message } = await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{}' });
    const gaps: number[] = [];
    let last = (await next).attempt.createdAt;
    for (const delay of DEFAULT_RETRY_SCHEDULE_MS) {
      next = f.nextAttempt();
      f.clock!.advance(delay);
      const event = await next;
      gaps.push(event.attempt.createdAt - last);
      last = event.attempt.createdAt;
    }
    expect(gaps).toEqual([...DEFAULT_RETRY_SCHEDULE_MS]);
    const delivery = await f.store.getDelivery(message.id, ep.id);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 8, dueAt: null });
    expect(r.received).toHaveLength(8);
    // Every retry carries the same webhook-id, so receivers can deduplicate.
    expect(new Set(r.received.map((x) => x.headers['webhook-id']))).toEqual(new Set([message.id]));
    const page = await f.store.listAttempts({ appId: f.appId, msgId: message.id }, { limit: 50 });
    expect(page.data).toHaveLength(8);
    expect(await f.store.nextDueAt()).toBeNull();
  });

  it('spreads delays by ±20 % jitter', async () => {
    const r = await answer(500);
    for (const [random, factor] of [
      [0, 0.8],
      [0.999_999, 1.2],
    ] as const) {
      f = await fixture({ manualClock: true, random: () => random });
      const ep = await f.store.createEndpoint(f.appId, { url: r.url });
      const next = f.nextAttempt();
      const { message } = await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{}' });
      const sentAt = (await next).attempt.createdAt;
      const delivery = await f.store.getDelivery(message.id, ep.id);
      expect(delivery!.dueAt! - sentAt).toBeCloseTo(5_000 * factor, -1);
      await f.close();
    }
    f = undefined as unknown as Fixture;
  });

  it('uses a per-endpoint schedule when the endpoint has one', async () => {
    const r = await answer(500);
    f = await fixture({ manualClock: true });
    const ep = await f.store.createEndpoint(f.appId, { url: r.url, retrySchedule: [2_000] });
    let next = f.nextAttempt();
    const { message } = await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{}' });
    await next;
    next = f.nextAttempt();
    f.clock!.advance(2_000);
    expect((await next).next).toEqual({ status: 'failed', exhausted: true });
    expect((await f.store.getDelivery(message.id, ep.id))!.attempts).toBe(2);
  });
});

/**
 * Transformations through the official svix client, on the backend under test: saved and read
 * as `transformationGet` / `patchTransformation` / `transformationPartialUpdate` call them
 * (application tokens too), code that does not load refused with 422 and its line, the body
 * reshaped and signed after the transformation, cancel, a URL change that the SSRF guard
 * refuses (stub resolver, no socket opened), and handlers that throw, loop or allocate without
 * end failing their own attempts while the endpoint beside them gets every delivery.
 */
import net from 'node:net';
import { Svix, Webhook } from 'svix';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AttemptEvent } from '../../src/delivery/dispatcher.js';
import { failure, type Parity, startParity } from '../api/parity.js';
import { collectEvents, type Receiver, startReceiver } from '../helpers.js';

let p: Parity;
let receiver: Receiver;
const resolved: string[] = [];

beforeAll(async () => {
  p = await startParity('transformations', {
    // Names resolve here, never on the network: metadata.internal is the cloud metadata address.
    resolver: async (hostname) => {
      resolved.push(hostname);
      if (hostname === 'metadata.internal') return [{ address: '169.254.169.254', family: 4 }];
      throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    },
  });
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await p?.close();
});

const SLACK = `
// Reshape an order event into a Slack incoming-webhook message.
function handler(webhook) {
  const order = webhook.payload;
  webhook.payload = {
    text: 'Order ' + order.id + ' paid: ' + order.amount + ' ' + order.currency,
    channel: webhook.transformationsParams && webhook.transformationsParams.channel,
  };
  webhook.method = 'PUT';
  webhook.headers['x-slack-style'] = webhook.eventType;
  return webhook;
}`;

async function endpointWith(appId: string, code: string, url = receiver.url) {
  const ep = await p.svix.endpoint.create(appId, { url });
  await p.svix.endpoint.patchTransformation(appId, ep.id, { code, enabled: true });
  return ep;
}

const attemptOf = (endpointId: string) => p.nextAttempt((e) => e.attempt.endpointId === endpointId);

describe('transformation API', () => {
  it('saves, reads and toggles the code as the svix SDK calls it, an application token too', async () => {
    const app = await p.svix.application.create({ name: 'Transform API' });
    const ep = await p.svix.endpoint.create(app.id, { url: receiver.url });
    const blank = await p.svix.endpoint.transformationGet(app.id, ep.id);
    expect(blank.code ?? null).toBeNull();
    expect(blank.enabled).toBe(false);

    await p.svix.endpoint.patchTransformation(app.id, ep.id, { code: SLACK, enabled: true });
    const saved = await p.svix.endpoint.transformationGet(app.id, ep.id);
    expect(saved.code).toBe(SLACK);
    expect(saved.enabled).toBe(true);
    expect(saved.updatedAt).toBeInstanceOf(Date);

    await p.svix.endpoint.transformationPartialUpdate(app.id, ep.id, { enabled: false });
    expect(await p.svix.endpoint.transformationGet(app.id, ep.id)).toMatchObject({
      code: SLACK,
      enabled: false,
    });

    // The portal's token (application-scoped) may use them.
    const { token } = await p.svix.authentication.appPortalAccess(app.id, {});
    const portal = new Svix(token, { serverUrl: p.url });
    await portal.endpoint.transformationPartialUpdate(app.id, ep.id, { enabled: true });
    expect((await portal.endpoint.transformationGet(app.id, ep.id)).enabled).toBe(true);
    // Another application's endpoint stays out of its reach.
    const other = await p.svix.application.create({ name: 'Other' });
    const theirs = await p.svix.endpoint.create(other.id, { url: receiver.url });
    expect((await failure(portal.endpoint.transformationGet(other.id, theirs.id))).code).toBe(403);

    // Removing the code turns the transformation off; enabling without code is refused.
    await p.svix.endpoint.transformationPartialUpdate(app.id, ep.id, { code: null as unknown as string });
    expect(await p.svix.endpoint.transformationGet(app.id, ep.id)).toMatchObject({ enabled: false });
    const noCode = await failure(
      p.svix.endpoint.transformationPartialUpdate(app.id, ep.id, { enabled: true }),
    );
    expect(noCode.code).toBe(422);
  });

  it('refuses code that does not load with 422, the compiler message and its line; nothing is stored', async () => {
    const app = await p.svix.application.create({ name: 'Transform 422' });
    const ep = await p.svix.endpoint.create(app.id, { url: receiver.url });
    await p.svix.endpoint.patchTransformation(app.id, ep.id, { code: SLACK, enabled: true });
    const refused = async (code: string) => {
      const error = await failure(p.svix.endpoint.patchTransformation(app.id, ep.id, { code }));
      expect(error.code).toBe(422);
      const [detail] = (error.body as { detail: { loc: string[]; msg: string }[] }).detail;
      expect(detail?.loc).toEqual(['body', 'code']);
      return detail?.msg ?? '';
    };
    expect(await refused('function handler(webhook) {\n  return webhook\n  }}\n')).toMatch(
      /SyntaxError.*\(line 3\)/,
    );
    expect(await refused('function handle(webhook) { return webhook; }')).toMatch(
      /must define function handler/,
    );
    expect(await refused('throw new Error("top")\nfunction handler(w) { return w; }')).toMatch(/Error: top/);
    expect(await refused('while (true) {}\nfunction handler(w) { return w; }')).toMatch(/interrupted/);
    expect((await p.svix.endpoint.transformationGet(app.id, ep.id)).code).toBe(SLACK);
  });

  it('POST …/transformation/test runs code on a given payload and answers the result or the error', async () => {
    const app = await p.svix.application.create({ name: 'Transform try' });
    const ep = await p.svix.endpoint.create(app.id, { url: receiver.url });
    const tried = await p.raw('POST', `/app/${app.id}/endpoint/${ep.id}/transformation/test`, {
      code: SLACK,
      eventType: 'order.paid',
      payload: { id: 7, amount: 12, currency: 'EUR' },
      transformationsParams: { channel: '#sales' },
    });
    expect(tried.status).toBe(200);
    expect(tried.json).toMatchObject({
      ok: true,
      error: null,
      webhook: {
        payload: { text: 'Order 7 paid: 12 EUR', channel: '#sales' },
        method: 'PUT',
        url: receiver.url,
        headers: { 'x-slack-style': 'order.paid' },
        cancel: false,
      },
    });
    const thrown = await p.raw('POST', `/app/${app.id}/endpoint/${ep.id}/transformation/test`, {
      code: 'function handler(w) {\n  throw new TypeError("no " + w.payload.x);\n}',
      payload: { x: 'way' },
    });
    expect(thrown.json).toMatchObject({ ok: false, webhook: null });
    expect((thrown.json as { error: string }).error).toMatch(/TypeError: no way/);
    // Without code, the saved one; with neither, 422.
    const none = await p.raw('POST', `/app/${app.id}/endpoint/${ep.id}/transformation/test`, { payload: {} });
    expect(none.status).toBe(422);
  });
});

describe('transformations in delivery', () => {
  it('reshape the body, method and headers, and the receiver verifies the signature of what it got', async () => {
    const app = await p.svix.application.create({ name: 'Slack' });
    const ep = await endpointWith(app.id, SLACK);
    const { key } = await p.svix.endpoint.getSecret(app.id, ep.id);
    const before = receiver.received.length;
    const done = attemptOf(ep.id);
    await p.svix.message.create(app.id, {
      eventType: 'order.paid',
      payload: { id: 42, amount: 1500, currency: 'EUR' },
      transformationsParams: { channel: '#orders' },
    });
    const { attempt } = await done;
    expect(attempt.succeeded).toBe(true);
    const got = receiver.received[before]!;
    expect(got.method).toBe('PUT');
    expect(JSON.parse(got.body)).toEqual({ text: 'Order 42 paid: 1500 EUR', channel: '#orders' });
    expect(got.headers['x-slack-style']).toBe('order.paid');
    // Signed after the transformation: the transformed body verifies with the endpoint secret.
    const verified = new Webhook(key).verify(got.body, got.headers as Record<string, string>);
    expect(verified).toEqual({ text: 'Order 42 paid: 1500 EUR', channel: '#orders' });
  });

  it('cancel records the delivery as canceled, not failed, and sends nothing', async () => {
    const app = await p.svix.application.create({ name: 'Cancel' });
    const ep = await endpointWith(
      app.id,
      'function handler(webhook) { webhook.cancel = webhook.payload.skip === true; return webhook; }',
    );
    const before = receiver.received.length;
    const skipped = attemptOf(ep.id);
    await p.svix.message.create(app.id, { eventType: 'e', payload: { skip: true } });
    const { attempt } = await skipped;
    expect(attempt.errorKind).toBe('canceled');
    expect(receiver.received.length).toBe(before);
    const sent = attemptOf(ep.id);
    await p.svix.message.create(app.id, { eventType: 'e', payload: { skip: false } });
    expect((await sent).attempt.succeeded).toBe(true);
    expect(await p.store.countDeliveries(ep.id)).toMatchObject({
      canceled: 1,
      succeeded: 1,
      failed: 0,
      pending: 0,
    });
    // Herald's errorKind, beside Svix's fields (the SDK's model drops it).
    const attempts = (await p.raw('GET', `/app/${app.id}/attempt/endpoint/${ep.id}`)).json as {
      data: { errorKind: string | null }[];
    };
    expect(attempts.data.map((a) => a.errorKind).sort()).toEqual(['canceled', null]);
  });

  it('a URL changed to a blocked address is refused by the SSRF guard; no socket is opened', async () => {
    const app = await p.svix.application.create({ name: 'SSRF' });
    const ep = await endpointWith(
      app.id,
      'function handler(webhook) { webhook.url = "http://metadata.internal/latest/meta-data/"; return webhook; }',
    );
    const connect = vi.spyOn(net, 'connect');
    try {
      const done = attemptOf(ep.id);
      await p.svix.message.create(app.id, { eventType: 'e', payload: {} });
      const { attempt } = await done;
      expect(attempt.errorKind).toBe('blocked_address');
      expect(attempt.url).toBe('http://metadata.internal/latest/meta-data/');
      expect(resolved).toContain('metadata.internal');
      const hosts = connect.mock.calls.map((c) => (c[0] as { host?: string }).host);
      expect(hosts.filter((h) => h !== undefined && !/^(127\.|::1$|localhost$)/.test(h))).toEqual([]);
    } finally {
      connect.mockRestore();
    }
    // Blocked is final: not retried.
    expect(await p.store.countDeliveries(ep.id)).toMatchObject({ failed: 1, pending: 0 });
  });

  it('a handler that throws, loops or allocates without end fails its attempt; the endpoint beside it gets everything', async () => {
    const app = await p.svix.application.create({ name: 'Bad handlers' });
    const thrower = await endpointWith(
      app.id,
      'function handler(w) { throw new Error("boom " + w.eventType); }',
    );
    const looper = await endpointWith(app.id, 'function handler(w) { for (;;) {} }');
    const hog = await endpointWith(
      app.id,
      'function handler(w) { const a = []; for (;;) a.push(new Array(100000).fill(a.length)); }',
    );
    const invalid = await endpointWith(app.id, 'function handler(w) { return 42; }');
    const headerThief = await endpointWith(
      app.id,
      'function handler(w) { w.headers["webhook-signature"] = "v1,forged"; return w; }',
    );
    const healthy = await p.svix.endpoint.create(app.id, { url: receiver.url });
    const count = 3;
    const events: AttemptEvent[] = [];
    const all = p.attempts(count * 6);
    for (let i = 0; i < count; i++)
      await p.svix.message.create(app.id, { eventType: 'bad.run', payload: { i } });
    events.push(...(await all));
    const of = (id: string) => events.filter((e) => e.attempt.endpointId === id).map((e) => e.attempt);
    expect(of(healthy.id)).toHaveLength(count);
    expect(of(healthy.id).every((a) => a.succeeded)).toBe(true);
    // The healthy endpoint did not wait for the hog: its attempts were all done before the hog's last.
    const last = (id: string) => events.findLastIndex((e) => e.attempt.endpointId === id);
    expect(last(healthy.id)).toBeLessThan(last(hog.id));
    const bad: [string, RegExp][] = [
      [thrower.id, /threw Error: boom bad\.run/],
      [looper.id, /CPU limit of 50 ms/],
      [hog.id, /out of memory|CPU limit|time limit of 1000 ms/],
      [invalid.id, /must return the webhook object/],
      [headerThief.id, /webhook\.headers\.webhook-signature/],
    ];
    for (const [id, message] of bad) {
      const attempts = of(id);
      expect(attempts).toHaveLength(count);
      for (const a of attempts) {
        expect(a.succeeded).toBe(false);
        expect(a.errorKind).toBe('transformation_error');
        expect(a.errorMessage).toMatch(message);
      }
      // Retried like any failure: due again on the schedule.
      // (a retry may be under way already: pending or sending, never failed).
      const counts = await p.store.countDeliveries(id);
      expect(counts.pending + counts.sending).toBe(count);
      expect(counts.failed).toBe(0);
    }
    // Their retries would hold the workers in the tests below.
    for (const ep of [thrower, looper, hog, invalid, headerThief])
      await p.svix.endpoint.delete(app.id, ep.id);
  });

  it("cannot reach Herald's process or another endpoint's handler", async () => {
    const app = await p.svix.application.create({ name: 'Isolation' });
    const probe = `let left;
    function handler(w) {
      globalThis.left = left = left || globalThis.left || w.payload.mark;
      w.payload = {
        seen: [typeof require, typeof process, typeof fetch, typeof setTimeout, typeof module, typeof Buffer].join(),
        left,
      };
      return w;
    }`;
    const a = await endpointWith(app.id, probe);
    const b = await endpointWith(app.id, probe.replace('w.payload.mark', '"b"'));
    const before = receiver.received.length;
    const both = collectEvents<AttemptEvent>(p.dispatcher, 'attempt', 2, (e) =>
      [a.id, b.id].includes(e.attempt.endpointId),
    );
    await p.svix.message.create(app.id, { eventType: 'e', payload: { mark: 'a-secret' } });
    await both;
    const bodies = receiver.received.slice(before).map((r) => JSON.parse(r.body));
    expect(bodies).toHaveLength(2);
    const undef = Array(6).fill('undefined').join();
    // Each endpoint's handler has a runtime of its own, and its globals are frozen: b never
    // sees what a's left behind.
    expect(bodies).toEqual(
      expect.arrayContaining([
        { seen: undef, left: 'a-secret' },
        { seen: undef, left: 'b' },
      ]),
    );
  });

  it('leaves nothing behind a call: no globals, top-level bindings, built-in changes or promise jobs reach the next', async () => {
    const app = await p.svix.application.create({ name: 'Per call' });
    const ep = await endpointWith(
      app.id,
      `let top = 0;
      let job = null;
      function handler(w) {
        const seen = {
          counter: globalThis.counter === undefined ? null : globalThis.counter,
          job: globalThis.job || JSON.job || job || null,
          top: top,
          proto: typeof Object.prototype.stash,
        };
        globalThis.counter = (globalThis.counter || 0) + 1;
        top += 1;
        try { Object.prototype.stash = 1; } catch (e) {}
        Promise.resolve().then(() => { job = 'ran after the call'; JSON.job = job; globalThis.job = job; });
        w.payload = seen;
        return w;
      }`,
    );
    const before = receiver.received.length;
    for (let i = 0; i < 3; i++) {
      const done = attemptOf(ep.id);
      await p.svix.message.create(app.id, { eventType: 'e', payload: { i } });
      expect((await done).attempt.succeeded).toBe(true);
    }
    const bodies = receiver.received.slice(before).map((r) => JSON.parse(r.body));
    const clean = { counter: null, job: null, top: 0, proto: 'undefined' };
    expect(bodies).toEqual([clean, clean, clean]);
  });

  it("a handler that loops on every call holds one worker: another endpoint's transformed deliveries go on", async () => {
    const app = await p.svix.application.create({ name: 'Rate' });
    const looper = await endpointWith(app.id, 'function handler(w) { for (;;) {} }');
    const healthy = await endpointWith(app.id, SLACK);
    const count = 20;
    const events: AttemptEvent[] = [];
    const all = collectEvents<AttemptEvent>(p.dispatcher, 'attempt', count * 2, (e) =>
      [looper.id, healthy.id].includes(e.attempt.endpointId),
    );
    for (let i = 0; i < count; i++)
      await p.svix.message.create(app.id, {
        eventType: 'order.paid',
        payload: { id: i, amount: 1, currency: 'EUR' },
      });
    events.push(...(await all));
    const healthyAt = events.flatMap((e, i) => (e.attempt.endpointId === healthy.id ? [i] : []));
    const looperAt = events.flatMap((e, i) => (e.attempt.endpointId === looper.id ? [i] : []));
    expect(events.filter((e) => e.attempt.endpointId === healthy.id).every((e) => e.attempt.succeeded)).toBe(
      true,
    );
    // Each of the looper's calls takes its 50 ms of CPU; the healthy endpoint's 20 went on beside
    // them on the other worker (with one worker they waited behind the looper's, one by one).
    expect(healthyAt).toHaveLength(count);
    expect(healthyAt.at(-1)).toBeLessThan(looperAt[count / 2] ?? Number.POSITIVE_INFINITY);
  });
});

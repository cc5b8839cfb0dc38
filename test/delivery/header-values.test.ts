/**
 * Header values as they go out: Herald accepts exactly the values undici sends (checked by
 * sending each boundary value to a real receiver on 127.0.0.1), so no stored header can make
 * every attempt fail; the attempt log keeps no credential-bearing value; a message's own
 * headers (a source's passthrough) never carry `Expect` and never duplicate the endpoint's.
 */
import { request as httpRequest } from 'node:http';
import { Agent, errors, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { REDACTED } from '../../src/core/headers.js';
import { checkHeaders } from '../../src/core/rules.js';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import { type Receiver, receiversClosedAfterEach, startReceiver, waitForEvent } from '../helpers.js';
import { openTestStore } from '../store-under-test.js';
import { type Fixture, fixture } from './fixture.js';

const hex = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** Whether Herald's rule takes `value` as a custom header value. */
function heraldTakes(value: string): boolean {
  try {
    checkHeaders('headers', { 'X-Probe': value });
    return true;
  } catch {
    return false;
  }
}

describe("the value rule is undici's, measured on a real receiver", () => {
  let r: Receiver;
  let agent: Agent;
  beforeAll(async () => {
    r = await startReceiver();
    agent = new Agent();
  });
  afterAll(async () => {
    await agent.close();
    await r.close();
  });

  /** What undici does with the value: the value the receiver read, or the error it threw. */
  async function undiciSends(value: string): Promise<{ arrived: string | undefined } | { refused: Error }> {
    const before = r.received.length;
    try {
      const res = await request(r.url, {
        method: 'POST',
        headers: { 'x-probe': value },
        body: '{}',
        dispatcher: agent,
      });
      await res.body.text();
    } catch (error) {
      return { refused: error as Error };
    }
    expect(r.received).toHaveLength(before + 1);
    return { arrived: r.received.at(-1)!.headers['x-probe'] as string | undefined };
  }

  // Every code unit up to U+00FF, then what lies past Latin-1: the first and last BMP
  // characters above it, the probe's own cases (euro sign, line separator, emoji), a lone
  // surrogate, a byte-order mark and the replacement character.
  const PROBES = [
    ...Array.from({ length: 0x100 }, (_, i) => String.fromCharCode(i)),
    '\u0100',
    '\u20ac',
    '\u2028',
    '\ud83d\ude00',
    '\ud800',
    '\ufeff',
    '\ufffd',
    '\uffff',
  ];

  it(`takes a character inside a value exactly when undici sends it, and it arrives as it was (${PROBES.length} characters)`, async () => {
    const sent: string[] = [];
    const refused: string[] = [];
    for (const c of PROBES) {
      const value = `a${c}b`;
      const outcome = await undiciSends(value);
      if ('arrived' in outcome) {
        // Sent one byte per character and read back as Latin-1: the same string.
        expect(outcome.arrived, hex(c)).toBe(value);
        sent.push(c);
      } else {
        expect(outcome.refused, hex(c)).toBeInstanceOf(errors.InvalidArgumentError);
        refused.push(c);
      }
      expect(heraldTakes(value), hex(c)).toBe('arrived' in outcome);
    }
    // Tab, space to tilde, and U+0080 to U+00FF; everything else is refused.
    expect(sent).toHaveLength(1 + 95 + 128);
    expect(refused.map(hex)).toEqual(
      expect.arrayContaining([
        'U+0000',
        'U+0001',
        'U+000A',
        'U+000D',
        'U+001F',
        'U+007F',
        'U+20AC',
        'U+2028',
      ]),
    );
  });

  it('refuses every character from U+0100 to U+FFFF, as undici does before it takes a connection', () => {
    const undiciTook: string[] = [];
    const heraldTook: string[] = [];
    const otherErrors: string[] = [];
    // 65,280 refusals are quicker without stack traces.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    for (let code = 0x100; code <= 0xffff; code++) {
      const value = `a${String.fromCharCode(code)}b`;
      if (heraldTakes(value)) heraldTook.push(hex(value[1]!));
      // undici checks the headers as it builds the request, and refuses at once.
      let refused: Error | null = null;
      try {
        agent.dispatch(
          { origin: new URL(r.url).origin, path: '/hook', method: 'POST', headers: { 'x-probe': value } },
          {
            onResponseError: (_controller, error) => {
              refused = error;
            },
          },
        );
      } catch (error) {
        refused = error as Error;
      }
      if (refused === null) undiciTook.push(hex(value[1]!));
      else if (!((refused as Error) instanceof errors.InvalidArgumentError)) otherErrors.push(hex(value[1]!));
    }
    Error.stackTraceLimit = limit;
    // Counted, with the first few named, so a failure prints a line, not 65,280.
    const first = (list: string[]) => ({ count: list.length, first: list.slice(0, 5) });
    expect({
      undiciTook: first(undiciTook),
      heraldTook: first(heraldTook),
      otherErrors: first(otherErrors),
    }).toEqual({
      undiciTook: { count: 0, first: [] },
      heraldTook: { count: 0, first: [] },
      otherErrors: { count: 0, first: [] },
    });
  });

  it('refuses a value that begins or ends with a space or tab: the receiver would read it trimmed', async () => {
    for (const value of [' x', 'x ', '\tx', 'x\t', ' ']) {
      expect(await undiciSends(value)).toEqual({ arrived: value.trim() });
      expect(heraldTakes(value), JSON.stringify(value)).toBe(false);
    }
    for (const value of ['a b', 'a\tb', '', 'x']) {
      expect(await undiciSends(value)).toEqual({ arrived: value });
      expect(heraldTakes(value), JSON.stringify(value)).toBe(true);
    }
  });

  it('refuses the name Expect, which undici will not send', async () => {
    await expect(
      request(r.url, { method: 'POST', headers: { expect: '100-continue' }, body: '{}', dispatcher: agent }),
    ).rejects.toBeInstanceOf(errors.NotSupportedError);
    for (const name of ['Expect', 'expect', 'EXPECT'])
      expect(() => checkHeaders('headers', { [name]: '100-continue' })).toThrow(/not supported/);
  });
});

describe('through the dispatcher', () => {
  const receiver = receiversClosedAfterEach();
  let f: Fixture;
  afterEach(async () => {
    await f?.close();
  });

  it('delivers the boundary values Herald takes byte for byte', async () => {
    f = await fixture();
    const r = await receiver();
    const value = 'caf\u00e9 \u0080\u00ff~!\t"';
    await f.store.createEndpoint(f.appId, { url: r.url, headers: { 'X-Latin1': value, 'X-Empty': '' } });
    const next = f.nextAttempt();
    await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{}' });
    expect((await next).attempt.succeeded).toBe(true);
    expect(r.received[0]!.headers['x-latin1']).toBe(value);
    expect(r.received[0]!.headers['x-empty']).toBe('');
  });

  it('records credential-bearing headers as [redacted] in the attempt log, and sends them unchanged', async () => {
    f = await fixture();
    const r = await receiver();
    const ep = await f.store.createEndpoint(f.appId, {
      url: r.url,
      headers: { 'X-Tenant': 'acme-tenant', Authorization: 'Bearer endpoint-credential' },
    });
    // A source's passed-through provider headers, as the gateway hands them over.
    const provider = {
      'x-github-event': 'push',
      'x-github-delivery': 'gh-1',
      'x-hub-signature-256': 'sha256=provider-signature',
      'stripe-signature': 't=1,v1=stripe-signature',
      'x-shopify-hmac-sha256': 'shopify-hmac',
      'x-api-key': 'provider-api-key',
      'x-gitlab-token': 'gitlab-token',
      'private-token': 'private-token-value',
      'x-client-secret': 'client-secret-value',
      'x-db-password': 'db-password-value',
      cookie: 'sid=cookie-value',
      'x-session-id': 'session-value',
    };
    const next = f.nextAttempt();
    await f.store.acceptMessage({ appId: f.appId, eventType: 'a', payload: '{}', headers: provider });
    const { attempt } = await next;
    expect(attempt.succeeded).toBe(true);
    const got = r.received[0]!.headers;
    for (const [name, value] of Object.entries(provider)) expect(got[name], name).toBe(value);
    expect(got.authorization).toBe('Bearer endpoint-credential');

    const logged = attempt.requestHeaders;
    expect(logged).toMatchObject({
      'x-github-event': 'push',
      'x-github-delivery': 'gh-1',
      'X-Tenant': REDACTED,
      Authorization: REDACTED,
      'webhook-id': attempt.msgId,
      'webhook-signature': REDACTED,
    });
    for (const name of Object.keys(provider).filter((n) => !n.startsWith('x-github-')))
      expect(logged[name], name).toBe(REDACTED);
    // And what the store kept is the redacted record.
    const stored = await f.store.listAttempts({ appId: f.appId, endpointId: ep.id }, { limit: 1 });
    expect(stored.data[0]!.requestHeaders).toEqual(logged);
  });

  it("sends the endpoint's header, not a message header of the same name in another case", async () => {
    f = await fixture();
    const r = await receiver();
    await f.store.createEndpoint(f.appId, { url: r.url, headers: { 'X-Api-Key': 'the-endpoint-key' } });
    const next = f.nextAttempt();
    await f.store.acceptMessage({
      appId: f.appId,
      eventType: 'a',
      payload: '{}',
      headers: { 'x-api-key': 'a-provider-key', 'x-other': 'kept' },
    });
    expect((await next).attempt.succeeded).toBe(true);
    expect(r.received[0]!.headers['x-api-key']).toBe('the-endpoint-key');
    expect(r.received[0]!.headers['x-other']).toBe('kept');
  });

  it('drops a message header undici would refuse, so the delivery succeeds', async () => {
    f = await fixture();
    const r = await receiver();
    await f.store.createEndpoint(f.appId, { url: r.url });
    const next = f.nextAttempt();
    const { message } = await f.store.acceptMessage({
      appId: f.appId,
      eventType: 'a',
      payload: '{}',
      headers: { expect: '100-continue', 'x-euro': '\u20ac', 'x-ctl': 'a\u0001b', 'x-fine': 'fine' },
    });
    expect(message.headers).toEqual({ 'x-fine': 'fine' });
    expect((await next).attempt).toMatchObject({ succeeded: true, statusCode: 200 });
    expect(r.received[0]!.headers['x-fine']).toBe('fine');
  });
});

describe('a source passing through a provider request sent with Expect: 100-continue', () => {
  it('is forwarded and delivered on the first attempt (undici refused it on every attempt before)', async () => {
    const opened = await openTestStore('passthrough');
    const store = opened.store;
    await store.saveToken(hashToken('t'), null);
    const api = await buildApi({ store, maxPayloadBytes: 64 * 1024 });
    const port = Number(new URL(await api.listen({ port: 0, host: '127.0.0.1' })).port);
    const dispatcher = new Dispatcher({ store, allowNetworks: ['127.0.0.0/8'], random: () => 0.5 }).start();
    const r = await startReceiver();
    try {
      const app = await store.createApplication({ name: 'svc' });
      await store.createEndpoint(app.id, { url: r.url });
      const source = await store.createSource({
        name: 'plain',
        provider: 'none',
        secrets: [],
        appId: app.id,
        passthroughHeaders: true,
      });
      const delivered = waitForEvent<AttemptEvent>(dispatcher, 'attempt');
      const body = '{"type":"thing.happened"}';
      // node:http, as a provider's client might: it waits for the 100 before the body.
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: `/in/${source.id}`,
          headers: { 'content-type': 'application/json', expect: '100-continue', 'x-provider': 'p' },
        });
        req.on('continue', () => req.end(body));
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
      expect(status).toBe(200);
      expect((await delivered).attempt).toMatchObject({ succeeded: true, statusCode: 200 });
      expect(r.received[0]!.headers['x-provider']).toBe('p');
      expect(r.received[0]!.headers.expect).toBeUndefined();
      expect(r.received[0]!.body).toBe(body);
    } finally {
      await dispatcher.stop();
      await r.close();
      await api.close();
    }
    try {
      // The attempt row in the database holds the redacted record too.
      const rows = await opened.sql('SELECT request_headers FROM attempts');
      expect(rows).toHaveLength(1);
      const recorded = rows[0]!.request_headers;
      const headers = typeof recorded === 'string' ? JSON.parse(recorded) : recorded;
      expect(headers['webhook-signature']).toBe(REDACTED);
    } finally {
      await opened.close();
    }
  });
});

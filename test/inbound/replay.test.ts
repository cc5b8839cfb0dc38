/**
 * Replaying a received request (`POST /api/v1/source/{id}/request/{req}/replay`), on both
 * backends, through a real API on 127.0.0.1 and a dispatcher: a GitHub push signed by
 * @octokit/webhooks-methods arrives again at the endpoint with the same body bytes, as a new
 * message signed by Herald, and the log shows a `replayed` row naming the request; a rejected
 * request is 409 and forwards nothing; unknown ids are 404; an application token is 403; a
 * call retried with the same Idempotency-Key replays once.
 */
import { sign as githubSign } from '@octokit/webhooks-methods';
import { Webhook } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { type AttemptEvent, Dispatcher } from '../../src/delivery/dispatcher.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';
import { type Receiver, startReceiver, tempDir, waitForEvent } from '../helpers.js';
import { dropSchema, PG_URL } from '../pg.js';

const TOKEN = 'replay-admin';
const dir = tempDir();
const schema = `t${process.pid}_${Date.now().toString(36)}_replay`;

afterAll(async () => {
  dir.remove();
  await dropSchema(schema);
});

const BACKENDS: [string, (clock: ManualClock) => Promise<Store>][] = [
  ['SQLite', async (clock) => openSqliteStore({ path: dir.path('replay.db'), clock })],
  ['PostgreSQL', (clock) => openPostgresStore({ url: PG_URL, schema, clock, poolSize: 3 })],
];

interface LogRow {
  id: string;
  status: string;
  reason: string | null;
  msgId: string | null;
  body: string;
  headers: Record<string, string>;
}

describe.each(BACKENDS)('replaying inbound requests on %s', (_backend, open) => {
  const clock = new ManualClock(Date.now());
  let store: Store;
  let api: Awaited<ReturnType<typeof buildApi>>;
  let base: string;
  let dispatcher: Dispatcher;
  let receiver: Receiver;
  let appId: string;
  let endpointSecret: string;
  const attempts: AttemptEvent[] = [];

  beforeAll(async () => {
    store = await open(clock);
    await store.saveToken(hashToken(TOKEN), null);
    api = await buildApi({ store });
    base = await api.listen({ port: 0, host: '127.0.0.1' });
    dispatcher = new Dispatcher({ store, clock, allowNetworks: ['127.0.0.0/8'], random: () => 0.5 });
    dispatcher.on('attempt', (e) => attempts.push(e));
    dispatcher.start();
    receiver = await startReceiver();
    appId = String((await admin('POST', '/app', { name: 'Replays' })).json.id);
    const ep = await admin('POST', `/app/${appId}/endpoint`, { url: receiver.url });
    endpointSecret = String((await admin('GET', `/app/${appId}/endpoint/${ep.json.id}/secret`)).json.key);
  });

  afterAll(async () => {
    await dispatcher.stop();
    await api.close();
    await receiver.close();
    await store[Symbol.asyncDispose]();
  });

  async function call(token: string, method: string, path: string, body?: unknown) {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }
  const admin = (method: string, path: string, body?: unknown) => call(TOKEN, method, path, body);
  const replay = (sourceId: string, requestId: string, token = TOKEN) =>
    call(token, 'POST', `/source/${sourceId}/request/${requestId}/replay`, {});
  const log = async (sourceId: string) =>
    (await admin('GET', `/source/${sourceId}/request`)).json.data as LogRow[];
  const messageCount = async () => ((await admin('GET', `/app/${appId}/msg`)).json.data as unknown[]).length;

  /** The dispatcher's attempt at message `msgId`, made already or awaited (in one turn: none is missed). */
  const attemptAt = (msgId: string): Promise<AttemptEvent> => {
    const made = attempts.find((e) => e.attempt.msgId === msgId);
    if (made) return Promise.resolve(made);
    return waitForEvent<AttemptEvent>(dispatcher, 'attempt', (e) => e.attempt.msgId === msgId);
  };

  async function githubSource(name: string, secret: string): Promise<string> {
    const source = await admin('POST', '/source', {
      name,
      provider: 'github',
      secrets: [secret],
      appId,
      passthroughHeaders: true,
    });
    expect(source.status).toBe(201);
    return String(source.json.id);
  }

  async function push(sourceId: string, secret: string, body: string, delivery: string) {
    return fetch(`${base}/in/${sourceId}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': delivery,
        'x-hub-signature-256': await githubSign(secret, body),
      },
      body,
    });
  }

  it('sends an accepted GitHub push again, same body bytes, as a new message; the log names what it replays', async () => {
    const sourceId = await githubSource('GitHub', 'gh-secret');
    // Odd spacing and a non-ASCII name: byte for byte means exactly these bytes.
    const body = '{"ref":"refs/heads/main",  "commits":[{"id":"abc"}],"pusher":{"name":"Zoë"}}';
    const first = await push(sourceId, 'gh-secret', body, 'gh-delivery-1');
    expect(first.status).toBe(200);
    const firstId = String(((await first.json()) as { id: string }).id);
    expect((await attemptAt(firstId)).attempt.succeeded).toBe(true);
    const [accepted] = await log(sourceId);
    expect(accepted).toMatchObject({ status: 'accepted', msgId: firstId });

    const res = await replay(sourceId, accepted!.id);
    expect(res.status).toBe(202);
    const { message, request } = res.json as {
      message: { id: string; eventType: string; eventId: string | null; payload: unknown };
      request: LogRow;
    };
    // A new message, not the first one, and without the provider's delivery id as eventId.
    expect(message.id).not.toBe(firstId);
    expect(message).toMatchObject({ eventType: 'push', eventId: null, payload: JSON.parse(body) });
    expect(request).toMatchObject({ status: 'replayed', reason: accepted!.id, msgId: message.id, body });

    const delivered = await attemptAt(message.id);
    expect(delivered.attempt.succeeded).toBe(true);
    const got = receiver.received.find((r) => r.headers['webhook-id'] === message.id)!;
    expect(got.body).toBe(body);
    expect(
      new Webhook(endpointSecret).verify(got.body, {
        'webhook-id': String(got.headers['webhook-id']),
        'webhook-timestamp': String(got.headers['webhook-timestamp']),
        'webhook-signature': String(got.headers['webhook-signature']),
      }),
    ).toEqual(JSON.parse(body));
    // The provider's headers go along as they did the first time (the source passes them).
    expect(got.headers['x-github-event']).toBe('push');
    expect(got.headers['x-github-delivery']).toBe('gh-delivery-1');

    expect((await log(sourceId)).map((r) => [r.status, r.reason, r.msgId])).toEqual([
      ['replayed', accepted!.id, message.id],
      ['accepted', null, firstId],
    ]);
    // The first message keeps the delivery id, so GitHub's own retry is still a duplicate.
    expect((await admin('GET', `/app/${appId}/msg/${firstId}`)).json.eventId).toBe(
      `${sourceId}.gh-delivery-1`,
    );
    const retry = await push(sourceId, 'gh-secret', body, 'gh-delivery-1');
    expect(await retry.json()).toMatchObject({ id: firstId, duplicate: true });

    // A deliberate resend is not deduplicated either: replaying again (the duplicate, this
    // time) makes another message.
    const [duplicate] = await log(sourceId);
    expect(duplicate!.status).toBe('duplicate');
    const again = await replay(sourceId, duplicate!.id);
    expect(again.status).toBe(202);
    const second = (again.json.message as { id: string }).id;
    expect(second).not.toBe(message.id);
    expect((await attemptAt(second)).attempt.succeeded).toBe(true);
    expect(receiver.received.find((r) => r.headers['webhook-id'] === second)!.body).toBe(body);
  });

  it('replays once for two calls with the same Idempotency-Key (a client retrying the call)', async () => {
    const sourceId = await githubSource('GitHub idempotent', 'k');
    expect((await push(sourceId, 'k', '{"ref":"z"}', 'k-1')).status).toBe(200);
    const [row] = await log(sourceId);
    const send = async () => {
      const res = await fetch(`${base}/api/v1/source/${sourceId}/request/${row!.id}/replay`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'idempotency-key': 'replay-once' },
      });
      return { status: res.status, replayed: res.headers.get('idempotent-replayed'), json: await res.json() };
    };
    const first = await send();
    const second = await send();
    expect([first.status, second.status, second.replayed]).toEqual([202, 202, 'true']);
    expect(second.json).toEqual(first.json);
    expect((await log(sourceId)).map((r) => r.status)).toEqual(['replayed', 'accepted']);
  });

  it('refuses a rejected request with 409 saying why, and forwards nothing', async () => {
    const sourceId = await githubSource('GitHub forged', 'right');
    const small = await push(sourceId, 'wrong', '{"ref":"refs/heads/evil"}', 'forged-1');
    expect(small.status).toBe(401);
    const big = await push(sourceId, 'wrong', JSON.stringify({ blob: 'x'.repeat(5000) }), 'forged-2');
    expect(big.status).toBe(401);
    const [bigRow, smallRow] = await log(sourceId);
    const messages = await messageCount();

    const refused = await replay(sourceId, smallRow!.id);
    expect(refused.status).toBe(409);
    expect(refused.json.detail).toMatch(/rejected \(no_matching_signature\) and never forwarded/);
    const cut = await replay(sourceId, bigRow!.id);
    expect(cut.status).toBe(409);
    expect(cut.json.detail).toMatch(/only 1024 of its 5011 body bytes were kept/);

    expect(await messageCount()).toBe(messages);
    expect((await log(sourceId)).map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('answers 404 for an unknown source or request, or a request of another source', async () => {
    const a = await githubSource('GitHub A', 'a');
    const b = await githubSource('GitHub B', 'b');
    expect((await push(a, 'a', '{"ref":"x"}', 'a-1')).status).toBe(200);
    const [row] = await log(a);
    const messages = await messageCount();
    for (const [sourceId, requestId] of [
      ['src_missing', row!.id],
      [a, 'inreq_missing'],
      [b, row!.id],
    ] as const) {
      const res = await replay(sourceId, requestId);
      expect(res.status, `${sourceId} ${requestId}`).toBe(404);
      expect(res.json.code).toBe('not_found');
    }
    expect(await messageCount()).toBe(messages);
    expect(await log(b)).toEqual([]);
  });

  it("refuses an application token with 403, even its own application's source", async () => {
    const sourceId = await githubSource('GitHub C', 'c');
    expect((await push(sourceId, 'c', '{"ref":"y"}', 'c-1')).status).toBe(200);
    const [row] = await log(sourceId);
    const portal = await admin('POST', `/auth/app-portal-access/${appId}`, {});
    const appToken = String(portal.json.token);
    const messages = await messageCount();
    const res = await replay(sourceId, row!.id, appToken);
    expect(res.status).toBe(403);
    expect(await messageCount()).toBe(messages);
    expect((await log(sourceId)).map((r) => r.status)).toEqual(['accepted']);
  });
});

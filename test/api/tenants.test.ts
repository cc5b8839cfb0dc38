/**
 * Tenants: every route of the API, called with another application's token, is refused, and
 * nothing stored changes. The route list is checked against /openapi.json, so a new route
 * that is not listed here fails this test until someone decides who may call it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Svix } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ID_PREFIX } from '../../src/core/ids.js';
import type { Store } from '../../src/store/store.js';
import { db, openTestStore, RECORD_TABLES, type TestStore } from '../store-under-test.js';

const ADMIN = 'tenants-admin-token';
let testStore: TestStore;
let store: Store;
let api: FastifyInstance;
let mineToken: string;
const ids: Record<string, string> = {};

/** Valid bodies, so that what refuses a call is the token, not the schema. */
const BODIES: Record<string, unknown> = {
  'POST /api/v1/app': { name: 'x' },
  'PUT /api/v1/app/{app_id}': { name: 'hacked' },
  'PATCH /api/v1/app/{app_id}': { name: 'hacked' },
  'POST /api/v1/event-type': { name: 'new.type', description: 'x' },
  'PUT /api/v1/event-type/{event_type_name}': { description: 'hacked' },
  'PATCH /api/v1/event-type/{event_type_name}': { description: 'hacked' },
  'POST /api/v1/app/{app_id}/endpoint': { url: 'https://example.com/steal' },
  'PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}': { url: 'https://example.com/steal' },
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}': { url: 'https://example.com/steal' },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate': {},
  'PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers': { headers: { 'X-A': 'b' } },
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers': { headers: { 'X-A': 'b' } },
  'PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation': { enabled: false },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation/test': {
    code: 'function handler(webhook) { return webhook; }',
    payload: {},
  },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/recover': { since: '2020-01-01T00:00:00Z' },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing': { since: '2020-01-01T00:00:00Z' },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay': { since: '2020-01-01T00:00:00Z' },
  'POST /api/v1/event-type/import/openapi': { specRaw: '{}' },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example': { eventType: 'order.paid' },
  'POST /api/v1/app/{app_id}/msg': { eventType: 'order.paid', payload: { forged: true } },
  'POST /api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend': {},
  'POST /api/v1/app/{app_id}/msg/precheck/active': { eventType: 'order.paid' },
  'POST /api/v1/app/{app_id}/msg/expunge-all-contents': {},
  'POST /api/v1/source': { name: 'evil', provider: 'none', appId: 'x' },
  'PATCH /api/v1/source/{source_id}': { name: 'evil' },
  'POST /api/v1/source/{source_id}/request/{request_id}/replay': {},
  'POST /api/v1/auth/app-portal-access/{app_id}': {},
  'POST /api/v1/auth/dashboard-access/{app_id}': {},
  'POST /api/v1/auth/app/{app_id}/expire-all': {},
  'POST /api/v1/operational-webhook/endpoint': { url: 'http://127.0.0.1:9/ops' },
  'PUT /api/v1/operational-webhook/endpoint/{endpoint_id}': { url: 'http://127.0.0.1:9/ops' },
  'PUT /api/v1/operational-webhook/endpoint/{endpoint_id}/headers': { headers: {} },
  'PATCH /api/v1/operational-webhook/endpoint/{endpoint_id}/headers': { headers: {} },
  'POST /api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate': {},
  'PUT /api/v1/app/{app_id}/listener/{name}': { filterTypes: null },
};

/** A valid query for the routes that need one (the refusal must not be a 422 of a bad request). */
const QUERIES: Record<string, string> = { 'GET /api/v1/search': '?q=x' };

/** Routes anyone may call, and routes an application token may read. */
const PUBLIC = new Set(['GET /api/v1/health', 'GET /api/v1/health/ping', 'GET /healthz', 'GET /readyz']);
const CATALOG = new Set(['GET /api/v1/event-type', 'GET /api/v1/event-type/{event_type_name}']);
/**
 * Routes that answer an application token with its own records only: the task list (200,
 * without the other application's task) and another application's task (404, as an unknown id).
 */
const SCOPED: Record<string, number> = {
  'GET /api/v1/background-task': 200,
  'GET /api/v1/background-task/{task_id}': 404,
};
/** Routes on the calling token itself, which any token may call (logout ends it: auth-parity.test.ts). */
const OWN_TOKEN = new Set(['POST /api/v1/auth/logout']);

beforeAll(async () => {
  testStore = await openTestStore('tenants');
  store = testStore.store;
  await store.saveToken(hashToken(ADMIN), null);
  const mine = await store.createApplication({ name: 'Mine' });
  const theirs = await store.createApplication({ name: 'Theirs' });
  const ep = await store.createEndpoint(theirs.id, { url: 'https://example.com/theirs', disabled: true });
  await store.upsertEventType({ name: 'order.paid', description: 'x' });
  const { message } = await store.acceptMessage({ appId: theirs.id, eventType: 'order.paid', payload: '{}' });
  const source = await store.createSource({
    name: 'gh',
    provider: 'github',
    secrets: ['s3cret'],
    appId: theirs.id,
  });
  // Their task, held by a runner of another process for the length of the test.
  const theirTask = await store.createTask({
    kind: 'endpoint.recover',
    appId: theirs.id,
    endpointId: ep.id,
    params: { since: 0, until: null },
    data: {},
    owner: 'another-process',
    leaseMs: 3_600_000,
  });
  api = await buildApi({ store });
  const portal = await api.inject({
    method: 'POST',
    url: `/api/v1/auth/app-portal-access/${mine.id}`,
    headers: { authorization: `Bearer ${ADMIN}` },
    payload: {},
  });
  mineToken = (portal.json() as { token: string }).token;
  Object.assign(ids, {
    app_id: theirs.id,
    endpoint_id: ep.id,
    msg_id: message.id,
    attempt_id: 'atmpt_none',
    event_type_name: 'order.paid',
    source_id: source.id,
    request_id: 'inreq_none',
    task_id: theirTask.id,
    name: 'laptop',
  });
});

afterAll(async () => {
  await api.close();
  await testStore.close();
});

const snapshot = () => testStore.snapshot([...RECORD_TABLES, 'api_tokens']);

async function routes(): Promise<string[]> {
  const doc = (await api.inject({ url: '/openapi.json' })).json() as { paths: Record<string, object> };
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
  );
}

describe("another application's token", () => {
  it('the application token works on its own application (so the refusals below are about tenancy)', async () => {
    const res = await api.inject({ url: '/api/v1/app', headers: { authorization: `Bearer ${mineToken}` } });
    expect(res.statusCode).toBe(403);
    const mine = (await store.listApplications({ limit: 10 })).data.find((a) => a.name === 'Mine')!;
    const own = await api.inject({
      url: `/api/v1/app/${mine.id}`,
      headers: { authorization: `Bearer ${mineToken}` },
    });
    expect(own.statusCode).toBe(200);
  });

  it('is refused with 403 on every route of /openapi.json but health and the event-type catalog', async () => {
    const all = await routes();
    expect(all.length).toBeGreaterThanOrEqual(40);
    const before = await snapshot();
    const outcomes: string[] = [];
    for (const route of all) {
      if (PUBLIC.has(route) || OWN_TOKEN.has(route)) continue;
      const [method, template] = route.split(' ') as [string, string];
      const url = template.replace(/\{(\w+)\}/g, (_m, name: string) => {
        const id = ids[name];
        if (id === undefined) throw new Error(`no id for {${name}} in ${route}: add one to this test`);
        return encodeURIComponent(id);
      });
      const hasBody = !['GET', 'DELETE'].includes(method);
      if (hasBody && !(route in BODIES)) throw new Error(`no valid body for ${route}: add one to this test`);
      const res = await api.inject({
        method: method as 'GET',
        url: url + (QUERIES[route] ?? ''),
        headers: { authorization: `Bearer ${mineToken}` },
        ...(hasBody ? { payload: BODIES[route] as object } : {}),
      });
      const expected = SCOPED[route] ?? (CATALOG.has(route) ? 200 : 403);
      if (route === 'GET /api/v1/background-task') expect(res.json().data).toEqual([]);
      outcomes.push(
        `${route} -> ${res.statusCode}${res.statusCode === expected ? '' : ` (expected ${expected})`}`,
      );
    }
    expect(outcomes.filter((o) => o.includes('expected'))).toEqual([]);
    expect(await snapshot()).toBe(before);
  });

  it('a made-up application id answers 403 too, so a token cannot probe which ids exist', async () => {
    const res = await api.inject({
      url: '/api/v1/app/app_2b6EzcIbxLRkZ3x7Bt1OuVHmLwS/endpoint',
      headers: { authorization: `Bearer ${mineToken}` },
    });
    expect(res.statusCode).toBe(403);
  });

  it('sending by uid: the admin and the own token may, another token may not, unknown is 404', async () => {
    const shop = await store.createApplication({ name: 'Shop', uid: 'shop-uid' });
    const other = await store.createApplication({ name: 'Other', uid: 'other-uid' });
    const tokenOf = async (appId: string) =>
      (
        (
          await api.inject({
            method: 'POST',
            url: `/api/v1/auth/app-portal-access/${appId}`,
            headers: { authorization: `Bearer ${ADMIN}` },
            payload: {},
          })
        ).json() as { token: string }
      ).token;
    const shopToken = await tokenOf(shop.id);
    const send = (app: string, token: string) =>
      api.inject({
        method: 'POST',
        url: `/api/v1/app/${app}/msg`,
        headers: { authorization: `Bearer ${token}` },
        payload: { eventType: 'order.paid', payload: { n: 1 } },
      });
    const byAdmin = await send('shop-uid', ADMIN);
    expect(byAdmin.statusCode).toBe(202);
    const byOwn = await send('shop-uid', shopToken);
    expect(byOwn.statusCode).toBe(202);
    for (const res of [byAdmin, byOwn]) {
      const { id } = res.json() as { id: string };
      expect((await store.getMessage(shop.id, id))?.appId).toBe(shop.id);
    }
    const before = await snapshot();
    expect((await send('other-uid', shopToken)).statusCode).toBe(403);
    expect((await send(other.id, shopToken)).statusCode).toBe(403);
    expect((await send('no-such-uid', shopToken)).statusCode).toBe(403);
    expect((await send('no-such-uid', ADMIN)).statusCode).toBe(404);
    expect(await snapshot()).toBe(before);
  });
});

/**
 * The takeover an outside probe found: an application token renamed its own application to a
 * name (or another application's id) that the operator used afterwards, and read what was
 * sent there. Every step is refused now, on both stores.
 */
describe(`tenant takeover (${db})`, () => {
  const kind = db;
  let under: TestStore;
  let takeoverStore: Store;
  let takeover: FastifyInstance;
  let second: FastifyInstance;
  let svixUrl: string;

  /** Runs SQL on the store's tables behind its back, as data written by an older Herald. */
  const rawSql = (sql: string, params: string[]) => under.sql(sql, params);

  beforeAll(async () => {
    under = await openTestStore('takeover');
    takeoverStore = under.store;
    await takeoverStore.saveToken(hashToken(ADMIN), null);
    takeover = await buildApi({ store: takeoverStore });
    // A second API process over the same database, with its own token cache.
    second = await buildApi({ store: await under.reopen() });
    svixUrl = await takeover.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await takeover.close();
    await second.close();
    await under.close();
  });

  const call = (
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    token: string,
    payload?: object,
    on: FastifyInstance = takeover,
  ) =>
    on.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });
  const newApp = async (name: string, uid?: string) =>
    (await call('POST', '/api/v1/app', ADMIN, { name, ...(uid ? { uid } : {}) })).json() as {
      id: string;
      uid: string | null;
    };
  const tokenOf = async (appId: string) =>
    ((await call('POST', `/api/v1/auth/app-portal-access/${appId}`, ADMIN, {})).json() as { token: string })
      .token;

  it("an application token cannot change its application's uid, so the operator's later getOrCreate is not the attacker's", async () => {
    const attacker = await newApp('Attacker');
    const token = await tokenOf(attacker.id);
    const patched = await call('PATCH', `/api/v1/app/${attacker.id}`, token, { uid: 'acme' });
    expect(patched.statusCode).toBe(403);
    expect(patched.json()).toMatchObject({ detail: expect.stringContaining('uid') });
    const put = await call('PUT', `/api/v1/app/${attacker.id}`, token, { name: 'Attacker', uid: 'acme' });
    expect(put.statusCode).toBe(403);
    // What does not name the application stays the token's to change.
    expect((await call('PATCH', `/api/v1/app/${attacker.id}`, token, { name: 'Renamed' })).statusCode).toBe(
      200,
    );
    expect((await takeoverStore.getApplication(attacker.id))?.uid).toBeNull();

    const acme = await call('POST', '/api/v1/app?get_if_exists=true', ADMIN, { name: 'Acme', uid: 'acme' });
    expect(acme.statusCode).toBe(201);
    const acmeId = (acme.json() as { id: string }).id;
    expect(acmeId).not.toBe(attacker.id);
    const sent = await call('POST', '/api/v1/app/acme/msg', ADMIN, {
      eventType: 'order.paid',
      payload: { n: 1 },
    });
    expect(sent.statusCode).toBe(202);
    expect((await call('GET', '/api/v1/app/acme/msg', token)).statusCode).toBe(403);
    const own = (await call('GET', `/api/v1/app/${attacker.id}/msg`, token)).json() as { data: unknown[] };
    expect(own.data).toEqual([]);
    // The admin still may.
    expect((await call('PATCH', `/api/v1/app/${attacker.id}`, ADMIN, { uid: 'attacker' })).statusCode).toBe(
      200,
    );
  });

  it('a uid can never take the form of an id, for any id prefix, at any entrance', async () => {
    const victim = await newApp('Victim');
    for (const prefix of Object.values(ID_PREFIX)) {
      const uid = `${prefix}_2b6EzcIbxLRkZ3x7Bt1OuVHmLwS`;
      const created = await call('POST', '/api/v1/app', ADMIN, { name: 'x', uid });
      expect(created.statusCode, prefix).toBe(422);
      expect(JSON.stringify(created.json())).toContain('uid');
      expect((await call('PATCH', `/api/v1/app/${victim.id}`, ADMIN, { uid })).statusCode, prefix).toBe(422);
      const ep = await call('POST', `/api/v1/app/${victim.id}/endpoint`, ADMIN, {
        url: 'https://example.com/x',
        uid,
      });
      expect(ep.statusCode, prefix).toBe(422);
    }
    // get_if_exists with another application's id as the uid finds nothing and makes nothing.
    const byId = await call('POST', '/api/v1/app?get_if_exists=true', ADMIN, { name: 'x', uid: victim.id });
    expect(byId.statusCode).toBe(422);
    // PUT on an unknown id does not create an application named by it.
    const unknown = 'app_2b6EzcIbxLRkZ3x7Bt1OuVHmLwS';
    expect((await call('PUT', `/api/v1/app/${unknown}`, ADMIN, { name: 'x' })).statusCode).toBe(404);
    const inline = await call('POST', `/api/v1/app/${unknown}/msg`, ADMIN, {
      eventType: 'order.paid',
      payload: {},
      application: { name: 'x' },
    });
    expect(inline.statusCode).toBe(422);
    expect(await takeoverStore.getApplication(unknown)).toBeNull();
  });

  it("lookups prefer an id over a uid equal to it, so old data cannot shadow another tenant's application", async () => {
    const a = await newApp('A');
    const b = await newApp('B');
    const epB = (
      (
        await call('POST', `/api/v1/app/${b.id}/endpoint`, ADMIN, {
          url: 'https://example.com/b',
          disabled: true,
        })
      ).json() as {
        id: string;
      }
    ).id;
    // What the probe did through the API on PostgreSQL, written directly now that the API refuses it.
    await rawSql('UPDATE applications SET uid = ? WHERE id = ?', [b.id, a.id]);
    // Move B's row after A's, so that a scan without a preference meets A first (PostgreSQL
    // returns rows in heap order, and an UPDATE of an indexed column moves a row to its end).
    await rawSql('UPDATE applications SET uid = ? WHERE id = ?', ['b-moved', b.id]);
    const tokenA = await tokenOf(a.id);
    const tokenB = await tokenOf(b.id);

    expect(((await call('GET', `/api/v1/app/${b.id}`, ADMIN)).json() as { id: string }).id).toBe(b.id);
    expect((await call('GET', `/api/v1/app/${b.id}`, tokenA)).statusCode).toBe(403);
    expect((await call('GET', `/api/v1/app/${b.id}/endpoint/${epB}`, ADMIN)).statusCode).toBe(200);
    const made = await call('POST', `/api/v1/app/${b.id}/endpoint`, ADMIN, { url: 'https://example.com/b2' });
    expect(made.statusCode).toBe(201);
    expect((await takeoverStore.getEndpoint(b.id, (made.json() as { id: string }).id))?.appId).toBe(b.id);
    expect((await takeoverStore.listEndpoints(a.id, { limit: 10 })).data).toEqual([]);

    for (const token of [ADMIN, tokenB]) {
      const sent = await call('POST', `/api/v1/app/${b.id}/msg`, token, {
        eventType: 'order.paid',
        payload: { secret: 'for B' },
      });
      expect(sent.statusCode).toBe(202);
      const { id } = sent.json() as { id: string };
      expect((await takeoverStore.getMessage(b.id, id))?.appId).toBe(b.id);
      expect(((await call('GET', `/api/v1/app/${b.id}/msg/${id}`, ADMIN)).json() as { id: string }).id).toBe(
        id,
      );
    }
    expect((await takeoverStore.listMessages({ appId: a.id }, { limit: 10 })).data).toEqual([]);
    expect((await call('GET', `/api/v1/app/${a.id}/msg`, tokenA)).json()).toMatchObject({ data: [] });
  });

  it("a deleted application's tokens stop working at once, in every process", async () => {
    const gone = await newApp('Gone');
    const token = await tokenOf(gone.id);
    // Both API processes have seen the token work (a cache would now hold it).
    expect((await call('GET', `/api/v1/app/${gone.id}`, token)).statusCode).toBe(200);
    expect((await call('GET', `/api/v1/app/${gone.id}`, token, undefined, second)).statusCode).toBe(200);
    expect((await call('DELETE', `/api/v1/app/${gone.id}`, ADMIN)).statusCode).toBe(204);
    for (const on of [takeover, second]) {
      expect((await call('GET', `/api/v1/app/${gone.id}`, token, undefined, on)).statusCode).toBe(401);
      const sent = await call(
        'POST',
        `/api/v1/app/${gone.id}/msg`,
        token,
        { eventType: 'e', payload: {} },
        on,
      );
      expect(sent.statusCode).toBe(401);
    }
  });

  it('a portal token minted through the svix SDK (which sends an idempotency-key) is stored nowhere in clear', async () => {
    const app = await newApp('Portal');
    const svix = new Svix(ADMIN, { serverUrl: svixUrl });
    const { token } = await svix.authentication.appPortalAccess(app.id, {});
    expect(token).toMatch(/^herald_app_/);
    const headers = { authorization: `Bearer ${ADMIN}`, 'idempotency-key': 'same-key' };
    const twice = await Promise.all(
      [1, 2].map(() =>
        takeover.inject({
          method: 'POST',
          url: `/api/v1/auth/app-portal-access/${app.id}`,
          headers,
          payload: {},
        }),
      ),
    );
    const tokens = twice.map((r) => (r.json() as { token: string }).token);
    expect(new Set(tokens).size).toBe(2);
    expect(twice.map((r) => r.headers['idempotent-replayed'])).toEqual([undefined, undefined]);
    for (const t of [token, ...tokens]) {
      expect((await call('GET', `/api/v1/app/${app.id}`, t)).statusCode).toBe(200);
      if (kind === 'sqlite') {
        const dir = dirname(under.location);
        for (const file of readdirSync(dir).filter((f) => f.startsWith(basename(under.location)))) {
          expect(readFileSync(join(dir, file)).includes(t), file).toBe(false);
        }
      } else {
        const rows = await rawSql(
          `SELECT count(*)::int AS n FROM idempotency_keys WHERE response LIKE '%' || ? || '%'`,
          [t],
        );
        expect(rows).toEqual([{ n: 0 }]);
      }
    }
  });

  it('upgrading forgets portal tokens that an older Herald stored in idempotency records', async () => {
    const stale = 'herald_app_stalestalestalestalestalestale';
    await rawSql(
      `INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at)
       VALUES ('admin', 'old-key', 'h', 200, ?, 0)`,
      [JSON.stringify({ token: stale, url: 'x' })],
    );
    await rawSql('DELETE FROM herald_migrations WHERE name = ?', [
      kind === 'sqlite' ? '006_forget_stored_tokens.sql' : '005_forget_stored_tokens.sql',
    ]);
    await under.reopen();
    expect(await rawSql(`SELECT key FROM idempotency_keys WHERE key = 'old-key'`, [])).toEqual([]);
  });
});

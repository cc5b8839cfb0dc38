/**
 * Tenants: every route of the API, called with another application's token, is refused, and
 * nothing stored changes. The route list is checked against /openapi.json, so a new route
 * that is not listed here fails this test until someone decides who may call it.
 */
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers.js';

const ADMIN = 'tenants-admin-token';
const dir = tempDir();
let store: SqliteStore;
let api: FastifyInstance;
let db: Database.Database;
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
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/recover': { since: '2020-01-01T00:00:00Z' },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing': { since: '2020-01-01T00:00:00Z' },
  'POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example': { eventType: 'order.paid' },
  'POST /api/v1/app/{app_id}/msg': { eventType: 'order.paid', payload: { forged: true } },
  'POST /api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend': {},
  'POST /api/v1/source': { name: 'evil', provider: 'none', appId: 'x' },
  'PATCH /api/v1/source/{source_id}': { name: 'evil' },
  'POST /api/v1/auth/app-portal-access/{app_id}': {},
};

/** Routes anyone may call, and routes an application token may read. */
const PUBLIC = new Set(['GET /api/v1/health', 'GET /api/v1/health/ping']);
const CATALOG = new Set(['GET /api/v1/event-type', 'GET /api/v1/event-type/{event_type_name}']);

beforeAll(async () => {
  const path = dir.path('tenants.db');
  store = openSqliteStore({ path });
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
  });
  db = new Database(path, { readonly: true });
});

afterAll(async () => {
  db.close();
  await api.close();
  await store[Symbol.asyncDispose]();
  dir.remove();
});

function snapshot(): string {
  return JSON.stringify(
    ['applications', 'event_types', 'endpoints', 'messages', 'deliveries', 'sources', 'api_tokens'].map((t) =>
      db.prepare(`SELECT * FROM ${t} ORDER BY 1`).all(),
    ),
  );
}

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
    const before = snapshot();
    const outcomes: string[] = [];
    for (const route of all) {
      if (PUBLIC.has(route)) continue;
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
        url,
        headers: { authorization: `Bearer ${mineToken}` },
        ...(hasBody ? { payload: BODIES[route] as object } : {}),
      });
      const expected = CATALOG.has(route) ? 200 : 403;
      outcomes.push(
        `${route} -> ${res.statusCode}${res.statusCode === expected ? '' : ` (expected ${expected})`}`,
      );
    }
    expect(outcomes.filter((o) => o.includes('expected'))).toEqual([]);
    expect(snapshot()).toBe(before);
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
    const before = snapshot();
    expect((await send('other-uid', shopToken)).statusCode).toBe(403);
    expect((await send(other.id, shopToken)).statusCode).toBe(403);
    expect((await send('no-such-uid', shopToken)).statusCode).toBe(403);
    expect((await send('no-such-uid', ADMIN)).statusCode).toBe(404);
    expect(snapshot()).toBe(before);
  });
});

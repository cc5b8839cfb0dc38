/**
 * Custom endpoint headers through the API, on both backends: values undici would refuse
 * and the name `Expect` get a 422 naming the header on every route that takes headers,
 * with nothing stored changed.
 */
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';
import { PG_URL } from '../pg.js';

const TOKEN = 'headers-admin';
const auth = { authorization: `Bearer ${TOKEN}` };
const dir = tempDir();
const schema = `t${process.pid}_${Date.now().toString(36)}_headers`;

afterAll(async () => {
  dir.remove();
  const client = new pg.Client(PG_URL);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

/** Values undici refuses, or that would not arrive as set; each was accepted with 201 before. */
const BAD_VALUES: [string, string, RegExp][] = [
  ['a euro sign', 'price \u20ac', /U\+20AC at character 7/],
  ['a line separator', 'a\u2028b', /U\+2028/],
  ['an emoji', 'ok \ud83d\ude00', /U\+1F600/],
  ['a C0 control character', 'a\u0001b', /U\+0001/],
  ['the last C0 control character', 'a\u001fb', /U\+001F/],
  ['DEL', 'a\u007fb', /U\+007F/],
  ['a first character past Latin-1', '\u0100', /U\+0100/],
  ['a leading space', ' token', /begin or end with a space or tab/],
  ['a trailing tab', 'token\t', /begin or end with a space or tab/],
];

const BACKENDS: [string, () => Promise<Store>][] = [
  ['SQLite', async () => openSqliteStore({ path: dir.path('headers.db') })],
  ['PostgreSQL', () => openPostgresStore({ url: PG_URL, schema, poolSize: 2 })],
];

describe.each(BACKENDS)('custom headers on %s', (_backend, open) => {
  let store: Store;
  let api: FastifyInstance;
  let appId: string;
  let epId: string;

  beforeAll(async () => {
    store = await open();
    await store.saveToken(hashToken(TOKEN), null);
    api = await buildApi({ store });
    appId = (await store.createApplication({ name: 'headers' })).id;
    epId = (
      await store.createEndpoint(appId, {
        url: 'https://example.com/hook',
        headers: { 'X-Tenant': 'acme' },
        disabled: true,
      })
    ).id;
  });

  afterAll(async () => {
    await api.close();
    await store[Symbol.asyncDispose]();
  });

  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: unknown) =>
    api.inject({ method, url: `/api/v1${url}`, headers: auth, ...(payload ? { payload } : {}) });
  const headersOf = async (id: string) => (await call('GET', `/app/${appId}/endpoint/${id}/headers`)).json();
  const endpointCount = async () => (await store.listEndpoints(appId, { limit: 250 })).data.length;

  /** The 422 names the header (its `loc` ends with it) and says what is wrong with the value. */
  function expectRefused(res: { statusCode: number; json(): unknown }, name: string, why: RegExp) {
    expect(res.statusCode).toBe(422);
    const [detail] = (res.json() as { detail: { loc: string[]; msg: string }[] }).detail;
    expect(detail!.loc).toEqual(['body', 'headers', name]);
    expect(detail!.msg).toMatch(why);
  }

  describe.each(BAD_VALUES)('a value with %s', (_what, value, why) => {
    it('is refused at endpoint create, creating nothing', async () => {
      const before = await endpointCount();
      const res = await call('POST', `/app/${appId}/endpoint`, {
        url: 'https://example.com/new',
        headers: { 'X-Ok': 'fine', 'X-Bad': value },
      });
      expectRefused(res, 'X-Bad', why);
      expect(await endpointCount()).toBe(before);
    });

    it('is refused by PUT and by PATCH …/headers, changing nothing', async () => {
      const before = await headersOf(epId);
      expectRefused(
        await call('PUT', `/app/${appId}/endpoint/${epId}/headers`, { headers: { 'X-Bad': value } }),
        'X-Bad',
        why,
      );
      expectRefused(
        await call('PATCH', `/app/${appId}/endpoint/${epId}/headers`, { headers: { 'X-Bad': value } }),
        'X-Bad',
        why,
      );
      expect(await headersOf(epId)).toEqual(before);
    });
  });

  it('refuses the header Expect on every route, naming it', async () => {
    const why = /not supported/;
    const before = await headersOf(epId);
    expectRefused(
      await call('POST', `/app/${appId}/endpoint`, {
        url: 'https://example.com/',
        headers: { Expect: '100-continue' },
      }),
      'Expect',
      why,
    );
    for (const method of ['PUT', 'PATCH'] as const)
      expectRefused(
        await call(method, `/app/${appId}/endpoint/${epId}/headers`, { headers: { expect: '100-continue' } }),
        'expect',
        why,
      );
    expect(await headersOf(epId)).toEqual(before);
  });

  it('takes the boundary values undici sends: tab and space inside, U+0080 to U+00FF, empty', async () => {
    const headers = {
      'X-Inside': 'a b\tc',
      'X-Latin1': '\u0080caf\u00e9\u00ff',
      'X-Empty': '',
      'X-Tilde': '~',
    };
    const res = await call('POST', `/app/${appId}/endpoint`, { url: 'https://example.com/ok', headers });
    expect(res.statusCode).toBe(201);
    expect(await headersOf(res.json().id)).toEqual({ headers, sensitive: [] });
  });
});

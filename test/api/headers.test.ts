/**
 * Custom endpoint headers through the API, on the store under test: values undici would refuse
 * and the name `Expect` get a 422 naming the header on every route that takes headers,
 * with nothing stored changed; sensitive headers (marked, or credential-named) are listed
 * by name in `GET …/headers` and their values are not returned, as Svix does, also to the
 * official SDK, which knows nothing of the marks.
 */
import type { FastifyInstance } from 'fastify';
import { ApiException, Svix } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import type { Store } from '../../src/store/store.js';
import { db, openTestStore, type TestStore } from '../store-under-test.js';

const TOKEN = 'headers-admin';
const auth = { authorization: `Bearer ${TOKEN}` };

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

describe(`custom headers on ${db}`, () => {
  let testStore: TestStore;
  let store: Store;
  let api: FastifyInstance;
  let base: string;
  let appId: string;
  let epId: string;

  beforeAll(async () => {
    testStore = await openTestStore('headers');
    store = testStore.store;
    await store.saveToken(hashToken(TOKEN), null);
    api = await buildApi({ store });
    base = await api.listen({ port: 0, host: '127.0.0.1' });
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
    await testStore.close();
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

  describe('sensitive headers', () => {
    it('lists credential-named headers by name only, without their values', async () => {
      const headers = {
        Authorization: 'Bearer s3cret',
        'X-Api-Key': 'k-123',
        'X-Auth-Token': 't-456',
        Cookie: 'sid=1',
        'X-Client-Secret': 'cs',
        'X-Tenant': 'acme',
      };
      const res = await call('POST', `/app/${appId}/endpoint`, { url: 'https://example.com/s', headers });
      expect(res.statusCode).toBe(201);
      const out = await headersOf(res.json().id);
      expect(out.headers).toEqual({ 'X-Tenant': 'acme' });
      expect(out.sensitive.sort()).toEqual(
        ['Authorization', 'Cookie', 'X-Api-Key', 'X-Auth-Token', 'X-Client-Secret'].sort(),
      );
      expect(JSON.stringify(out)).not.toMatch(/s3cret|k-123|t-456|sid=1/);
    });

    it('takes marks at create (sensitiveHeaders) and on PUT/PATCH (sensitive); only PUT, re-sending the values, unmarks', async () => {
      const created = await call('POST', `/app/${appId}/endpoint`, {
        url: 'https://example.com/m',
        headers: { 'X-Partner': 'partner-value', 'X-Plain': 'p' },
        sensitiveHeaders: ['x-partner'],
      });
      expect(created.statusCode).toBe(201);
      const id = created.json().id;
      const path = `/app/${appId}/endpoint/${id}/headers`;
      expect(await headersOf(id)).toEqual({ headers: { 'X-Plain': 'p' }, sensitive: ['X-Partner'] });

      // PATCH with a new value keeps the mark; PATCH can add marks but not take one away.
      expect(
        (await call('PATCH', path, { headers: { 'X-Partner': 'rotated', 'X-Other': 'o' } })).statusCode,
      ).toBe(204);
      expect((await call('PATCH', path, { headers: {}, sensitive: ['X-Other'] })).statusCode).toBe(204);
      expect(await headersOf(id)).toEqual({
        headers: { 'X-Plain': 'p' },
        sensitive: ['X-Partner', 'X-Other'],
      });
      expect((await store.getEndpoint(appId, id))!.headers['X-Partner']).toBe('rotated');

      // PUT without `sensitive` (what a Svix SDK sends) keeps the marks of the headers kept.
      expect((await call('PUT', path, { headers: { 'X-Partner': 'again', 'X-New': 'n' } })).statusCode).toBe(
        204,
      );
      expect(await headersOf(id)).toEqual({ headers: { 'X-New': 'n' }, sensitive: ['X-Partner'] });

      // PUT with `sensitive` sets the marks exactly; the caller sent every value anew.
      expect(
        (await call('PUT', path, { headers: { 'X-Partner': 'again', 'X-New': 'n' }, sensitive: [] }))
          .statusCode,
      ).toBe(204);
      expect(await headersOf(id)).toEqual({ headers: { 'X-Partner': 'again', 'X-New': 'n' }, sensitive: [] });

      // A null removes the header and its mark.
      await call('PATCH', path, { headers: {}, sensitive: ['X-New'] });
      await call('PATCH', path, { headers: { 'x-new': null } });
      await call('PATCH', path, { headers: { 'X-New': 'back' } });
      expect(await headersOf(id)).toEqual({
        headers: { 'X-Partner': 'again', 'X-New': 'back' },
        sensitive: [],
      });
    });

    it('refuses a mark that names no header, with 422 naming it, changing nothing', async () => {
      const before = await headersOf(epId);
      const put = await call('PUT', `/app/${appId}/endpoint/${epId}/headers`, {
        headers: { 'X-Tenant': 'acme' },
        sensitive: ['X-Missing'],
      });
      expect(put.statusCode).toBe(422);
      expect(put.json().detail[0].loc).toEqual(['body', 'sensitive[0]']);
      const patch = await call('PATCH', `/app/${appId}/endpoint/${epId}/headers`, {
        headers: {},
        sensitive: ['X-Missing'],
      });
      expect(patch.statusCode).toBe(422);
      expect(patch.json().detail[0].loc).toEqual(['body', 'sensitive[0]']);
      const created = await call('POST', `/app/${appId}/endpoint`, {
        url: 'https://example.com/',
        headers: { 'X-A': 'a' },
        sensitiveHeaders: ['X-A', 'X-B'],
      });
      expect(created.statusCode).toBe(422);
      expect(created.json().detail[0].loc).toEqual(['body', 'sensitiveHeaders[1]']);
      expect(await headersOf(epId)).toEqual(before);
    });

    it('answers the Svix SDK in its own shape: sensitive values left out, names listed', async () => {
      const svix = new Svix(TOKEN, { serverUrl: base });
      const ep = await svix.endpoint.create(appId, { url: 'https://example.com/sdk' });
      await svix.endpoint.updateHeaders(appId, ep.id, {
        headers: { Authorization: 'Bearer sdk-secret', 'X-Tenant': 'acme' },
      });
      expect(await svix.endpoint.getHeaders(appId, ep.id)).toEqual({
        headers: { 'X-Tenant': 'acme' },
        sensitive: ['Authorization'],
      });
      const bad = await svix.endpoint.patchHeaders(appId, ep.id, { headers: { 'X-Bad': '\u20ac' } }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(bad).toBeInstanceOf(ApiException);
      expect((bad as ApiException<unknown>).code).toBe(422);
      expect(JSON.stringify((bad as ApiException<unknown>).body)).toContain('X-Bad');
    });
  });
});

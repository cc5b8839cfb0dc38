/**
 * U+0000 in text: PostgreSQL's text type cannot hold it, and before it was refused an id,
 * iterator or name holding one answered 500 on PostgreSQL (error 22021) while SQLite stored
 * it. Now both backends refuse it the same way, naming where it was; JSON documents (a
 * message's payload) keep it, escaped, and deliver it byte for byte.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { findNul } from '../../src/core/nul.js';
import { openTestStore, RECORD_TABLES, type TestStore } from '../store-under-test.js';

const ADMIN = 'nul-admin';
const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
let testStore: TestStore;
let api: FastifyInstance;
let appId: string;

beforeAll(async () => {
  testStore = await openTestStore('nul');
  await testStore.store.saveToken(hashToken(ADMIN), null);
  appId = (await testStore.store.createApplication({ name: 'Shop' })).id;
  api = await buildApi({ store: testStore.store });
});

afterAll(async () => {
  await api.close();
  await testStore.close();
});

describe('findNul', () => {
  it('names the first text field holding U+0000, outside payload and schemas', () => {
    expect(findNul({ name: 'a\u0000b' })).toEqual(['name']);
    expect(findNul({ application: { name: 'x', metadata: { k: 'v\u0000' } } })).toEqual([
      'application',
      'metadata',
      'k',
    ]);
    expect(findNul({ secrets: ['ok', '\u0000'] })).toEqual(['secrets', '1']);
    expect(findNul({ metadata: { 'k\u0000': 'v' } })).toEqual(['metadata', 'k\u0000']);
    expect(findNul({ payload: { text: '\u0000' }, schemas: { '1': { x: '\u0000' } } })).toBeNull();
    expect(findNul({ name: 'plain', n: 1, list: [null, true] })).toBeNull();
  });
});

describe('U+0000 through the API', () => {
  it('in a body field: 422 naming the field, nothing stored', async () => {
    const before = await testStore.snapshot(RECORD_TABLES);
    const cases: Array<[string, string, object, string[]]> = [
      ['POST', '/api/v1/app', { name: 'a\u0000b' }, ['body', 'name']],
      ['PATCH', `/api/v1/app/${appId}`, { name: 'a\u0000b' }, ['body', 'name']],
      ['POST', '/api/v1/event-type', { name: 'order.paid', description: 'x\u0000' }, ['body', 'description']],
      [
        'POST',
        `/api/v1/app/${appId}/endpoint`,
        { url: 'https://example.com/h', description: '\u0000' },
        ['body', 'description'],
      ],
      [
        'POST',
        `/api/v1/app/${appId}/endpoint`,
        { url: 'https://example.com/h', metadata: { k: '\u0000' } },
        ['body', 'metadata', 'k'],
      ],
    ];
    for (const [method, url, payload, loc] of cases) {
      const res = await api.inject({ method: method as 'POST', url, headers, payload });
      expect(res.statusCode, `${method} ${url}`).toBe(422);
      expect(res.json()).toMatchObject({ detail: [{ loc, msg: expect.stringContaining('NUL') }] });
    }
    expect(await testStore.snapshot(RECORD_TABLES)).toBe(before);
  });

  it('in a path id or a query parameter: 400 before any route, on every route', async () => {
    for (const url of [
      '/api/v1/app/a%00b',
      `/api/v1/app/${appId}/msg?iterator=a%00b`,
      '/api/v1/event-type?iterator=a%00b',
      '/in/src_a%00b',
    ]) {
      const res = await api.inject({ url, headers });
      expect(res.statusCode, url).toBe(400);
      expect(res.json()).toMatchObject({ code: 'nul_in_url' });
    }
  });

  it('inside a payload: kept, escaped, and read back as sent', async () => {
    const sent = await api.inject({
      method: 'POST',
      url: `/api/v1/app/${appId}/msg`,
      headers,
      payload: '{"eventType":"order.paid","payload":{"note":"a\\u0000b"}}',
    });
    expect(sent.statusCode).toBe(202);
    const { id } = sent.json() as { id: string };
    const read = await api.inject({ url: `/api/v1/app/${appId}/msg/${id}`, headers });
    expect(read.statusCode).toBe(200);
    expect((read.json() as { payload: { note: string } }).payload.note).toBe('a\u0000b');
  });
});

describe('field names that need escaping in a JSON Pointer', () => {
  it('are named as sent, with / and ~ kept', async () => {
    const res = await api.inject({
      method: 'POST',
      url: '/api/v1/app',
      headers,
      payload: { name: 'x', metadata: { 'a/b~c': '\u0000' } },
    });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ detail: [{ loc: ['body', 'metadata', 'a/b~c'] }] });
  });
});

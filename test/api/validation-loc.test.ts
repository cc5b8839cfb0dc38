/** A validation error names where the bad value was: `query`, `path` or `body` (Fastify's validationContext). */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { handleError } from '../../src/api/errors.js';
import { buildApi } from '../../src/api/server.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'loc-admin';
const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
let testStore: TestStore;
let api: FastifyInstance;

beforeAll(async () => {
  testStore = await openTestStore('validation-loc');
  await testStore.store.saveToken(hashToken(ADMIN), null);
  api = await buildApi({ store: testStore.store });
});

afterAll(async () => {
  await api.close();
  await testStore.close();
});

describe('validation error loc', () => {
  it('a bad query parameter is 422 at query, not body', async () => {
    const res = await api.inject({ method: 'GET', url: '/api/v1/app?limit=abc', headers });
    expect(res.statusCode).toBe(422);
    const { detail } = res.json();
    expect(detail).toHaveLength(1);
    expect(detail[0].loc).toEqual(['query', 'limit']);
    expect(detail[0].msg).toMatch(/^limit /);
  });

  it('a bad path parameter is 422 at path', async () => {
    // Herald's own path ids are refused by length before validation (414), so a route of
    // its own shape shows the mapping: the same error handler, a params schema.
    const app = Fastify();
    app.setErrorHandler(handleError);
    app.get(
      '/thing/:thing_id',
      {
        schema: { params: { type: 'object', properties: { thing_id: { type: 'string', pattern: '^t_' } } } },
      },
      async () => ({}),
    );
    const res = await app.inject({ method: 'GET', url: '/thing/abc' });
    await app.close();
    expect(res.statusCode).toBe(422);
    expect(res.json().detail[0].loc).toEqual(['path', 'thing_id']);
  });

  it('a bad body field is still 422 at body', async () => {
    const res = await api.inject({ method: 'POST', url: '/api/v1/app', headers, payload: { name: 5 } });
    expect(res.statusCode).toBe(422);
    expect(res.json().detail[0].loc).toEqual(['body', 'name']);
  });
});

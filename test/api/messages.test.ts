/** The ingest route's answer: written by hand for speed, so checked against the schema'd reads. */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers.js';

const ADMIN = 'messages-admin-token';
const dir = tempDir();
let store: SqliteStore;
let api: FastifyInstance;
let appId: string;
const headers = { authorization: `Bearer ${ADMIN}` };

beforeAll(async () => {
  store = openSqliteStore({ path: dir.path('messages.db') });
  await store.saveToken(hashToken(ADMIN), null);
  appId = (await store.createApplication({ name: 'Shop' })).id;
  api = await buildApi({ store });
});

afterAll(async () => {
  await api.close();
  await store[Symbol.asyncDispose]();
  dir.remove();
});

describe('POST /app/{id}/msg answers', () => {
  it('202 with the same message a GET returns, payload included, as JSON', async () => {
    const payload = { title: 'Caf\u00e9 \u2603 "quoted" \\ \n', n: 1.5, nested: { list: [1, null, true] } };
    const post = await api.inject({
      method: 'POST',
      url: `/api/v1/app/${appId}/msg`,
      headers,
      payload: { eventType: 'order.paid', eventId: 'evt-1', channels: ['eu'], payload },
    });
    expect(post.statusCode).toBe(202);
    expect(post.headers['content-type']).toMatch(/^application\/json/);
    const created = post.json() as { id: string; payload: unknown };
    expect(created.payload).toEqual(payload);
    const get = await api.inject({ url: `/api/v1/app/${appId}/msg/${created.id}`, headers });
    expect(get.statusCode).toBe(200);
    expect(created).toEqual(get.json());
  });

  it('an empty payload object with with_content=false, like the reads', async () => {
    const post = await api.inject({
      method: 'POST',
      url: `/api/v1/app/${appId}/msg?with_content=false`,
      headers,
      payload: { eventType: 'order.paid', payload: { secret: 'not echoed' } },
    });
    expect(post.statusCode).toBe(202);
    const created = post.json() as { id: string; payload: unknown; eventId: unknown; channels: unknown };
    expect(created).toMatchObject({ payload: {}, eventId: null, channels: null });
    const get = await api.inject({
      url: `/api/v1/app/${appId}/msg/${created.id}?with_content=false`,
      headers,
    });
    expect(created).toEqual(get.json());
  });
});

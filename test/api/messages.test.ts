/**
 * Message answers are written as text around the stored payload (no parse and serialise
 * again), so they are checked here against each other and against their documented schemas.
 */
import type { FastifyInstance } from 'fastify';
import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { EndpointMessageOut, MessageOut, Page } from '../../src/api/schemas.js';
import { buildApi } from '../../src/api/server.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'messages-admin-token';
let testStore: TestStore;
let store: Store;
let api: FastifyInstance;
let appId: string;
const headers = { authorization: `Bearer ${ADMIN}` };

beforeAll(async () => {
  testStore = await openTestStore('messages');
  store = testStore.store;
  await store.saveToken(hashToken(ADMIN), null);
  appId = (await store.createApplication({ name: 'Shop' })).id;
  api = await buildApi({ store });
});

afterAll(async () => {
  await api.close();
  await testStore.close();
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

describe('every read of a message, written as text from the stored payload', () => {
  it('matches its documented schema: GET /msg, /msg/{id}, /endpoint/{id}/msg, send-example', async () => {
    const ep = await store.createEndpoint(appId, { url: 'https://example.com/hook' });
    await store.upsertEventType({ name: 'order.shipped', description: 'x', schemas: null });
    const post = await api.inject({
      method: 'POST',
      url: `/api/v1/app/${appId}/msg`,
      headers,
      payload: {
        eventType: 'order.shipped',
        eventId: 'evt-read',
        channels: ['eu'],
        payload: { n: [1, { a: null }] },
      },
    });
    const { id } = post.json() as { id: string };
    const reads: [string, TSchema][] = [
      [`/api/v1/app/${appId}/msg`, Page(MessageOut)],
      [`/api/v1/app/${appId}/msg?with_content=false`, Page(MessageOut)],
      [`/api/v1/app/${appId}/msg/${id}`, MessageOut],
      [`/api/v1/app/${appId}/msg/evt-read`, MessageOut],
      [`/api/v1/app/${appId}/endpoint/${ep.id}/msg`, Page(EndpointMessageOut)],
    ];
    for (const [url, schema] of reads) {
      const res = await api.inject({ url, headers });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect([...Value.Errors(schema, res.json())], url).toEqual([]);
    }
    const page = (await api.inject({ url: `/api/v1/app/${appId}/endpoint/${ep.id}/msg`, headers })).json();
    expect(page.data[0]).toMatchObject({
      id,
      payload: { n: [1, { a: null }] },
      status: 1,
      statusText: 'pending',
    });
    const example = await api.inject({
      method: 'POST',
      url: `/api/v1/app/${appId}/endpoint/${ep.id}/send-example`,
      headers,
      payload: { eventType: 'order.shipped' },
    });
    expect(example.statusCode).toBe(200);
    expect([...Value.Errors(MessageOut, example.json())]).toEqual([]);
    expect(example.json().payload).toEqual({ type: 'order.shipped' });
  });
});

describe('a payload nested 20,000 deep, stored before the API refused such (issue 13)', () => {
  const arrays = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const objects = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

  it('still lists and gets (GET /msg, /msg/{id}, /endpoint/{id}/msg): the stored text as it is', async () => {
    const app = (await store.createApplication({ name: 'Old deep' })).id;
    const ep = (await store.createEndpoint(app, { url: 'https://example.com/hook' })).id;
    const stored = [`{"a":${arrays(20_000)}}`, arrays(20_000), `{"b":${objects(20_000)}}`];
    const ids: string[] = [];
    for (const payload of stored) {
      ids.push((await store.acceptMessage({ appId: app, eventType: 'deep.old', payload })).message.id);
    }
    const list = await api.inject({ url: `/api/v1/app/${app}/msg`, headers });
    expect(list.statusCode).toBe(200);
    for (const payload of stored) expect(list.payload).toContain(`"payload":${payload},`);
    // JSON.parse is iterative in V8: a client can read the answer whatever its depth.
    const page = JSON.parse(list.payload) as { data: { id: string }[]; done: boolean };
    expect(page.data.map((m) => m.id).sort()).toEqual([...ids].sort());
    expect(page.done).toBe(true);

    const bare = await api.inject({ url: `/api/v1/app/${app}/msg?with_content=false`, headers });
    expect(bare.statusCode).toBe(200);
    expect(JSON.parse(bare.payload).data.map((m: { payload: unknown }) => m.payload)).toEqual([{}, {}, {}]);

    for (const [i, id] of ids.entries()) {
      const one = await api.inject({ url: `/api/v1/app/${app}/msg/${id}`, headers });
      expect(one.statusCode).toBe(200);
      expect(one.payload).toContain(`"payload":${stored[i]},`);
    }

    const byEndpoint = await api.inject({ url: `/api/v1/app/${app}/endpoint/${ep}/msg`, headers });
    expect(byEndpoint.statusCode).toBe(200);
    for (const payload of stored) expect(byEndpoint.payload).toContain(`"payload":${payload},`);
    expect(JSON.parse(byEndpoint.payload).data[0]).toMatchObject({ status: 1, statusText: 'pending' });
  });
});

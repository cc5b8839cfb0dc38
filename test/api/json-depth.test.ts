/**
 * JSON nested deeper than 64 levels is refused at every entrance: the API's JSON bodies,
 * the inbound gateway, send-example. Issue 13: a 20,000-deep array through a `none` source
 * was stored and the message list answered 500 from then on (messages.test.ts shows such a
 * message reads now); about 4,200 levels in an API body answered 500.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'json-depth-admin';
const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
let testStore: TestStore;
let store: Store;
let api: FastifyInstance;

beforeAll(async () => {
  testStore = await openTestStore('json-depth');
  store = testStore.store;
  await store.saveToken(hashToken(ADMIN), null);
  api = await buildApi({ store });
});

afterAll(async () => {
  await api.close();
  await testStore.close();
});

/** `n` nested arrays, as text. */
const arrays = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
/** An object nesting `n` levels in all: `{"a":{"a":…{"a":1}…}}`. */
const objects = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;

/** A fresh application with one enabled endpoint (nothing is dispatched: no dispatcher runs). */
async function freshApp(name: string) {
  const app = await store.createApplication({ name });
  const ep = await store.createEndpoint(app.id, { url: 'https://example.com/hook' });
  return { app: app.id, ep: ep.id };
}

const count = async (appId: string) =>
  (await store.listMessages({ appId }, { limit: 250, iterator: null })).data.length;

function send(method: string, url: string, payload: string, extra: Record<string, string> = {}) {
  return api.inject({ method: method as 'POST', url, headers: { ...headers, ...extra }, payload });
}

describe('POST /app/{id}/msg', () => {
  it('takes a payload nested 64 levels and refuses 65 with 422 naming the payload and the limit', async () => {
    const { app } = await freshApp('Depth edge');
    const url = `/api/v1/app/${app}/msg`;
    const at64 = await send('POST', url, `{"eventType":"a.b","payload":${objects(64)}}`);
    expect(at64.statusCode).toBe(202);
    expect(at64.payload).toContain(objects(64));
    const at65 = await send('POST', url, `{"eventType":"a.b","payload":{"list":${arrays(64)}}}`);
    expect(at65.statusCode).toBe(422);
    expect(at65.json()).toEqual({
      detail: [
        {
          loc: ['body', 'payload'],
          msg: 'payload nests deeper than 64 levels of arrays and objects',
          type: 'value_error.maxDepth',
        },
      ],
    });
    expect(await count(app)).toBe(1);
  });

  it.each([5_000, 20_000, 150_000])(
    '%i levels (under 1 MiB): 422, also with an idempotency-key',
    async (n) => {
      const { app } = await freshApp(`Deep ${n}`);
      const url = `/api/v1/app/${app}/msg`;
      for (const inner of [arrays(n), objects(n)]) {
        const body = `{"eventType":"a.b","payload":{"x":${inner}}}`;
        expect(Buffer.byteLength(body)).toBeLessThan(1024 * 1024);
        const plain = await send('POST', url, body);
        expect(plain.statusCode).toBe(422);
        expect(plain.json().detail[0].loc).toEqual(['body', 'payload']);
        const keyed = await send('POST', url, body, { 'idempotency-key': `deep-${n}` });
        expect(keyed.statusCode).toBe(422);
        expect(keyed.json().detail[0].msg).toContain('64 levels');
      }
      // The refusal saved nothing under the key: a good request with it is taken, not a 409.
      const good = await send('POST', url, '{"eventType":"a.b","payload":{"ok":true}}', {
        'idempotency-key': `deep-${n}`,
      });
      expect(good.statusCode).toBe(202);
      expect(await count(app)).toBe(1);
    },
  );
});

describe('event types and other bodies', () => {
  const deepSchemas = `{"1":{"type":"object","properties":${objects(5_000)}}}`;

  it('POST, PUT and PATCH /event-type refuse deep schemas with 422 naming schemas; nothing stored', async () => {
    for (const [method, url, body] of [
      ['POST', '/api/v1/event-type', `{"name":"deep.et","description":"x","schemas":${deepSchemas}}`],
      ['PUT', '/api/v1/event-type/deep.et', `{"description":"x","schemas":${deepSchemas}}`],
      ['PATCH', '/api/v1/event-type/deep.et', `{"schemas":${deepSchemas}}`],
    ] as const) {
      const res = await send(method, url, body);
      expect(res.statusCode, `${method} ${url}`).toBe(422);
      expect(res.json().detail[0]).toMatchObject({ loc: ['body', 'schemas'] });
      expect(res.json().detail[0].msg).toContain('64 levels');
    }
    expect(await store.getEventType('deep.et')).toBeNull();
  });

  it('any JSON body: deep metadata on POST /app, a deep top-level array; 422, nothing stored', async () => {
    const before = (await store.listApplications({ limit: 250, iterator: null })).data.length;
    const meta = await send('POST', '/api/v1/app', `{"name":"x","metadata":{"k":${arrays(20_000)}}}`);
    expect(meta.statusCode).toBe(422);
    expect(meta.json().detail[0].loc).toEqual(['body', 'metadata']);
    const top = await send('POST', '/api/v1/app', arrays(20_000));
    expect(top.statusCode).toBe(422);
    expect(top.json().detail[0]).toMatchObject({
      loc: ['body'],
      msg: 'body nests deeper than 65 levels of arrays and objects',
    });
    expect((await store.listApplications({ limit: 250, iterator: null })).data.length).toBe(before);
  });
});

describe('the inbound gateway (POST /in/{source_id})', () => {
  it('refuses a JSON body nested deeper than 64 levels with 422, logs it rejected, stores no message', async () => {
    const { app } = await freshApp('Inbound deep');
    const source = await store.createSource({ name: 'Open', provider: 'none', secrets: [], appId: app });
    const post = (payload: string, type = 'application/json') =>
      api.inject({ method: 'POST', url: `/in/${source.id}`, headers: { 'content-type': type }, payload });
    for (const body of [arrays(20_000), `{"a":${arrays(20_000)}}`, objects(65)]) {
      const res = await post(body);
      expect(res.statusCode).toBe(422);
      expect(res.json()).toEqual({
        code: 'json_too_deep',
        detail: 'body: JSON nests deeper than 64 levels of arrays and objects',
      });
    }
    expect(await count(app)).toBe(0);
    const log = (await store.listInbound(source.id, { limit: 10, iterator: null })).data;
    expect(log.map((r) => [r.status, r.reason])).toEqual(Array(3).fill(['rejected', 'json_too_deep']));

    // 64 levels is taken, the same payload the message route takes; text that only looks
    // deep but is not JSON is carried as text like any other body.
    const at64 = await post(objects(64));
    expect(at64.statusCode).toBe(200);
    const notJson = await post('['.repeat(20_000), 'text/plain');
    expect(notJson.statusCode).toBe(200);
    const list = await api.inject({ url: `/api/v1/app/${app}/msg`, headers });
    expect(list.statusCode).toBe(200);
    expect(list.payload).toContain(`"payload":${objects(64)},`);
    expect(await count(app)).toBe(2);
  });
});

describe('send-example', () => {
  const exampleCases = [['"abc"'], ['1'], ['true'], ['null'], ['["a","b"]']];

  it.each(exampleCases)('an event type is refused the example %s with 422 naming it', async (example) => {
    const schemas = `{"1":{"type":"object","examples":[${example}]}}`;
    for (const [method, url, body] of [
      ['POST', '/api/v1/event-type', `{"name":"ex.bad","description":"x","schemas":${schemas}}`],
      ['PUT', '/api/v1/event-type/ex.bad', `{"description":"x","schemas":${schemas}}`],
    ] as const) {
      const res = await send(method, url, body);
      expect(res.statusCode, `${method} ${url}`).toBe(422);
      expect(res.json().detail[0]).toMatchObject({
        loc: ['body', 'schemas', '1', 'examples', '0'],
        msg: 'schemas.1.examples.0 must be object',
      });
    }
    expect(await store.getEventType('ex.bad')).toBeNull();
    await store.upsertEventType({ name: 'ex.good', description: 'x' });
    const patch = await send('PATCH', '/api/v1/event-type/ex.good', `{"schemas":${schemas}}`);
    expect(patch.statusCode).toBe(422);
    expect((await store.getEventType('ex.good'))!.schemas).toBeNull();
  });

  it('sends an object example as it is', async () => {
    const { app, ep } = await freshApp('Example ok');
    const created = await send(
      'POST',
      '/api/v1/event-type',
      '{"name":"ex.obj","description":"x","schemas":{"1":{"examples":[{"order":{"id":7}}]}}}',
    );
    expect(created.statusCode).toBe(201);
    const res = await send(
      'POST',
      `/api/v1/app/${app}/endpoint/${ep}/send-example`,
      '{"eventType":"ex.obj"}',
    );
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ eventType: 'ex.obj', payload: { order: { id: 7 } } });
  });

  it.each([
    ['a string', { examples: ['abc'] }, 'are not JSON objects'],
    ['an array', { examples: [['a', 'b']] }, 'are not JSON objects'],
    ['a number', { examples: [3] }, 'are not JSON objects'],
    ['not a list', { examples: 'abc' }, 'are not JSON objects'],
    ['100 levels deep', { examples: [JSON.parse(objects(100))] }, 'nest deeper than 64 levels'],
  ])('refuses (422) a stored example that is %s; no message', async (_what, version, says) => {
    const { app, ep } = await freshApp('Example stored');
    const name = `ex.stored.${Math.random().toString(36).slice(2, 8)}`;
    // Stored the way an event type was before the API refused such examples.
    await store.upsertEventType({ name, description: 'x', schemas: { '1': version } });
    const res = await send(
      'POST',
      `/api/v1/app/${app}/endpoint/${ep}/send-example`,
      `{"eventType":"${name}"}`,
    );
    expect(res.statusCode).toBe(422);
    expect(res.json().detail[0].loc).toEqual(['body', 'eventType']);
    expect(res.json().detail[0].msg).toContain(`schemas.1.examples) ${says}`);
    expect(await count(app)).toBe(0);
  });
});

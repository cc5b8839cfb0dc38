/**
 * An event type's JSON Schemas are checked where they enter: a version that is not a JSON
 * Schema, one naming a draft Herald does not know, or an example its own schema refuses is a
 * 422 naming the version (or the example), on create, PUT and PATCH, and nothing changes.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'event-type-schemas-admin';
let testStore: TestStore;
let api: FastifyInstance;

beforeAll(async () => {
  testStore = await openTestStore('event-type-schemas');
  await testStore.store.saveToken(hashToken(ADMIN), null);
  api = await buildApi({ store: testStore.store });
});

afterAll(async () => {
  await api.close();
  await testStore.close();
});

async function call(method: 'POST' | 'PUT' | 'PATCH' | 'GET', url: string, payload?: unknown) {
  const res = await api.inject({
    method,
    url: `/api/v1${url}`,
    headers: { authorization: `Bearer ${ADMIN}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

/** The dotted loc (after `body`) and words of a 422's first issue. */
function refusal(body: Record<string, unknown>): { at: string; msg: string } {
  const [issue] = body.detail as { loc: string[]; msg: string }[];
  return { at: issue!.loc.slice(1).join('.'), msg: issue!.msg };
}

describe('event type schemas', () => {
  const good = {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string' } },
    examples: [{ id: 'a' }],
  };

  it('stores a JSON Schema whose example matches it, of draft 7 or the draft it names', async () => {
    expect(
      (await call('POST', '/event-type', { name: 'a.b', description: 'd', schemas: { '1': good } })).status,
    ).toBe(201);
    const v2020 = { $schema: 'https://json-schema.org/draft/2020-12/schema', ...good };
    expect((await call('PATCH', '/event-type/a.b', { schemas: { '1': good, '2': v2020 } })).status).toBe(200);
    expect((await call('GET', '/event-type/a.b')).body.schemas).toEqual({ '1': good, '2': v2020 });
  });

  it('refuses what is not a JSON Schema, an unknown draft, and an example its schema refuses, changing nothing', async () => {
    const cases: [unknown, string, RegExp][] = [
      [
        { type: 'objekt' },
        'schemas.1',
        /is not a JSON Schema: \/type must be equal to one of the allowed values/,
      ],
      [
        { $schema: 'https://example.com/mine', type: 'object' },
        'schemas.1.$schema',
        /draft Herald does not know/,
      ],
      [
        { ...good, examples: [{ id: 3 }] },
        'schemas.1.examples.0',
        /does not match its schema: \/id must be string/,
      ],
      [{ ...good, examples: [{ id: 'a' }, {}] }, 'schemas.1.examples.1', /must have required properties id/],
    ];
    for (const [schema, at, words] of cases) {
      for (const [method, url, body] of [
        ['POST', '/event-type', { name: 'c.d', description: 'd', schemas: { '1': schema } }],
        ['PUT', '/event-type/a.b', { description: 'd', schemas: { '1': schema } }],
        ['PATCH', '/event-type/a.b', { schemas: { '1': schema } }],
      ] as const) {
        const res = await call(method, url, body);
        expect(res.status, `${method} ${at}`).toBe(422);
        expect(refusal(res.body).at).toBe(at);
        expect(refusal(res.body).msg).toMatch(words);
      }
    }
    expect((await call('GET', '/event-type/c.d')).status).toBe(404);
    expect(((await call('GET', '/event-type/a.b')).body.schemas as Record<string, unknown>)['1']).toEqual(
      good,
    );
  });
});

/**
 * Bad input on every route: random and adversarial bodies, ids and query strings never get
 * a 5xx, errors name what is wrong, and a refused request changes nothing stored.
 * `npm test` runs a small sample; `npm run fuzz` runs FUZZ_RUNS cases per route.
 */
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { JSON_DEPTH_LIMIT } from '../../src/core/json-depth.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { tempDir } from '../helpers.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 25);
const TOKEN = 'fuzz-admin-token';
const dir = tempDir();
let store: SqliteStore;
let api: FastifyInstance;
let db: Database.Database;
let ids: { app: string; ep: string; msg: string; src: string; open: string };

beforeAll(async () => {
  const path = dir.path('fuzz.db');
  store = openSqliteStore({ path });
  await store.saveToken(hashToken(TOKEN), null);
  const app = await store.createApplication({ name: 'Fuzz', uid: 'fuzz' });
  const ep = await store.createEndpoint(app.id, { url: 'https://example.com/hook', disabled: true });
  const { message } = await store.acceptMessage({ appId: app.id, eventType: 'a.b', payload: '{"k":1}' });
  await store.upsertEventType({ name: 'a.b', description: 'x' });
  const src = await store.createSource({
    name: 'Fuzz source',
    provider: 'github',
    secrets: ['s'],
    appId: app.id,
  });
  const open = await store.createSource({ name: 'Unsigned', provider: 'none', secrets: [], appId: app.id });
  ids = { app: app.id, ep: ep.id, msg: message.id, src: src.id, open: open.id };
  api = await buildApi({ store, maxPayloadBytes: 64 * 1024 });
  db = new Database(path, { readonly: true });
});

afterAll(async () => {
  db.close();
  await api.close();
  await store[Symbol.asyncDispose]();
  dir.remove();
});

/** Everything stored, to compare before and after a refused request. */
function snapshot(): string {
  return JSON.stringify(
    ['applications', 'event_types', 'endpoints', 'messages', 'deliveries', 'sources', 'idempotency_keys'].map(
      (t) => db.prepare(`SELECT * FROM ${t} ORDER BY 1`).all(),
    ),
  );
}

const ROUTES: [string, string][] = [
  ['POST', '/api/v1/app'],
  ['PUT', '/api/v1/app/{app}'],
  ['PATCH', '/api/v1/app/{app}'],
  ['POST', '/api/v1/event-type'],
  ['PUT', '/api/v1/event-type/{type}'],
  ['PATCH', '/api/v1/event-type/{type}'],
  ['POST', '/api/v1/app/{app}/endpoint'],
  ['PUT', '/api/v1/app/{app}/endpoint/{ep}'],
  ['PATCH', '/api/v1/app/{app}/endpoint/{ep}'],
  ['PUT', '/api/v1/app/{app}/endpoint/{ep}/headers'],
  ['PATCH', '/api/v1/app/{app}/endpoint/{ep}/headers'],
  ['POST', '/api/v1/app/{app}/endpoint/{ep}/secret/rotate'],
  ['POST', '/api/v1/app/{app}/endpoint/{ep}/recover'],
  ['POST', '/api/v1/app/{app}/endpoint/{ep}/send-example'],
  ['POST', '/api/v1/app/{app}/msg'],
  ['POST', '/api/v1/source'],
  ['PATCH', '/api/v1/source/{src}'],
];

/** Strings that have broken parsers, headers and SQL before. */
const nasty = fc.constantFrom(
  '../../etc/passwd',
  "'; DROP TABLE messages; --",
  'X-Evil\r\nInjected: 1',
  'a\u0000b',
  'x'.repeat(70_000),
  'ftp://example.com/',
  'http://user:pw@example.com/',
  'http://[::1]/',
  'whsec_',
  '',
  '%00',
);
const value = fc.oneof(fc.anything(), nasty, fc.integer(), fc.double(), fc.constant(null));
const body = fc.oneof(
  fc.anything(),
  fc.dictionary(
    fc.constantFrom(
      'name',
      'uid',
      'url',
      'eventType',
      'payload',
      'headers',
      'channels',
      'filterTypes',
      'secret',
      'since',
      'key',
      'description',
      'metadata',
      'extra',
      'secrets',
      'provider',
      'appId',
      'passthroughHeaders',
    ),
    value,
  ),
  fc.record({ url: value, headers: fc.dictionary(fc.oneof(nasty, fc.string()), value) }),
  fc.record({
    eventType: fc.oneof(nasty, fc.constant('a.b')),
    payload: fc.oneof(value, fc.object({ maxDepth: 40 })),
  }),
);
const pathId = fc.oneof(
  fc.constantFrom('real'),
  nasty.filter((s) => s.length < 500 && s.length > 0),
  fc.string({ minLength: 1, unit: 'grapheme' }),
);

function fill(template: string, id: string | 'real'): string {
  const real = id === 'real';
  const enc = (x: string) => encodeURIComponent(x);
  return template
    .replace('{app}', real ? ids.app : enc(id))
    .replace('{ep}', real ? ids.ep : enc(id))
    .replace('{type}', real ? 'a.b' : enc(id))
    .replace('{src}', real ? ids.src : enc(id));
}

function checkErrorShape(status: number, payload: string): void {
  const json = JSON.parse(payload) as { code?: unknown; detail?: unknown };
  if (status === 422) {
    expect(Array.isArray(json.detail)).toBe(true);
    for (const item of json.detail as { loc: unknown; msg: unknown }[]) {
      expect(Array.isArray(item.loc)).toBe(true);
      expect(typeof item.msg).toBe('string');
    }
  } else {
    expect(typeof json.code).toBe('string');
    expect(typeof json.detail).toBe('string');
  }
}

describe('bad input', () => {
  it.each(ROUTES)(
    `%s %s: never a 5xx; a refusal changes nothing (${RUNS} cases)`,
    async (method, template) => {
      await fc.assert(
        fc.asyncProperty(body, pathId, async (payload, id) => {
          const before = snapshot();
          const res = await api.inject({
            method: method as 'POST',
            url: fill(template, id),
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            payload: JSON.stringify(payload ?? null),
          });
          expect(res.statusCode).toBeLessThan(500);
          if (res.statusCode >= 400) {
            checkErrorShape(res.statusCode, res.payload);
            expect(snapshot()).toBe(before);
          }
        }),
        { numRuns: RUNS },
      );
    },
  );

  /** A JSON body with bytes that are not UTF-8 (a stray 0xff, a bad continuation, a surrogate). */
  const badUtf8 = fc
    .tuple(
      body,
      fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]),
      fc.nat(),
    )
    .map(([payload, bytes, at]) => {
      const text = Buffer.from(
        JSON.stringify({ name: 'x', payload, eventType: 'a.b', url: 'https://e.com' }),
      );
      const cut = 1 + (at % (text.length - 1));
      return Buffer.concat([text.subarray(0, cut), Buffer.from(bytes), text.subarray(cut)]);
    });

  it.each(ROUTES)(
    `%s %s: invalid UTF-8 or random bytes: a 4xx, nothing stored (${RUNS} cases)`,
    async (method, template) => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(badUtf8, fc.uint8Array({ maxLength: 512 }).map(Buffer.from)),
          async (payload) => {
            const before = snapshot();
            const res = await api.inject({
              method: method as 'POST',
              url: fill(template, 'real'),
              headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
              payload,
            });
            expect(res.statusCode).toBeGreaterThanOrEqual(400);
            expect(res.statusCode).toBeLessThan(500);
            checkErrorShape(res.statusCode, res.payload);
            let valid = true;
            try {
              new TextDecoder('utf-8', { fatal: true }).decode(payload);
            } catch {
              valid = false;
            }
            // Size is checked first: an oversized body is a 413 whatever its bytes.
            if (!valid && res.statusCode !== 413)
              expect(JSON.parse(res.payload)).toMatchObject({ code: 'invalid_utf8' });
            expect(snapshot()).toBe(before);
          },
        ),
        { numRuns: RUNS },
      );
    },
  );

  /** Containers to nest, written as their opening text: an array, or an object's one key. */
  const opener = fc.oneof(
    fc.constant('['),
    fc.constantFrom('k', '"[', '\\', '}{', 'é').map((key) => `{${JSON.stringify(key)}:`),
  );
  /** JSON text nesting `depth` levels, repeating a random cycle of containers, around a random leaf. */
  const nestedText = (depth: fc.Arbitrary<number>) =>
    fc
      .tuple(
        depth,
        fc.array(opener, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('1', '"]}]}"', 'null', '"\\\\"'),
      )
      .map(([levels, cycle, leaf]) => {
        const opens = Array.from({ length: levels }, (_, i) => cycle[i % cycle.length]!);
        return {
          levels,
          text:
            opens.join('') +
            leaf +
            opens
              .map((o) => (o === '[' ? ']' : '}'))
              .reverse()
              .join(''),
        };
      });
  /** Around the limit, or far past it (up to `max`: at most 8 bytes a level, under the body limit). */
  const depth = (max: number) =>
    fc.oneof(
      fc.integer({ min: JSON_DEPTH_LIMIT - 3, max: JSON_DEPTH_LIMIT + 3 }),
      fc.integer({ min: 0, max }),
    );

  it.each(ROUTES)(
    `%s %s: a field nested deeper than ${JSON_DEPTH_LIMIT} levels: 422 naming it, nothing stored (${RUNS} cases)`,
    async (method, template) => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom('payload', 'schemas', 'metadata', 'headers', 'channels', 'secrets', 'extra'),
          nestedText(depth(15_000)),
          fc.boolean(),
          fc.option(fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme-ascii' })),
          async (field, nested, first, key) => {
            const rest = '"eventType":"a.b","name":"x","url":"https://example.com/h","description":"d"';
            const deep = `${JSON.stringify(field)}:${nested.text}`;
            const before = snapshot();
            const res = await api.inject({
              method: method as 'POST',
              url: fill(template, 'real'),
              headers: {
                authorization: `Bearer ${TOKEN}`,
                'content-type': 'application/json',
                ...(key ? { 'idempotency-key': key } : {}),
              },
              payload: first ? `{${deep},${rest}}` : `{${rest},${deep}}`,
            });
            expect(res.statusCode).toBeLessThan(500);
            if (res.statusCode >= 400) {
              checkErrorShape(res.statusCode, res.payload);
              expect(snapshot()).toBe(before);
            }
            if (nested.levels > JSON_DEPTH_LIMIT) {
              expect(res.statusCode).toBe(422);
              expect(JSON.parse(res.payload).detail).toEqual([
                {
                  loc: ['body', field],
                  msg: `${field} nests deeper than ${JSON_DEPTH_LIMIT} levels of arrays and objects`,
                  type: 'value_error.maxDepth',
                },
              ]);
            } else {
              expect(res.payload).not.toContain('maxDepth');
            }
          },
        ),
        { numRuns: RUNS },
      );
    },
    // Cases within the limit are taken and stored, so each later snapshot reads more.
    600_000,
  );

  it(`POST /in/{source}: a JSON body nested deeper than ${JSON_DEPTH_LIMIT} levels is a 422, no message (${RUNS} cases)`, async () => {
    // A gateway request can only add a message and its deliveries: counting those is enough
    // here, and stays cheap once earlier cases have filled the tables.
    const counts = () =>
      db.prepare('SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM deliveries)').raw().get();
    await fc.assert(
      fc.asyncProperty(nestedText(depth(8_000)), async ({ levels, text }) => {
        const before = counts();
        const res = await api.inject({
          method: 'POST',
          url: `/in/${ids.open}`,
          headers: { 'content-type': 'application/json' },
          payload: text,
        });
        if (levels > JSON_DEPTH_LIMIT) {
          expect(res.statusCode).toBe(422);
          expect(JSON.parse(res.payload)).toMatchObject({ code: 'json_too_deep' });
          expect(counts()).toEqual(before);
        } else {
          expect(res.statusCode).toBe(200);
        }
      }),
      { numRuns: RUNS },
    );
  }, 600_000);

  it(`every route of /openapi.json, with adversarial ids and query strings: never a 5xx (${RUNS} cases each)`, async () => {
    const doc = (await api.inject({ url: '/openapi.json' })).json() as { paths: Record<string, object> };
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => [m.toUpperCase(), path] as const),
    );
    expect(routes.length).toBeGreaterThanOrEqual(40);
    const real: Record<string, string> = {
      app_id: ids.app,
      endpoint_id: ids.ep,
      msg_id: ids.msg,
      event_type_name: 'a.b',
      attempt_id: 'atmpt_x',
      source_id: 'src_x',
    };
    const query = fc.dictionary(
      fc.constantFrom(
        'limit',
        'iterator',
        'order',
        'status',
        'status_code_class',
        'event_types',
        'channel',
        'before',
        'after',
        'with_content',
        'expunge',
        'endpoint_id',
        'x',
      ),
      fc.oneof(
        nasty.filter((v) => v.length < 2_000),
        fc.string(),
        fc.integer().map(String),
      ),
      { maxKeys: 4 },
    );
    for (const [method, template] of routes) {
      await fc.assert(
        fc.asyncProperty(pathId, query, body, async (id, q, payload) => {
          // A DELETE with a real id would succeed and change what later cases find.
          const useReal = id === 'real' && method !== 'DELETE';
          const path = template.replace(/\{(\w+)\}/g, (_m, name: string) =>
            useReal ? encodeURIComponent(real[name] ?? 'x') : encodeURIComponent(id === 'real' ? 'none' : id),
          );
          const search = new URLSearchParams(q).toString();
          const before = snapshot();
          const res = await api.inject({
            method: method as 'GET',
            url: search ? `${path}?${search}` : path,
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            ...(method === 'GET' || method === 'DELETE' ? {} : { payload: JSON.stringify(payload ?? null) }),
          });
          expect(res.statusCode, `${method} ${path}?${search}`).toBeLessThan(500);
          if (res.statusCode >= 400) {
            checkErrorShape(res.statusCode, res.payload);
            expect(snapshot()).toBe(before);
          }
        }),
        { numRuns: RUNS },
      );
    }
  }, 600_000);

  it('answers malformed JSON with 400, a wrong content type with 415, too large with 413', async () => {
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const before = snapshot();
    const bad = await api.inject({ method: 'POST', url: '/api/v1/app', headers, payload: '{"name": "x",' });
    expect(bad.statusCode).toBe(400);
    const text = await api.inject({
      method: 'POST',
      url: '/api/v1/app',
      headers: { ...headers, 'content-type': 'text/plain' },
      payload: 'name=x',
    });
    expect(text.statusCode).toBe(415);
    const huge = await api.inject({
      method: 'POST',
      url: `/api/v1/app/${ids.app}/msg`,
      headers,
      payload: JSON.stringify({ eventType: 'a.b', payload: { blob: 'x'.repeat(200 * 1024) } }),
    });
    expect(huge.statusCode).toBe(413);
    const justOver = await api.inject({
      method: 'POST',
      url: `/api/v1/app/${ids.app}/msg`,
      headers,
      payload: JSON.stringify({ eventType: 'a.b', payload: { blob: 'x'.repeat(64 * 1024) } }),
    });
    expect(justOver.statusCode).toBe(413);
    expect(JSON.parse(justOver.payload).code).toBe('payload_too_large');
    expect(snapshot()).toBe(before);
  });

  it('names the missing or mistyped field', async () => {
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const missing = await api.inject({
      method: 'POST',
      url: `/api/v1/app/${ids.app}/endpoint`,
      headers,
      payload: '{}',
    });
    expect(missing.statusCode).toBe(422);
    expect(JSON.parse(missing.payload).detail[0].loc).toEqual(['body', 'url']);
    const typed = await api.inject({
      method: 'POST',
      url: `/api/v1/app/${ids.app}/msg`,
      headers,
      payload: JSON.stringify({ eventType: 'a.b', payload: 'not an object' }),
    });
    expect(typed.statusCode).toBe(422);
    expect(JSON.parse(typed.payload).detail[0].loc).toEqual(['body', 'payload']);
    const limit = await api.inject({ method: 'GET', url: '/api/v1/app?limit=1000', headers });
    expect(limit.statusCode).toBe(422);
    expect(JSON.stringify(JSON.parse(limit.payload).detail)).toContain('limit');
  });

  it('answers unknown ids with 404 on every read route', async () => {
    const headers = { authorization: `Bearer ${TOKEN}` };
    for (const url of [
      '/api/v1/app/app_nope',
      `/api/v1/app/${ids.app}/endpoint/ep_nope`,
      `/api/v1/app/${ids.app}/endpoint/ep_nope/secret`,
      `/api/v1/app/${ids.app}/endpoint/ep_nope/headers`,
      `/api/v1/app/${ids.app}/endpoint/ep_nope/stats`,
      `/api/v1/app/${ids.app}/msg/msg_nope`,
      `/api/v1/app/${ids.app}/attempt/msg/msg_nope`,
      `/api/v1/app/${ids.app}/attempt/endpoint/ep_nope`,
      `/api/v1/app/${ids.app}/msg/${ids.msg}/attempt/atmpt_nope`,
      '/api/v1/event-type/nope',
      '/api/v1/no/such/route',
    ]) {
      const res = await api.inject({ method: 'GET', url, headers });
      expect(res.statusCode, url).toBe(404);
      expect(JSON.parse(res.payload).code).toBe('not_found');
    }
  });
});

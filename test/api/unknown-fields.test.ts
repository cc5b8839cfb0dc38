/**
 * A field Herald accepts is honoured, or refused with 422 naming it: never silently ignored.
 * Every request body of /openapi.json refuses a field it does not know ("not a known
 * field"), and every field the official svix SDK can send (read from the SDK's own
 * serialisers, so an SDK upgrade that adds one fails here) is either modelled by Herald or
 * refused as "not supported by Herald". A refused request stores nothing, on either backend.
 */
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { UNSUPPORTED_KEYWORD, type Unsupported } from '../../src/api/schemas.js';
import { buildApi } from '../../src/api/server.js';
import { OPERATIONAL_APP_ID } from '../../src/core/operational.js';
import type { Store } from '../../src/store/store.js';
import { openTestStore, RECORD_TABLES, type TestStore } from '../store-under-test.js';

const TOKEN = 'unknown-fields-admin';
const HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
let opened: TestStore;
let store: Store;
let api: FastifyInstance;
let doc: {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
};

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  [UNSUPPORTED_KEYWORD]?: Unsupported;
}

beforeAll(async () => {
  opened = await openTestStore('fields');
  store = opened.store;
  await store.saveToken(hashToken(TOKEN), null);
  const app = await store.createApplication({ name: 'Fields', uid: 'fields' });
  await store.createEndpoint(app.id, { url: 'http://127.0.0.1:9/hook', uid: 'ep' });
  await store.createEndpoint(OPERATIONAL_APP_ID, { url: 'http://127.0.0.1:9/ops', uid: 'ep' });
  await store.upsertEventType({ name: 'a.b', description: 'x' });
  const src = await store.createSource({ name: 'S', provider: 'none', secrets: [], appId: app.id });
  // No dispatcher runs: a message accepted here is stored and never sent.
  api = await buildApi({ store });
  doc = (await api.inject({ url: '/openapi.json' })).json();
  VALID['/api/v1/source/{source_id}'] = { patch: { name: 'S2' } };
  SOURCE_ID = src.id;
});

afterAll(async () => {
  await api.close();
  await opened.close();
});

let SOURCE_ID = '';

/** Event types created by name: each creation takes a new name (a live one answers 409). */
let fresh = 0;

/** A body each route takes, keyed by the path of /openapi.json and the method. */
const VALID: Record<string, Record<string, Record<string, unknown>>> = {
  '/api/v1/app': { post: { name: 'A' } },
  '/api/v1/app/{app_id}': { put: { name: 'Fields', uid: 'fields' }, patch: { name: 'Fields' } },
  '/api/v1/event-type': {
    get post() {
      return { name: `fresh.${++fresh}`, description: 'x' };
    },
  },
  '/api/v1/event-type/import/openapi': {
    post: {
      spec: {
        openapi: '3.1.0',
        info: { title: 't', version: '1' },
        webhooks: { 'imported.type': { post: {} } },
      },
    },
  },
  '/api/v1/event-type/{event_type_name}': { put: { description: 'x' }, patch: { description: 'x' } },
  '/api/v1/app/{app_id}/endpoint': { post: { url: 'http://127.0.0.1:9/other' } },
  '/api/v1/app/{app_id}/endpoint/{endpoint_id}': {
    put: { url: 'http://127.0.0.1:9/hook', uid: 'ep' },
    patch: { description: 'd' },
  },
  '/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers': { put: { headers: {} }, patch: { headers: {} } },
  '/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate': { post: {} },
  '/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover': { post: { since: new Date().toISOString() } },
  '/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing': { post: { since: '2026-01-01T00:00:00Z' } },
  '/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay': { post: { since: '2026-01-01T00:00:00Z' } },
  '/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example': { post: { eventType: 'a.b' } },
  '/api/v1/app/{app_id}/msg': { post: { eventType: 'a.b', payload: {} } },
  '/api/v1/app/{app_id}/msg/precheck/active': { post: { eventType: 'a.b' } },
  '/api/v1/auth/app-portal-access/{app_id}': { post: {} },
  '/api/v1/auth/app/{app_id}/expire-all': { post: {} },
  '/api/v1/source': { post: { name: 'S', provider: 'none', appId: 'fields' } },
  '/api/v1/operational-webhook/endpoint': { post: { url: 'http://127.0.0.1:9/ops2' } },
  '/api/v1/operational-webhook/endpoint/{endpoint_id}': { put: { url: 'http://127.0.0.1:9/ops', uid: 'ep' } },
  '/api/v1/operational-webhook/endpoint/{endpoint_id}/headers': {
    put: { headers: {} },
    patch: { headers: {} },
  },
  '/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate': { post: {} },
};

/** Routes the svix SDK calls, with the SDK model it sends (svix/dist/models/<model>). */
const SVIX_MODELS: [method: string, path: string, model: string][] = [
  ['post', '/api/v1/app', 'applicationIn'],
  ['put', '/api/v1/app/{app_id}', 'applicationIn'],
  ['patch', '/api/v1/app/{app_id}', 'applicationPatch'],
  ['post', '/api/v1/event-type', 'eventTypeIn'],
  ['put', '/api/v1/event-type/{event_type_name}', 'eventTypeUpdate'],
  ['patch', '/api/v1/event-type/{event_type_name}', 'eventTypePatch'],
  ['post', '/api/v1/app/{app_id}/endpoint', 'endpointIn'],
  ['put', '/api/v1/app/{app_id}/endpoint/{endpoint_id}', 'endpointUpdate'],
  ['patch', '/api/v1/app/{app_id}/endpoint/{endpoint_id}', 'endpointPatch'],
  ['put', '/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers', 'endpointHeadersIn'],
  ['patch', '/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers', 'endpointHeadersPatchIn'],
  ['post', '/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate', 'endpointSecretRotateIn'],
  ['post', '/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover', 'recoverIn'],
  ['post', '/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing', 'replayIn'],
  ['post', '/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay', 'bulkReplayIn'],
  ['post', '/api/v1/event-type/import/openapi', 'eventTypeImportOpenApiIn'],
  ['post', '/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example', 'eventExampleIn'],
  ['post', '/api/v1/app/{app_id}/msg', 'messageIn'],
  ['post', '/api/v1/app/{app_id}/msg/precheck/active', 'messagePrecheckIn'],
  ['post', '/api/v1/auth/app-portal-access/{app_id}', 'appPortalAccessIn'],
  ['post', '/api/v1/auth/app/{app_id}/expire-all', 'applicationTokenExpireIn'],
  ['post', '/api/v1/operational-webhook/endpoint', 'operationalWebhookEndpointIn'],
  ['put', '/api/v1/operational-webhook/endpoint/{endpoint_id}', 'operationalWebhookEndpointUpdate'],
  [
    'put',
    '/api/v1/operational-webhook/endpoint/{endpoint_id}/headers',
    'operationalWebhookEndpointHeadersIn',
  ],
  [
    'post',
    '/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate',
    'operationalWebhookEndpointSecretIn',
  ],
];

const require = createRequire(import.meta.url);

/** The fields the SDK's serialiser of `model` writes: every key it can send. */
function svixFields(model: string): string[] {
  const name = `${model[0]!.toUpperCase()}${model.slice(1)}Serializer`;
  const module = require(`svix/dist/models/${model}`) as Record<
    string,
    { _toJsonObject(value: object): object }
  >;
  return Object.keys(module[name]!._toJsonObject({}));
}

function url(path: string): string {
  return path
    .replace('{app_id}', 'fields')
    .replace('{endpoint_id}', 'ep')
    .replace('{event_type_name}', 'a.b')
    .replace('{source_id}', SOURCE_ID);
}

function bodySchema(method: string, path: string): Schema {
  const schema = doc.paths[path]?.[method]?.requestBody?.content['application/json']?.schema;
  if (!schema) throw new Error(`${method} ${path} has no JSON body in /openapi.json`);
  return schema;
}

/** Everything stored, to compare before and after a refused request. */
function snapshot(): Promise<string> {
  return opened.snapshot([...RECORD_TABLES, 'idempotency_keys']);
}

async function send(method: string, path: string, body: unknown) {
  const res = await api.inject({
    method: method.toUpperCase() as 'POST',
    url: url(path),
    headers: HEADERS,
    payload: JSON.stringify(body),
  });
  // A recover or replay accepted here goes on as a background task: let it end, so that
  // what a later refused request is compared with does not change under it.
  await api.tasks.idle();
  return res;
}

/** Sends `body`, expects 422 with one issue at `loc` whose message contains `says`, and nothing stored. */
async function refused(method: string, path: string, body: unknown, loc: string[], says: string) {
  const before = await snapshot();
  const res = await send(method, path, body);
  expect(res.statusCode, `${method} ${path} ${res.payload}`).toBe(422);
  const detail = res.json().detail as { loc: string[]; msg: string }[];
  expect(detail, res.payload).toHaveLength(1);
  expect(detail[0]!.loc).toEqual(loc);
  expect(detail[0]!.msg).toContain(says);
  expect(await snapshot()).toBe(before);
  return detail[0]!;
}

/** Where each body of /openapi.json leaves objects open: `a.b`, `[]` for items, `*` for a map's values. */
function openObjects(schema: Schema, at = ''): string[] {
  const here =
    schema.type === 'object' && schema.properties !== undefined && schema.additionalProperties !== false
      ? [at || '(body)']
      : [];
  return [
    ...here,
    ...Object.entries(schema.properties ?? {}).flatMap(([k, s]) => openObjects(s, at ? `${at}.${k}` : k)),
    // A map (metadata, headers, schemas) is `additionalProperties: <schema>` in the document.
    ...(typeof schema.additionalProperties === 'object'
      ? openObjects(schema.additionalProperties, `${at}.*`)
      : []),
    ...(schema.items ? openObjects(schema.items, `${at}[]`) : []),
    ...(schema.anyOf ?? []).flatMap((s) => openObjects(s, at)),
  ];
}

describe('every request body', () => {
  it('is listed here with a body it takes', () => {
    const withBody = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => op.requestBody?.content['application/json'])
        .map(([method]) => `${method} ${path}`),
    );
    const listed = Object.entries(VALID).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m} ${path}`),
    );
    expect(withBody.sort()).toEqual(listed.sort());
  });

  it('takes its valid body', async () => {
    for (const [path, ops] of Object.entries(VALID)) {
      for (const [method, body] of Object.entries(ops)) {
        const res = await send(method, path, body);
        expect(res.statusCode, `${method} ${path} ${res.payload}`).toBeLessThan(300);
      }
    }
  });

  it('is closed everywhere except payloads and JSON Schemas, which stay open', () => {
    const open = Object.entries(VALID).flatMap(([path, ops]) =>
      Object.keys(ops).flatMap((method) =>
        openObjects(bodySchema(method, path)).map((at) => `${method} ${path} ${at}`),
      ),
    );
    expect(open.sort()).toEqual(
      [
        'post /api/v1/app/{app_id}/msg payload',
        'post /api/v1/event-type schemas.*',
        'post /api/v1/event-type schemas.*.examples[]',
        'post /api/v1/event-type/import/openapi spec',
        'put /api/v1/event-type/{event_type_name} schemas.*',
        'put /api/v1/event-type/{event_type_name} schemas.*.examples[]',
        'patch /api/v1/event-type/{event_type_name} schemas.*',
        'patch /api/v1/event-type/{event_type_name} schemas.*.examples[]',
      ].sort(),
    );
  });

  it('refuses a field it does not know with 422 naming it, and stores nothing', async () => {
    for (const [path, ops] of Object.entries(VALID)) {
      for (const [method, body] of Object.entries(ops)) {
        const issue = await refused(
          method,
          path,
          { ...body, notAField: 1 },
          ['body', 'notAField'],
          'notAField is not a known field',
        );
        expect(issue).toMatchObject({ type: 'value_error.additionalProperties' });
      }
    }
  });

  it('refuses an unknown field inside a closed object too', async () => {
    const body = { eventType: 'a.b', payload: {}, application: { name: 'New', notAField: 1 } };
    await refused(
      'post',
      '/api/v1/app/{app_id}/msg',
      body,
      ['body', 'application', 'notAField'],
      'not a known',
    );
  });

  it('keeps payloads, metadata and JSON Schemas open to any key', async () => {
    const msg = await send('post', '/api/v1/app/{app_id}/msg', {
      eventType: 'a.b',
      payload: { anything: { at: ['all'] }, notAField: 1 },
    });
    expect(msg.statusCode).toBe(202);
    expect(msg.json().payload).toEqual({ anything: { at: ['all'] }, notAField: 1 });
    const app = await send('patch', '/api/v1/app/{app_id}', { metadata: { anyKey: 'v' } });
    expect(app.json().metadata).toEqual({ anyKey: 'v' });
    const schemas = { '1': { type: 'object', required: ['id'], 'x-own': true, examples: [{ id: 1 }] } };
    const type = await send('patch', '/api/v1/event-type/{event_type_name}', { schemas });
    expect(type.json().schemas).toEqual(schemas);
  });
});

describe('fields of the svix SDK', () => {
  it.each(SVIX_MODELS)(
    '%s %s (%s): each is honoured or refused as unsupported',
    async (method, path, model) => {
      const properties = bodySchema(method, path).properties ?? {};
      const fields = svixFields(model);
      expect(fields.length).toBeGreaterThan(0);
      // Named in Herald's schema: modelled, or marked unsupported (never "not a known field").
      expect(Object.keys(properties)).toEqual(expect.arrayContaining(fields));
      for (const field of fields) {
        const spec = properties[field]?.[UNSUPPORTED_KEYWORD];
        if (!spec) continue;
        const body = { ...VALID[path]![method]!, [field]: 'not-what-herald-does' };
        const issue = await refused(
          method,
          path,
          body,
          ['body', field],
          `${field} is not supported by Herald`,
        );
        expect(issue.msg).toContain(spec.instead);
        // What Herald does anyway may be said (version 1, deprecated false, exampleIndex 0).
        for (const value of spec.accepts) {
          const res = await send(method, path, { ...VALID[path]![method]!, [field]: value });
          expect(res.statusCode, `${field}: ${JSON.stringify(value)} ${res.payload}`).toBeLessThan(300);
        }
      }
    },
  );

  it('the application a message creates: its rate is refused, not dropped', async () => {
    const fields = svixFields('applicationIn');
    const inline = bodySchema('post', '/api/v1/app/{app_id}/msg').properties?.application?.anyOf?.[0];
    expect(Object.keys(inline?.properties ?? {})).toEqual(expect.arrayContaining(fields));
    for (const field of ['throttleRate', 'rateLimit']) {
      const body = { eventType: 'a.b', payload: {}, application: { name: 'New', [field]: 5 } };
      await refused(
        'post',
        '/api/v1/app/{app_id}/msg',
        body,
        ['body', 'application', field],
        `application.${field} is not supported by Herald`,
      );
    }
  });

  it('lists what is not supported as such in /openapi.json', () => {
    const unsupported = SVIX_MODELS.flatMap(([method, path]) =>
      Object.entries(bodySchema(method, path).properties ?? {})
        .filter(([, s]) => s[UNSUPPORTED_KEYWORD])
        .map(([field]) => `${method} ${path} ${field}`),
    );
    // The list a reader of the README can check: every Svix field Herald does not honour.
    expect(new Set(unsupported.map((u) => u.split(' ').at(-1)))).toEqual(
      new Set([
        'featureFlags',
        'groupName',
        'version',
        'secret',
        'deleteHeaders',
        'exampleIndex',
        'transformationsParams',
      ]),
    );
  });
});

describe('every query string', () => {
  it.each([
    ['GET', '/api/v1/app/fields/endpoint/ep/stats?from=2026-01-01T00:00:00Z', 'from'],
    ['GET', '/api/v1/app/fields?expand=true', 'expand'],
    ['GET', '/api/v1/app/fields/endpoint/ep/secret?reveal=1', 'reveal'],
    ['DELETE', '/api/v1/event-type/a.b?force=true', 'force'],
  ])(
    '%s %s: a parameter the route does not know is a 422 naming it, and nothing changes',
    async (method, path, name) => {
      const before = await snapshot();
      const res = await api.inject({
        method: method as 'GET',
        url: path,
        headers: { authorization: HEADERS.authorization },
      });
      expect(res.statusCode, res.payload).toBe(422);
      expect(res.json().detail).toEqual([expect.objectContaining({ loc: ['query', name] })]);
      expect(await snapshot()).toBe(before);
    },
  );
});

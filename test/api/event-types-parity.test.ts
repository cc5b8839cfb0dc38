/**
 * Event types as Svix has them, through the official `svix` SDK against a real server:
 * creating a live name is a 409 (an archived one is revived), `deprecated` and `featureFlag`
 * are kept, and `POST /api/v1/event-type/import/openapi` reads an OpenAPI 3.1 document's
 * `webhooks`, with dry runs, `replaceAll`, and a clear 422 for a document it cannot read.
 */
import type { FastifyInstance } from 'fastify';
import { type ApiException, Svix } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { openTestStore, type TestStore } from '../store-under-test.js';
import { failure } from './svix-calls.js';

const ADMIN = 'event-types-parity-admin';
let testStore: TestStore;
let api: FastifyInstance;
let svix: Svix;
let url: string;

beforeAll(async () => {
  testStore = await openTestStore('event-types-parity');
  await testStore.store.saveToken(hashToken(ADMIN), null);
  api = await buildApi({ store: testStore.store });
  url = await api.listen({ port: 0, host: '127.0.0.1' });
  svix = new Svix(ADMIN, { serverUrl: url });
});

afterAll(async () => {
  await api.close();
  await testStore.close();
});

/** The loc of a 422's first issue, as a dotted path after `body`. */
function locOf(error: ApiException<unknown>): string {
  expect(error.code).toBe(422);
  const detail = (error.body as { detail: { loc: string[] }[] }).detail;
  return detail[0]!.loc.slice(1).join('.');
}

describe('creating event types', () => {
  it("refuses a name starting with '-', which a page's iterator would read as going back, through create, PUT and import", async () => {
    const created = await failure(svix.eventType.create({ name: '-x', description: 'd' }));
    expect(locOf(created)).toBe('name');
    expect((await failure(svix.eventType.update('-y', { description: 'd' }))).code).toBe(422);
    const imported = await failure(
      svix.eventType.importOpenapi({
        spec: { openapi: '3.1.0', info: { title: 't', version: '1' }, webhooks: { '-z': { post: {} } } },
      }),
    );
    expect(imported.code).toBe(422);
    expect((await svix.eventType.list({ limit: 250 })).data.map((e) => e.name)).not.toContain('-x');
  });

  it('a live name answers 409 and changes nothing; an archived one is revived with the new fields', async () => {
    const first = await svix.eventType.create({ name: 'order.paid', description: 'first' });
    expect(first).toMatchObject({
      name: 'order.paid',
      description: 'first',
      archived: false,
      deprecated: false,
    });
    const again = await failure(svix.eventType.create({ name: 'order.paid', description: 'second' }));
    expect(again.code).toBe(409);
    expect((await svix.eventType.get('order.paid')).description).toBe('first');

    await svix.eventType.delete('order.paid'); // archives
    expect((await svix.eventType.get('order.paid')).archived).toBe(true);
    const revived = await svix.eventType.create({
      name: 'order.paid',
      description: 'revived',
      deprecated: true,
    });
    expect(revived).toMatchObject({ description: 'revived', archived: false, deprecated: true });
  });

  it('keeps deprecated and featureFlag through create, update, patch, get and list', async () => {
    const made = await svix.eventType.create({
      name: 'user.beta',
      description: 'behind a flag',
      deprecated: true,
      featureFlag: 'beta-users',
    });
    expect(made).toMatchObject({ deprecated: true, featureFlag: 'beta-users' });
    expect(await svix.eventType.get('user.beta')).toMatchObject({
      deprecated: true,
      featureFlag: 'beta-users',
    });
    const patched = await svix.eventType.patch('user.beta', { deprecated: false });
    expect(patched).toMatchObject({ deprecated: false, featureFlag: 'beta-users' });
    const unflagged = await svix.eventType.patch('user.beta', { featureFlag: null });
    expect(unflagged.featureFlag).toBeNull();
    const updated = await svix.eventType.update('user.beta', {
      description: 'again',
      featureFlag: 'beta-2',
      deprecated: true,
    });
    expect(updated).toMatchObject({ description: 'again', featureFlag: 'beta-2', deprecated: true });
    const listed = (await svix.eventType.list({ limit: 250 })).data.find((e) => e.name === 'user.beta');
    expect(listed).toMatchObject({ deprecated: true, featureFlag: 'beta-2' });
  });

  it('refuses a featureFlag that is not a name, with 422 naming it', async () => {
    for (const featureFlag of ['has space', 'x'.repeat(257), '']) {
      const bad = await failure(svix.eventType.create({ name: 'flag.bad', description: 'x', featureFlag }));
      expect(locOf(bad)).toBe('featureFlag');
    }
    expect((await failure(svix.eventType.get('flag.bad'))).code).toBe(404);
  });

  it('hides a flagged event type from application tokens, which carry no flags', async () => {
    await svix.eventType.create({ name: 'flagged.only', description: 'x', featureFlag: 'secret-feature' });
    await svix.eventType.create({ name: 'open.for.all', description: 'x' });
    const app = await svix.application.create({ name: 'Portal' });
    const portal = await svix.authentication.appPortalAccess(app.id, {});
    const consumer = new Svix(portal.token, { serverUrl: url });
    const names = (await consumer.eventType.list({ limit: 250 })).data.map((e) => e.name);
    expect(names).toContain('open.for.all');
    expect(names).not.toContain('flagged.only');
    expect((await failure(consumer.eventType.get('flagged.only'))).code).toBe(404);
    expect((await svix.eventType.get('flagged.only')).featureFlag).toBe('secret-feature');
  });
});

/** An OpenAPI 3.1 document with two webhooks, one of them by $ref, with an example. */
const SPEC = {
  openapi: '3.1.0',
  info: { title: 'Shop webhooks', version: '1.0.0' },
  webhooks: {
    'invoice.paid': {
      post: {
        summary: 'An invoice was paid',
        requestBody: {
          content: {
            'application/json': {
              schema: { $ref: '#/components/schemas/Invoice' },
              example: { invoiceId: 'inv_1', amount: 10 },
            },
          },
        },
      },
    },
    'invoice.voided': {
      post: {
        description: 'An invoice was voided',
        deprecated: true,
        'x-svix-feature-flag': 'voids',
        requestBody: { content: { 'application/json': { schema: { type: 'object' } } } },
      },
    },
  },
  components: {
    schemas: {
      Invoice: {
        type: 'object',
        properties: { invoiceId: { type: 'string' }, amount: { $ref: '#/components/schemas/Amount' } },
        required: ['invoiceId'],
      },
      Amount: { type: 'integer', minimum: 0 },
    },
  },
};

describe('POST /api/v1/event-type/import/openapi', () => {
  it('a dry run says what would change and changes nothing', async () => {
    const out = await svix.eventType.importOpenapi({ spec: SPEC, dryRun: true });
    expect(out.data.modified.sort()).toEqual(['invoice.paid', 'invoice.voided']);
    expect(out.data.toModify?.map((e) => e.name).sort()).toEqual(['invoice.paid', 'invoice.voided']);
    expect((await failure(svix.eventType.get('invoice.paid'))).code).toBe(404);
  });

  it('imports each webhook as an event type: description, deprecated, flag, schema with $refs resolved and examples', async () => {
    const out = await svix.eventType.importOpenapi({ spec: SPEC });
    expect(out.data.modified.sort()).toEqual(['invoice.paid', 'invoice.voided']);
    const paid = await svix.eventType.get('invoice.paid');
    expect(paid).toMatchObject({ description: 'An invoice was paid', deprecated: false, archived: false });
    expect(paid.schemas).toEqual({
      '1': {
        type: 'object',
        properties: { invoiceId: { type: 'string' }, amount: { type: 'integer', minimum: 0 } },
        required: ['invoiceId'],
        examples: [{ invoiceId: 'inv_1', amount: 10 }],
      },
    });
    expect(await svix.eventType.get('invoice.voided')).toMatchObject({
      description: 'An invoice was voided',
      deprecated: true,
      featureFlag: 'voids',
    });
    // The same document again changes nothing.
    expect((await svix.eventType.importOpenapi({ spec: SPEC })).data.modified).toEqual([]);
    // Its example is what send-example sends.
    const app = await svix.application.create({ name: 'Imported' });
    const ep = await svix.endpoint.create(app.id, { url: 'http://127.0.0.1:9/hook' });
    const msg = await svix.endpoint.sendExample(app.id, ep.id, { eventType: 'invoice.paid' });
    expect(msg.payload).toEqual({ invoiceId: 'inv_1', amount: 10 });
  });

  it('specRaw takes the document as JSON text; replaceAll archives the event types it does not name', async () => {
    await svix.eventType.create({ name: 'legacy.event', description: 'old' });
    const only = { ...SPEC, webhooks: { 'invoice.paid': SPEC.webhooks['invoice.paid'] } };
    const out = await svix.eventType.importOpenapi({ specRaw: JSON.stringify(only), replaceAll: true });
    expect(out.data.modified).toContain('legacy.event');
    expect(out.data.modified).toContain('invoice.voided');
    expect(out.data.modified).not.toContain('invoice.paid');
    expect((await svix.eventType.get('legacy.event')).archived).toBe(true);
    expect((await svix.eventType.get('invoice.voided')).archived).toBe(true);
    expect((await svix.eventType.get('invoice.paid')).archived).toBe(false);
  });

  it('refuses a document it cannot read with 422 naming where, and imports nothing', async () => {
    const before = await testStore.snapshot(['event_types']);
    const hook = (post: unknown) => ({ ...SPEC, webhooks: { 'bad.one': { post } } });
    const cases: [Record<string, unknown>, string][] = [
      [{ specRaw: 'openapi: 3.1.0\nwebhooks: {}' }, 'specRaw'],
      [{ spec: { ...SPEC, openapi: '3.0.3' } }, 'spec.openapi'],
      [{ spec: { openapi: '3.1.0', info: {} } }, 'spec.webhooks'],
      [{ spec: { ...SPEC, webhooks: { 'bad name': { post: {} } } } }, 'spec.webhooks.bad name'],
      [{ spec: { ...SPEC, webhooks: { 'no.post': { get: {} } } } }, 'spec.webhooks.no.post'],
      [
        {
          spec: hook({
            requestBody: {
              content: { 'application/json': { schema: { $ref: 'https://example.com/s.json' } } },
            },
          }),
        },
        'spec.webhooks.bad.one.post.requestBody.content.application/json.schema',
      ],
      [
        {
          spec: {
            ...hook({
              requestBody: {
                content: { 'application/json': { schema: { $ref: '#/components/schemas/Loop' } } },
              },
            }),
            components: {
              schemas: {
                Loop: { type: 'object', properties: { next: { $ref: '#/components/schemas/Loop' } } },
              },
            },
          },
        },
        'spec.webhooks.bad.one.post.requestBody.content.application/json.schema.properties.next',
      ],
      [
        {
          spec: hook({
            requestBody: { content: { 'application/json': { schema: { type: 'object' }, example: 'text' } } },
          }),
        },
        'spec.webhooks.bad.one.post.requestBody',
      ],
      [{ spec: SPEC, specRaw: JSON.stringify(SPEC) }, 'specRaw'],
      [{}, 'spec'],
    ];
    for (const [body, loc] of cases) {
      const res = await fetch(`${url}/api/v1/event-type/import/openapi`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      expect(res.status, text).toBe(422);
      expect(JSON.parse(text).detail[0].loc, text).toEqual(['body', ...loc.split('.')].flat());
    }
    expect(await testStore.snapshot(['event_types'])).toBe(before);
  });

  it('is for admin tokens only', async () => {
    const app = await svix.application.create({ name: 'NoImport' });
    const portal = await svix.authentication.appPortalAccess(app.id, {});
    const consumer = new Svix(portal.token, { serverUrl: url });
    expect((await failure(consumer.eventType.importOpenapi({ spec: SPEC }))).code).toBe(403);
  });
});

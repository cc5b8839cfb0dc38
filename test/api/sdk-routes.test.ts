/**
 * No route the svix SDK calls answers a bare 404: every method of every resource of the SDK
 * (svix/dist/api) is called with dummy arguments against a real server, and each request is
 * either taken by a route (its own answer: 200, 404 for the dummy id, 422, …) or answered 501
 * `not_implemented` naming what is not built and where it is planned. The 501s come from the
 * not-found handler, so a route registered for one of them takes over.
 */
import type { FastifyInstance } from 'fastify';
import { ApiException, Svix } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callEverySdkMethod, type SdkCall, sdkTemplates } from '../../scripts/sdk-calls.js';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'sdk-routes-admin';
let testStore: TestStore;
let api: FastifyInstance;
let base: string;
let calls: SdkCall[];

beforeAll(async () => {
  testStore = await openTestStore('sdk_routes');
  await testStore.store.saveToken(hashToken(ADMIN), null);
  api = await buildApi({ store: testStore.store });
  base = await api.listen({ port: 0, host: '127.0.0.1' });
  calls = await callEverySdkMethod(base, ADMIN);
});

afterAll(async () => {
  await api?.close();
  await testStore?.close();
});

describe('every svix SDK method', () => {
  it('was called, and every request template of svix/dist/api was reached', () => {
    expect(calls.length).toBeGreaterThan(100);
    const reached = new Set(calls.map((c) => `${c.http} ${c.template.split('?')[0]}`));
    const missed = sdkTemplates()
      .map((t) => `${t.http} ${t.template}`)
      .filter((t) => !reached.has(t));
    expect(missed).toEqual([]);
  });

  it('meets a route or a 501 naming what is not built, never a bare 404', () => {
    const bare = calls.filter((c) => c.status === 404 && (c.detail ?? '').startsWith('no route'));
    expect(bare.map((c) => `${c.name}: ${c.http} ${c.template}`)).toEqual([]);
    const unbuilt = calls.filter((c) => c.status === 501);
    expect(unbuilt.length).toBeGreaterThan(0);
    for (const c of unbuilt) {
      expect(c.code, c.name).toBe('not_implemented');
      expect(c.detail, c.name).toMatch(/ is not built in Herald: .+, (planned in .+|not planned)$/);
    }
    // Nothing else answers 5xx to a well-formed call.
    expect(calls.filter((c) => c.status >= 500 && c.status !== 501).map((c) => c.name)).toEqual([]);
  });

  it('transformations answer 501 pointing at their issue; operational webhooks are built', () => {
    const of = (name: string) => calls.find((c) => c.name === name)!;
    expect(of('operationalWebhookEndpoint.list')).toMatchObject({ status: 200 });
    expect(of('endpoint.transformationGet')).toMatchObject({ status: 501 });
    expect(of('endpoint.transformationGet').detail).toContain('transformations issue');
    expect(of('statistics.aggregateAppStats')).toMatchObject({ status: 501 });
    expect(of('statistics.aggregateEventTypes')).toMatchObject({
      http: 'PUT',
      template: '/api/v1/stats/usage/event-types',
      status: 501,
    });
  });

  it('the SDK raises the 501 as an ApiException whose body says what is missing', async () => {
    const svix = new Svix(ADMIN, { serverUrl: base, retryScheduleInMs: [] });
    const error = await svix.environment.export().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiException);
    expect((error as ApiException<string>).code).toBe(501);
    expect(JSON.parse((error as ApiException<string>).body)).toEqual({
      code: 'not_implemented',
      detail:
        'POST /api/v1/environment/export is not built in Herald: environment export and import, not planned',
    });
  });
});

describe('the 501 fallback', () => {
  it('gives way to a route registered for the same path, and leaves other paths a 404', async () => {
    const withTasks = await buildApi({ store: testStore.store });
    withTasks.get('/api/v1/environment/export', async () => ({ data: [], done: true }));
    try {
      const built = await withTasks.inject({ url: '/api/v1/environment/export' });
      expect(built.statusCode).toBe(200);
      expect(built.json()).toEqual({ data: [], done: true });
      expect((await withTasks.inject({ url: '/api/v1/environment/import' })).statusCode).toBe(501);
      const other = await withTasks.inject({ url: '/api/v1/no-such-thing' });
      expect(other.statusCode).toBe(404);
      expect(other.json()).toEqual({ code: 'not_found', detail: 'no route GET /api/v1/no-such-thing' });
    } finally {
      await withTasks.close();
    }
  });
});

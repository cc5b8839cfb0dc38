/**
 * Health per component (200, or 503 naming what is down, as the OSS Svix server answers) and
 * CORS on /api/v1 (any origin by default, or those of --cors-origin; never credentials), on
 * real servers over the store under test.
 */
import type { FastifyInstance } from 'fastify';
import { ApiException, Svix } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { startHerald } from '../serve.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'health-cors-admin';
let testStore: TestStore;
let api: FastifyInstance;
let base: string;

beforeAll(async () => {
  testStore = await openTestStore('health_cors');
  await testStore.store.saveToken(hashToken(ADMIN), null);
  api = await buildApi({ store: testStore.store });
  base = await api.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await api?.close();
  await testStore?.close();
});

describe('health', () => {
  it('answers 200 with each component, without a token; ping answers 204', async () => {
    const res = await fetch(`${base}/api/v1/health`);
    expect(res.status).toBe(200);
    // No dispatcher runs beside an API built alone (as with --role api).
    expect(await res.json()).toEqual({ database: { status: 'ok' }, dispatcher: { status: 'notapplicable' } });
    expect((await fetch(`${base}/api/v1/health`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${base}/api/v1/health/ping`)).status).toBe(204);
    await new Svix('no-token-needed', { serverUrl: base }).health.get();
  });

  it('answers 503 naming the database when it is down, and the SDK hears the 503', async () => {
    const store = await testStore.reopen();
    const down = await buildApi({ store });
    const url = await down.listen({ port: 0, host: '127.0.0.1' });
    try {
      expect((await fetch(`${url}/api/v1/health`)).status).toBe(200);
      await store[Symbol.asyncDispose]();
      const res = await fetch(`${url}/api/v1/health`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { database: { status: string; detail: string } };
      expect(body).toMatchObject({ database: { status: 'error' }, dispatcher: { status: 'notapplicable' } });
      expect(body.database.detail).toContain('database');
      // ping says only that the process serves HTTP.
      expect((await fetch(`${url}/api/v1/health/ping`)).status).toBe(204);
      const sdk = new Svix('x', { serverUrl: url, retryScheduleInMs: [] });
      const error = await sdk.health.get().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ApiException);
      expect((error as ApiException<unknown>).code).toBe(503);
    } finally {
      await down.close();
    }
  });

  it('herald serve with both roles reports its dispatcher ok', async () => {
    const both = await startHerald();
    try {
      expect(await (await fetch(`${both.url}/api/v1/health`)).json()).toEqual({
        database: { status: 'ok' },
        dispatcher: { status: 'ok' },
      });
    } finally {
      expect(await both.stop()).toBe(0);
    }
  });

  it('herald serve --role api reports no dispatcher (notapplicable), and is healthy', async () => {
    const apiOnly = await startHerald(['--role', 'api']);
    try {
      const res = await fetch(`${apiOnly.url}/api/v1/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        database: { status: 'ok' },
        dispatcher: { status: 'notapplicable' },
      });
    } finally {
      expect(await apiOnly.stop()).toBe(0);
    }
  });
});

const preflight = (url: string, origin: string, headers = 'authorization, content-type, idempotency-key') =>
  fetch(`${url}/api/v1/app`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
  });

describe('CORS', () => {
  it('answers a preflight from any origin by default, allowing the methods and the headers asked for', async () => {
    const res = await preflight(base, 'https://any.example');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-methods')).toContain('PATCH');
    expect(res.headers.get('access-control-allow-headers')).toBe(
      'authorization, content-type, idempotency-key',
    );
    expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('marks actual answers, errors included, so the page can read them; never allows credentials', async () => {
    const ok = await fetch(`${base}/api/v1/app`, {
      headers: { origin: 'https://any.example', authorization: `Bearer ${ADMIN}` },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    expect(ok.headers.get('access-control-expose-headers')).toContain('idempotent-replayed');
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    const denied = await fetch(`${base}/api/v1/app`, { headers: { origin: 'https://any.example' } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('*');
    // Outside /api/v1 nothing is marked; a request without Origin is not either.
    const doc = await fetch(`${base}/openapi.json`, { headers: { origin: 'https://any.example' } });
    expect(doc.headers.get('access-control-allow-origin')).toBeNull();
    const plain = await fetch(`${base}/api/v1/health`);
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('with --cors-origin, allows those origins only (echoed, with Vary) and refuses the preflight of others', async () => {
    const herald = await startHerald([
      '--cors-origin',
      'https://a.example,https://b.example:8443',
      '--cors-origin',
      'http://localhost:5173',
    ]);
    try {
      for (const origin of ['https://a.example', 'https://b.example:8443', 'http://localhost:5173']) {
        const res = await preflight(herald.url, origin);
        expect(res.status, origin).toBe(204);
        expect(res.headers.get('access-control-allow-origin')).toBe(origin);
        expect(res.headers.get('vary')).toContain('Origin');
        const get = await fetch(`${herald.url}/api/v1/app`, {
          headers: { origin, authorization: `Bearer ${herald.token}` },
        });
        expect(get.headers.get('access-control-allow-origin')).toBe(origin);
      }
      const refused = await preflight(herald.url, 'https://evil.example');
      expect(refused.status).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await refused.json()) as { detail: string }).detail).toContain('--cors-origin');
      const get = await fetch(`${herald.url}/api/v1/app`, {
        headers: { origin: 'https://evil.example', authorization: `Bearer ${herald.token}` },
      });
      expect(get.status).toBe(200);
      expect(get.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      expect(await herald.stop()).toBe(0);
    }
  });

  it('herald serve refuses a --cors-origin that is not an origin, naming it', async () => {
    const started = startHerald(['--cors-origin', 'https://a.example/path']);
    await expect(started).rejects.toThrow(/--cors-origin: https:\/\/a\.example\/path is not an origin/);
  });
});

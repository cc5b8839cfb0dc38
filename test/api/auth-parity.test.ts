/**
 * Application tokens as the svix SDK asks for them: app-portal-access with its options (an
 * inline application, expiry, readOnly, sessionId), the portal link and its placeholder page,
 * expiry on a manual clock, expire-all (a grace period, by session), logout, dashboard-access.
 * A real server on 127.0.0.1, on the store under test.
 */
import type { FastifyInstance } from 'fastify';
import { ApiException, AppPortalCapability, Svix } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const ADMIN = 'auth-parity-admin';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const clock = new ManualClock();
let testStore: TestStore;
let api: FastifyInstance;
let base: string;
let svix: Svix;

beforeAll(async () => {
  testStore = await openTestStore('auth_parity', { clock });
  await testStore.store.saveToken(hashToken(ADMIN), null);
  let listening = '';
  api = await buildApi({ store: testStore.store, clock, publicUrl: () => listening });
  listening = await api.listen({ port: 0, host: '127.0.0.1' });
  base = listening;
  svix = new Svix(ADMIN, { serverUrl: base, retryScheduleInMs: [] });
});

afterAll(async () => {
  await api?.close();
  await testStore?.close();
});

const as = (token: string) => new Svix(token, { serverUrl: base, retryScheduleInMs: [] });

async function failure(
  promise: Promise<unknown>,
): Promise<ApiException<{ code?: string; detail?: unknown }>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiException) return error as ApiException<{ code?: string; detail?: unknown }>;
    throw error;
  }
  throw new Error('expected the call to fail');
}

/** The 422's issues. */
const issues = (e: ApiException<{ detail?: unknown }>) => e.body.detail as { loc: string[]; msg: string }[];

describe('app-portal-access', () => {
  it('returns a token and a portal link that carries it in the fragment; the page never sees it', async () => {
    const app = await svix.application.create({ name: 'Linked' });
    const { token, url } = await svix.authentication.appPortalAccess(app.id, {});
    expect(token).toMatch(/^herald_app_/);
    const link = new URL(url);
    expect(`${link.origin}${link.pathname}`).toBe(`${base}/portal/${app.id}`);
    expect(link.hash).toBe(`#key=${token}`);
    expect(link.search).toBe('');
    // fetch, like a browser, sends no fragment: the page is served without ever seeing the token.
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain('frame-ancestors *');
    const html = await page.text();
    expect(html).not.toContain(token);
    expect((await as(token).application.get(app.id)).id).toBe(app.id);
  });

  it('lasts 7 days by default, then answers 401 saying it expired', async () => {
    const app = await svix.application.create({ name: 'Week' });
    const { token } = await svix.authentication.appPortalAccess(app.id);
    clock.advance(7 * DAY - 1);
    expect((await as(token).application.get(app.id)).id).toBe(app.id);
    clock.advance(1);
    const expired = await failure(as(token).application.get(app.id));
    expect(expired.code).toBe(401);
    expect(expired.body.detail).toMatch(/^this token expired at \d{4}-.*Z; ask for a new one/);
  });

  it('honours expiry in seconds (an hour to 7 days), refusing other values with 422 naming expiry', async () => {
    const app = await svix.application.create({ name: 'Hour' });
    const { token } = await svix.authentication.appPortalAccess(app.id, { expiry: 3600 });
    clock.advance(HOUR - 1);
    expect((await as(token).endpoint.list(app.id)).data).toEqual([]);
    clock.advance(1);
    expect((await failure(as(token).endpoint.list(app.id))).code).toBe(401);
    for (const expiry of [60, 7 * 86_400 + 1, 1.5]) {
      const refused = await failure(svix.authentication.appPortalAccess(app.id, { expiry }));
      expect(refused.code).toBe(422);
      expect(issues(refused)[0]!.loc).toEqual(['body', 'expiry']);
    }
  });

  it('creates the application named by the uid in the path when `application` is given, and ignores it when it exists', async () => {
    const { token } = await svix.authentication.appPortalAccess('inline-shop', {
      application: { name: 'Inline shop', metadata: { plan: 'pro' } },
    });
    const created = await svix.application.get('inline-shop');
    expect(created).toMatchObject({ name: 'Inline shop', uid: 'inline-shop', metadata: { plan: 'pro' } });
    expect((await as(token).application.get('inline-shop')).id).toBe(created.id);

    await svix.authentication.appPortalAccess('inline-shop', { application: { name: 'Renamed?' } });
    expect((await svix.application.get('inline-shop')).name).toBe('Inline shop');

    // application.uid wins over the path's; without `application` an unknown path is a 404.
    await svix.authentication.appPortalAccess('path-name', {
      application: { name: 'By uid', uid: 'own-uid' },
    });
    expect((await svix.application.get('own-uid')).name).toBe('By uid');
    expect((await failure(svix.authentication.appPortalAccess('no-such-app', {}))).code).toBe(404);
    // An unknown id cannot be created under its name.
    const unknownId = await failure(
      svix.authentication.appPortalAccess('app_2b6EzcIbxLRkZ3x7Bt1OuVHmLwS', { application: { name: 'x' } }),
    );
    expect(unknownId.code).toBe(404);
  });

  it('a readOnly token reads, and every write answers 403 saying it is read-only', async () => {
    const app = await svix.application.create({ name: 'Reader' });
    const ep = await svix.endpoint.create(app.id, { url: 'https://hooks.example/a' });
    const { token } = await svix.authentication.appPortalAccess(app.id, { readOnly: true });
    const reader = as(token);
    expect((await reader.endpoint.list(app.id)).data.map((e) => e.id)).toEqual([ep.id]);
    expect((await reader.endpoint.get(app.id, ep.id)).url).toBe('https://hooks.example/a');
    const writes: (() => Promise<unknown>)[] = [
      () => reader.endpoint.create(app.id, { url: 'https://hooks.example/b' }),
      () => reader.endpoint.patch(app.id, ep.id, { description: 'changed' }),
      () => reader.endpoint.delete(app.id, ep.id),
      () => reader.application.patch(app.id, { name: 'changed' }),
      () => reader.message.create(app.id, { eventType: 'a', payload: {} }),
    ];
    for (const write of writes) {
      const refused = await failure(write());
      expect(refused.code).toBe(403);
      expect(refused.body.detail).toContain('read-only');
    }
    expect((await svix.endpoint.get(app.id, ep.id)).description).toBe('');
    // A read-only token may still end itself.
    await reader.authentication.logout();
    expect((await failure(reader.endpoint.list(app.id))).code).toBe(401);
  });

  it('refuses featureFlags other than [] with 422 saying Herald does not support them, and unknown fields', async () => {
    const app = await svix.application.create({ name: 'Flags' });
    const flags = await failure(svix.authentication.appPortalAccess(app.id, { featureFlags: ['beta'] }));
    expect(flags.code).toBe(422);
    expect(issues(flags)[0]).toMatchObject({ loc: ['body', 'featureFlags'] });
    expect(issues(flags)[0]!.msg).toContain('not supported by Herald');
    // What asks for no flag is taken, as Svix's own examples send it.
    const { token } = await svix.authentication.appPortalAccess(app.id, { featureFlags: [] });
    expect((await as(token).application.get(app.id)).id).toBe(app.id);
    const res = await fetch(`${base}/api/v1/auth/app-portal-access/${app.id}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ readonly: true }),
    });
    expect(res.status).toBe(422);
    expect(JSON.stringify(await res.json())).toContain('readonly');
  });

  it('an application token cannot mint tokens, end them, or use dashboard-access', async () => {
    const app = await svix.application.create({ name: 'Minter' });
    const { token } = await svix.authentication.appPortalAccess(app.id);
    const scoped = as(token);
    expect((await failure(scoped.authentication.appPortalAccess(app.id))).code).toBe(403);
    expect((await failure(scoped.authentication.dashboardAccess(app.id))).code).toBe(403);
    expect((await failure(scoped.authentication.expireAll(app.id))).code).toBe(403);
  });
});

describe('capabilities', () => {
  const { ViewBase, ViewEndpointSecret, ManageEndpointSecret, CreateAttempts, ManageEndpoint } =
    AppPortalCapability;
  let app: { id: string };
  let ep: { id: string };
  const tokenWith = async (capabilities: AppPortalCapability[]) =>
    as((await svix.authentication.appPortalAccess(app.id, { capabilities })).token);
  const refusal = async (call: Promise<unknown>) => {
    const refused = await failure(call);
    expect(refused.code).toBe(403);
    return String(refused.body.detail);
  };

  beforeAll(async () => {
    app = await svix.application.create({ name: 'Capable' });
    ep = await svix.endpoint.create(app.id, { url: 'https://hooks.example/cap' });
  });

  it('ViewBase reads the application, but not an endpoint secret, and changes nothing', async () => {
    const viewer = await tokenWith([ViewBase]);
    expect((await viewer.endpoint.list(app.id)).data.map((e) => e.id)).toEqual([ep.id]);
    expect((await viewer.endpoint.getHeaders(app.id, ep.id)).headers).toEqual({});
    expect(await refusal(viewer.endpoint.getSecret(app.id, ep.id))).toContain(
      'needs ViewEndpointSecret or ManageEndpointSecret or ManageEndpoint',
    );
    expect(await refusal(viewer.endpoint.create(app.id, { url: 'https://hooks.example/x' }))).toContain(
      'needs ManageEndpoint',
    );
    expect(await refusal(viewer.endpoint.rotateSecret(app.id, ep.id, {}))).toContain('ManageEndpointSecret');
    expect(await refusal(viewer.message.create(app.id, { eventType: 'a', payload: {} }))).toContain(
      'no capability does',
    );
  });

  it('ViewEndpointSecret shows the secret; ManageEndpointSecret rotates it', async () => {
    const { key } = await svix.endpoint.getSecret(app.id, ep.id);
    expect(
      (await (await tokenWith([ViewBase, ViewEndpointSecret])).endpoint.getSecret(app.id, ep.id)).key,
    ).toBe(key);
    const rotator = await tokenWith([ViewBase, ManageEndpointSecret]);
    await rotator.endpoint.rotateSecret(app.id, ep.id, {});
    expect((await svix.endpoint.getSecret(app.id, ep.id)).key).not.toBe(key);
    expect(await refusal(rotator.endpoint.patch(app.id, ep.id, { description: 'x' }))).toContain(
      'ManageEndpoint',
    );
  });

  it('CreateAttempts replays; ManageEndpoint changes endpoints but sends no message', async () => {
    const replayer = await tokenWith([ViewBase, CreateAttempts]);
    await replayer.endpoint.replayMissing(app.id, ep.id, { since: new Date(Date.UTC(2020, 0, 1)) });
    expect(await refusal(replayer.endpoint.delete(app.id, ep.id))).toContain('ManageEndpoint');
    const manager = await tokenWith([ViewBase, ManageEndpoint]);
    const patched = await manager.endpoint.patch(app.id, ep.id, { description: 'managed' });
    expect(patched.description).toBe('managed');
    expect((await manager.endpoint.getSecret(app.id, ep.id)).key).toMatch(/^whsec_/);
    await refusal(manager.application.patch(app.id, { name: 'renamed' }));
    await refusal(manager.message.create(app.id, { eventType: 'a', payload: {} }));
    // A token's capabilities never widen a read-only token.
    const both = as(
      (
        await svix.authentication.appPortalAccess(app.id, {
          capabilities: [ViewBase, ManageEndpoint],
          readOnly: true,
        })
      ).token,
    );
    expect(await refusal(both.endpoint.patch(app.id, ep.id, { description: 'x' }))).toContain('read-only');
  });

  it("the link's fragment says what the token may not do, for the portal to hide what it would refuse", async () => {
    const app = await svix.application.create({ name: 'Fragment' });
    const { token, url } = await svix.authentication.appPortalAccess(app.id, {
      capabilities: [ViewBase, ManageEndpoint],
      readOnly: true,
    });
    const fragment = new URLSearchParams(new URL(url).hash.slice(1));
    expect(Object.fromEntries(fragment)).toEqual({
      key: token,
      readOnly: 'true',
      capabilities: 'ViewBase,ManageEndpoint',
    });
  });

  it('refuses capabilities without ViewBase, or unknown, with 422 naming capabilities', async () => {
    const without = await failure(
      svix.authentication.appPortalAccess(app.id, { capabilities: [ManageEndpoint] }),
    );
    expect(without.code).toBe(422);
    expect(issues(without)[0]).toMatchObject({ loc: ['body', 'capabilities'] });
    expect(issues(without)[0]!.msg).toContain('ViewBase');
    const unknown = await failure(
      svix.authentication.appPortalAccess(app.id, { capabilities: ['Everything' as AppPortalCapability] }),
    );
    expect(unknown.code).toBe(422);
    expect(issues(unknown)[0]!.loc.slice(0, 2)).toEqual(['body', 'capabilities']);
  });
});

describe('expire-all', () => {
  it("ends every token of the application at once, and no other application's", async () => {
    const app = await svix.application.create({ name: 'Ended' });
    const other = await svix.application.create({ name: 'Kept' });
    const first = await svix.authentication.appPortalAccess(app.id);
    const second = await svix.authentication.appPortalAccess(app.id, { readOnly: true });
    const theirs = await svix.authentication.appPortalAccess(other.id);
    await svix.authentication.expireAll(app.id);
    for (const { token } of [first, second]) {
      const ended = await failure(as(token).application.get(app.id));
      expect(ended.code).toBe(401);
      expect(ended.body.detail).toContain('expire-all');
    }
    expect((await as(theirs.token).application.get(other.id)).id).toBe(other.id);
    // A token made afterwards works.
    const fresh = await svix.authentication.appPortalAccess(app.id);
    expect((await as(fresh.token).application.get(app.id)).id).toBe(app.id);
  });

  it('keeps them working for `expiry` seconds of grace', async () => {
    const app = await svix.application.create({ name: 'Grace' });
    const { token } = await svix.authentication.appPortalAccess(app.id);
    await svix.authentication.expireAll(app.id, { expiry: 60 });
    clock.advance(59_999);
    expect((await as(token).application.get(app.id)).id).toBe(app.id);
    clock.advance(1);
    expect((await failure(as(token).application.get(app.id))).code).toBe(401);
    const refused = await failure(svix.authentication.expireAll(app.id, { expiry: -1 }));
    expect(issues(refused)[0]!.loc).toEqual(['body', 'expiry']);
  });

  it('ends only the sessions named in sessionIds', async () => {
    const app = await svix.application.create({ name: 'Sessions' });
    const a = await svix.authentication.appPortalAccess(app.id, { sessionId: 'session-a' });
    const b = await svix.authentication.appPortalAccess(app.id, { sessionId: 'session-b' });
    const none = await svix.authentication.appPortalAccess(app.id);
    await svix.authentication.expireAll(app.id, { sessionIds: ['session-a'] });
    expect((await failure(as(a.token).application.get(app.id))).code).toBe(401);
    expect((await as(b.token).application.get(app.id)).id).toBe(app.id);
    expect((await as(none.token).application.get(app.id)).id).toBe(app.id);
  });

  it('answers 404 for an unknown application', async () => {
    expect((await failure(svix.authentication.expireAll('no-such-app'))).code).toBe(404);
  });
});

describe('logout and dashboard-access', () => {
  it('logout ends the calling token only, and says so when it is used again', async () => {
    const app = await svix.application.create({ name: 'Leaving' });
    const leaving = await svix.authentication.appPortalAccess(app.id);
    const staying = await svix.authentication.appPortalAccess(app.id);
    await as(leaving.token).authentication.logout();
    const after = await failure(as(leaving.token).application.get(app.id));
    expect(after.code).toBe(401);
    expect(after.body.detail).toMatch(/^this token was logged out at /);
    expect((await as(staying.token).application.get(app.id)).id).toBe(app.id);
  });

  it('an admin token cannot log out (403), and keeps working', async () => {
    const refused = await failure(svix.authentication.logout());
    expect(refused.code).toBe(403);
    expect(refused.body.detail).toContain('admin token');
    expect((await svix.application.list()).data.length).toBeGreaterThan(0);
  });

  it('dashboard-access answers a 7-day token and its portal link, as DashboardAccessOut', async () => {
    const app = await svix.application.create({ name: 'Dash' });
    const { token, url } = await svix.authentication.dashboardAccess(app.id);
    expect(url).toBe(`${base}/portal/${app.id}#key=${token}`);
    expect((await as(token).application.get(app.id)).id).toBe(app.id);
    clock.advance(7 * DAY);
    expect((await failure(as(token).application.get(app.id))).code).toBe(401);
  });

  it('tokens are stored as hashes only, with their expiry', async () => {
    const app = await svix.application.create({ name: 'Hashed' });
    const { token } = await svix.authentication.appPortalAccess(app.id, { expiry: 7200, sessionId: 's' });
    const rows = await testStore.sql('SELECT * FROM api_tokens WHERE app_id = ?', [app.id]);
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows[0]!.hash).toBe(hashToken(token));
    expect(Number(rows[0]!.expires_at)).toBe(clock.now() + 7_200_000);
  });
});

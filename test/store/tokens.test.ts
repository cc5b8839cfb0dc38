/**
 * Contract cases of API tokens with an expiry (run on both stores): what a token was granted,
 * expire-all cutting an application's tokens short (all, or some sessions'), logout ending one,
 * long-expired tokens forgotten, and the health check's ping.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { EXPIRED_TOKEN_KEPT_MS, type Store } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';
import { PG_URL } from '../pg.js';

const dir = tempDir();
const schemas: string[] = [];
let n = 0;

afterAll(async () => {
  dir.remove();
  if (schemas.length === 0) return;
  const client = new pg.Client(PG_URL);
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.end();
});

const BACKENDS: Record<string, (clock: ManualClock) => Promise<Store>> = {
  sqlite: async (clock) => openSqliteStore({ path: dir.path(`tokens-${n++}.db`), clock }),
  postgres: async (clock) => {
    const schema = `t${process.pid}_${Date.now().toString(36)}_tokens_${n++}`;
    schemas.push(schema);
    return openPostgresStore({ url: PG_URL, schema, clock, poolSize: 2 });
  },
};

const HOUR = 3_600_000;

for (const [kind, open] of Object.entries(BACKENDS)) {
  describe(`tokens (${kind})`, () => {
    const opened: Store[] = [];
    afterEach(async () => {
      for (const s of opened.splice(0)) await s[Symbol.asyncDispose]();
    });
    const setup = async () => {
      const clock = new ManualClock();
      const store = await open(clock);
      opened.push(store);
      const app = await store.createApplication({ name: 'Shop' });
      const other = await store.createApplication({ name: 'Other' });
      return { clock, store, app, other };
    };

    it('keeps what a token was granted; without a grant it never expires, reads, writes and holds every capability', async () => {
      const { clock, store, app } = await setup();
      await store.saveToken('plain', app.id);
      await store.saveToken('granted', app.id, {
        expiresAt: clock.now() + HOUR,
        readOnly: true,
        capabilities: ['ViewBase', 'CreateAttempts'],
        sessionId: 'sess-1',
      });
      expect(await store.findToken('plain')).toEqual({
        appId: app.id,
        expiresAt: null,
        readOnly: false,
        capabilities: null,
        sessionId: null,
        revokedBy: null,
      });
      expect(await store.findToken('granted')).toEqual({
        appId: app.id,
        expiresAt: clock.now() + HOUR,
        readOnly: true,
        capabilities: ['ViewBase', 'CreateAttempts'],
        sessionId: 'sess-1',
        revokedBy: null,
      });
      // Saving the same hash again changes nothing.
      await store.saveToken('granted', app.id);
      expect((await store.findToken('granted'))?.readOnly).toBe(true);
    });

    it("expire-all cuts every token of the application short, and no other application's", async () => {
      const { clock, store, app, other } = await setup();
      const now = clock.now();
      await store.saveToken('forever', app.id);
      await store.saveToken('long', app.id, { expiresAt: now + 7 * 24 * HOUR });
      await store.saveToken('soon', app.id, { expiresAt: now + 60_000 });
      await store.saveToken('theirs', other.id, { expiresAt: now + HOUR });
      await store.saveToken('admin', null);
      expect(await store.expireTokens(app.id, now + 5 * 60_000)).toBe(2);
      expect(await store.findToken('forever')).toMatchObject({
        expiresAt: now + 5 * 60_000,
        revokedBy: 'expire-all',
      });
      expect(await store.findToken('long')).toMatchObject({ expiresAt: now + 5 * 60_000 });
      // One ending sooner keeps its own end, and is not said to be revoked.
      expect(await store.findToken('soon')).toMatchObject({ expiresAt: now + 60_000, revokedBy: null });
      expect(await store.findToken('theirs')).toMatchObject({ expiresAt: now + HOUR, revokedBy: null });
      expect(await store.findToken('admin')).toMatchObject({ expiresAt: null, revokedBy: null });
    });

    it("expire-all with session ids ends only those sessions' tokens", async () => {
      const { clock, store, app } = await setup();
      const now = clock.now();
      await store.saveToken('a1', app.id, { sessionId: 'a' });
      await store.saveToken('a2', app.id, { sessionId: 'a' });
      await store.saveToken('b', app.id, { sessionId: 'b' });
      await store.saveToken('none', app.id);
      expect(await store.expireTokens(app.id, now, ['a', 'c'])).toBe(2);
      expect((await store.findToken('a1'))?.expiresAt).toBe(now);
      expect((await store.findToken('a2'))?.expiresAt).toBe(now);
      expect((await store.findToken('b'))?.expiresAt).toBeNull();
      expect((await store.findToken('none'))?.expiresAt).toBeNull();
      expect(await store.expireTokens(app.id, now, [])).toBe(0);
    });

    it('logout ends one application token; an admin token or an unknown hash is not ended', async () => {
      const { clock, store, app } = await setup();
      const now = clock.now();
      await store.saveToken('mine', app.id, { expiresAt: now + HOUR });
      await store.saveToken('sibling', app.id, { expiresAt: now + HOUR });
      await store.saveToken('admin', null);
      expect(await store.revokeToken('mine', now)).toBe(true);
      expect(await store.findToken('mine')).toMatchObject({ expiresAt: now, revokedBy: 'logout' });
      expect(await store.findToken('sibling')).toMatchObject({ expiresAt: now + HOUR, revokedBy: null });
      expect(await store.revokeToken('admin', now)).toBe(false);
      expect(await store.findToken('admin')).toMatchObject({ expiresAt: null, revokedBy: null });
      expect(await store.revokeToken('nobody', now)).toBe(false);
    });

    it('forgets application tokens expired longer than the kept time, when a token is saved', async () => {
      const { clock, store, app } = await setup();
      await store.saveToken('old', app.id, { expiresAt: clock.now() + HOUR });
      await store.saveToken('admin', null);
      clock.advance(HOUR + EXPIRED_TOKEN_KEPT_MS - 1);
      await store.saveToken('new', app.id, { expiresAt: clock.now() + HOUR });
      expect(await store.findToken('old')).not.toBeNull();
      clock.advance(2);
      await store.saveToken('newer', app.id, { expiresAt: clock.now() + HOUR });
      expect(await store.findToken('old')).toBeNull();
      expect(await store.findToken('new')).not.toBeNull();
      expect(await store.findToken('admin')).not.toBeNull();
    });

    it('deleting the application deletes its tokens', async () => {
      const { store, app } = await setup();
      await store.saveToken('gone', app.id, { sessionId: 's' });
      await store.deleteApplication(app.id);
      expect(await store.findToken('gone')).toBeNull();
    });

    it('ping answers while the store is open and throws once it is closed', async () => {
      const clock = new ManualClock();
      const store = await open(clock);
      await expect(store.ping()).resolves.toBeUndefined();
      await store[Symbol.asyncDispose]();
      await expect(store.ping()).rejects.toThrow();
    });
  });
}

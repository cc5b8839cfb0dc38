/**
 * Secrets at rest: with HERALD_MAIN_KEY set, endpoint and source secrets are sealed in the
 * database, the files hold no plain secret, and the wrong or a missing key is refused at start.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import {
  generateMainKey,
  MainKeyError,
  mainKeyBox,
  parseMainKeys,
  secretBoxFor,
} from '../../src/store/secret-box.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';
import { PG_URL } from '../pg.js';

const ENDPOINT_SECRET = 'whsec_c2VjcmV0LW9mLWFuLWVuZHBvaW50LTAxMjM0NTY3';
const SOURCE_SECRET = 'shpss_source-secret-that-must-not-leak-98765';
/** What a leak would look like in the file: the key material, with or without its prefix. */
const NEEDLES = [ENDPOINT_SECRET.slice('whsec_'.length), SOURCE_SECRET];

const dirs: ReturnType<typeof tempDir>[] = [];
afterAll(() => {
  for (const d of dirs) d.remove();
});

async function fill(store: Store): Promise<{ appId: string; endpointId: string; sourceId: string }> {
  const app = await store.createApplication({ name: 'tenant' });
  const endpoint = await store.createEndpoint(app.id, {
    url: 'https://example.com/hook',
    secret: ENDPOINT_SECRET,
  });
  const source = await store.createSource({
    name: 'shop',
    provider: 'shopify',
    secrets: [SOURCE_SECRET],
    appId: app.id,
  });
  return { appId: app.id, endpointId: endpoint.id, sourceId: source.id };
}

/** Every byte of the database's files (main, WAL, shared memory), as one buffer. */
function filesOf(dir: string): Buffer {
  return Buffer.concat(
    readdirSync(dir)
      .filter((name) => name.startsWith('herald.db'))
      .map((name) => readFileSync(`${dir}/${name}`)),
  );
}

function leaks(bytes: Buffer): string[] {
  return NEEDLES.filter((needle) => bytes.includes(needle));
}

describe('main key parsing', () => {
  it('takes 32 bytes as hex or base64, and names what is wrong otherwise', () => {
    expect(parseMainKeys(generateMainKey())[0]).toHaveLength(32);
    expect(parseMainKeys('ab'.repeat(32))[0]).toHaveLength(32);
    expect(parseMainKeys(`${generateMainKey()},${generateMainKey()}`)).toHaveLength(2);
    expect(() => parseMainKeys('too-short')).toThrow(/key 1 must be 32 bytes/);
    expect(() => parseMainKeys(`${generateMainKey()},`)).toThrow(MainKeyError);
    expect(() => parseMainKeys(`${generateMainKey()},${'a'.repeat(40)}`)).toThrow(/key 2 must be 32 bytes/);
  });

  it('binds a sealed value to its row: moved to another row, it does not open', () => {
    const box = mainKeyBox(parseMainKeys(generateMainKey()));
    const sealed = box.seal('["k"]', 'ep_one');
    expect(box.open(sealed, 'ep_one')).toBe('["k"]');
    expect(() => box.open(sealed, 'ep_two')).toThrow(/do not open/);
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}`;
    expect(() => box.open(tampered, 'ep_one')).toThrow(/do not open/);
    expect(() => box.open(sealed.slice(0, sealed.lastIndexOf(':') + 10), 'ep_one')).toThrow(/do not open/);
  });
});

describe('SQLite', () => {
  it('keeps no plain secret in the files, and reads the secrets back with the key', async () => {
    const d = tempDir();
    dirs.push(d);
    const key = generateMainKey();
    const store = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(key) });
    const ids = await fill(store);
    await store[Symbol.asyncDispose]();

    expect(leaks(filesOf(d.dir))).toEqual([]);

    const again = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(key) });
    expect((await again.getEndpoint(ids.appId, ids.endpointId))?.secrets[0]?.key).toBe(ENDPOINT_SECRET);
    expect((await again.getSource(ids.sourceId))?.secrets).toEqual([SOURCE_SECRET]);
    await again[Symbol.asyncDispose]();
  });

  it('the plain-text baseline: without a key the same secrets are in the file (so the check above can fail)', async () => {
    const d = tempDir();
    dirs.push(d);
    const store = openSqliteStore({ path: d.path('herald.db') });
    await fill(store);
    await store[Symbol.asyncDispose]();
    expect(leaks(filesOf(d.dir))).toEqual(NEEDLES);
  });

  it('seals a plain database when first opened with a key, leaving no plain copy behind', async () => {
    const d = tempDir();
    dirs.push(d);
    const plain = openSqliteStore({ path: d.path('herald.db') });
    const ids = await fill(plain);
    await plain[Symbol.asyncDispose]();

    const key = generateMainKey();
    const sealed = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(key) });
    expect((await sealed.getEndpoint(ids.appId, ids.endpointId))?.secrets[0]?.key).toBe(ENDPOINT_SECRET);
    await sealed[Symbol.asyncDispose]();
    expect(leaks(filesOf(d.dir))).toEqual([]);
  });

  it('refuses to open sealed secrets without the key or with another key, naming the problem', async () => {
    const d = tempDir();
    dirs.push(d);
    const key = generateMainKey();
    const store = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(key) });
    await fill(store);
    await store[Symbol.asyncDispose]();

    expect(() => openSqliteStore({ path: d.path('herald.db') })).toThrow(/set HERALD_MAIN_KEY/);
    expect(() =>
      openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(generateMainKey()) }),
    ).toThrow(/does not hold/);
    // Nothing was changed by the refused opens: the right key still reads everything.
    const again = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(key) });
    expect(
      (await again.listEndpoints((await again.listApplications({ limit: 1 })).data[0]!.id, { limit: 5 }))
        .data[0]?.secrets[0]?.key,
    ).toBe(ENDPOINT_SECRET);
    await again[Symbol.asyncDispose]();
  });

  it('rotates the main key: "new,old" reseals every row under the new key, after which "new" alone opens', async () => {
    const d = tempDir();
    dirs.push(d);
    const [oldKey, newKey] = [generateMainKey(), generateMainKey()];
    const first = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(oldKey) });
    const ids = await fill(first);
    await first[Symbol.asyncDispose]();

    const both = openSqliteStore({
      path: d.path('herald.db'),
      secretBox: secretBoxFor(`${newKey},${oldKey}`),
    });
    await both[Symbol.asyncDispose]();
    const onlyNew = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(newKey) });
    expect((await onlyNew.getSource(ids.sourceId))?.secrets).toEqual([SOURCE_SECRET]);
    await onlyNew[Symbol.asyncDispose]();
    expect(() => openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(oldKey) })).toThrow(
      /does not hold/,
    );
  });
});

describe('PostgreSQL', () => {
  const schema = `t${process.pid}_${Date.now().toString(36)}_sealed`;
  afterAll(async () => {
    const client = new pg.Client(PG_URL);
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  it('stores sealed secrets, reads them with the key, and refuses to start without it', async () => {
    const key = generateMainKey();
    const store = await openPostgresStore({ url: PG_URL, schema, poolSize: 2, secretBox: secretBoxFor(key) });
    const ids = await fill(store);
    expect((await store.getEndpoint(ids.appId, ids.endpointId))?.secrets[0]?.key).toBe(ENDPOINT_SECRET);
    await store[Symbol.asyncDispose]();

    const client = new pg.Client(PG_URL);
    await client.connect();
    const { rows } = await client.query<{ secrets: string }>(
      `SELECT secrets FROM ${schema}.endpoints UNION ALL SELECT secrets FROM ${schema}.sources`,
    );
    await client.end();
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.secrets).toMatch(/^hk1:/);
      expect(leaks(Buffer.from(row.secrets))).toEqual([]);
    }

    await expect(openPostgresStore({ url: PG_URL, schema, poolSize: 1 })).rejects.toThrow(
      /set HERALD_MAIN_KEY/,
    );
  });
});

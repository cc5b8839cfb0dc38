/**
 * Secrets at rest: with HERALD_MAIN_KEY set, endpoint and source secrets and endpoints'
 * custom headers are sealed in the database, the files hold no plain secret, and the wrong
 * or a missing key is refused at start. Rows written before (plain, or in the old headers
 * form) still read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import {
  generateMainKey,
  MainKeyError,
  mainKeyBox,
  parseMainKeys,
  sealedRowId,
  secretBoxFor,
} from '../../src/store/secret-box.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';
import { PG_URL } from '../pg.js';

const ENDPOINT_SECRET = 'whsec_c2VjcmV0LW9mLWFuLWVuZHBvaW50LTAxMjM0NTY3';
const SOURCE_SECRET = 'shpss_source-secret-that-must-not-leak-98765';
/** Custom headers, one credential-named, one marked sensitive, one neither: all are sealed. */
const HEADERS = {
  Authorization: 'Bearer header-credential-that-must-not-leak-1',
  'X-Partner-Id': 'partner-id-that-must-not-leak-2',
  'X-Tenant': 'tenant-name-that-must-not-leak-3',
};
/** What a leak would look like in the file: the key material, with or without its prefix. */
const NEEDLES = [ENDPOINT_SECRET.slice('whsec_'.length), SOURCE_SECRET, ...Object.values(HEADERS)];

const dirs: ReturnType<typeof tempDir>[] = [];
afterAll(() => {
  for (const d of dirs) d.remove();
});

async function fill(store: Store): Promise<{ appId: string; endpointId: string; sourceId: string }> {
  const app = await store.createApplication({ name: 'tenant' });
  const endpoint = await store.createEndpoint(app.id, {
    url: 'https://example.com/hook',
    secret: ENDPOINT_SECRET,
    headers: HEADERS,
    sensitiveHeaders: ['X-Partner-Id'],
  });
  const source = await store.createSource({
    name: 'shop',
    provider: 'shopify',
    secrets: [SOURCE_SECRET],
    appId: app.id,
  });
  return { appId: app.id, endpointId: endpoint.id, sourceId: source.id };
}

/** A fresh SQLite file holding {@link fill}'s rows, closed; sealed under `key` if one is given. */
async function filledFile(key?: string) {
  const d = tempDir();
  dirs.push(d);
  const store = openSqliteStore({
    path: d.path('herald.db'),
    ...(key ? { secretBox: secretBoxFor(key) } : {}),
  });
  const ids = await fill(store);
  await store[Symbol.asyncDispose]();
  return { d, ids };
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

/** The endpoint's headers and marks read back as they were written. */
async function expectHeaders(store: Store, ids: { appId: string; endpointId: string }): Promise<void> {
  const endpoint = await store.getEndpoint(ids.appId, ids.endpointId);
  expect(endpoint).toMatchObject({ headers: HEADERS, sensitiveHeaders: ['X-Partner-Id'] });
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
    const key = generateMainKey();
    const { d, ids } = await filledFile(key);

    expect(leaks(filesOf(d.dir))).toEqual([]);

    const again = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(key) });
    expect((await again.getEndpoint(ids.appId, ids.endpointId))?.secrets[0]?.key).toBe(ENDPOINT_SECRET);
    expect((await again.getSource(ids.sourceId))?.secrets).toEqual([SOURCE_SECRET]);
    await expectHeaders(again, ids);
    await again[Symbol.asyncDispose]();
  });

  it('the plain-text baseline: without a key the same secrets are in the file (so the check above can fail)', async () => {
    const { d } = await filledFile();
    expect(leaks(filesOf(d.dir))).toEqual(NEEDLES);
  });

  it('seals a plain database when first opened with a key, leaving no plain copy behind', async () => {
    const { d, ids } = await filledFile();

    const key = generateMainKey();
    const sealed = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(key) });
    expect((await sealed.getEndpoint(ids.appId, ids.endpointId))?.secrets[0]?.key).toBe(ENDPOINT_SECRET);
    await expectHeaders(sealed, ids);
    await sealed[Symbol.asyncDispose]();
    expect(leaks(filesOf(d.dir))).toEqual([]);
  });

  it('refuses to open sealed secrets without the key or with another key, naming the problem', async () => {
    const key = generateMainKey();
    const { d } = await filledFile(key);

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
    const [oldKey, newKey] = [generateMainKey(), generateMainKey()];
    const { d, ids } = await filledFile(oldKey);

    const both = openSqliteStore({
      path: d.path('herald.db'),
      secretBox: secretBoxFor(`${newKey},${oldKey}`),
    });
    await both[Symbol.asyncDispose]();
    const onlyNew = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(newKey) });
    expect((await onlyNew.getSource(ids.sourceId))?.secrets).toEqual([SOURCE_SECRET]);
    await expectHeaders(onlyNew, ids);
    await onlyNew[Symbol.asyncDispose]();
    expect(() => openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(oldKey) })).toThrow(
      /does not hold/,
    );
  });
});

describe('SQLite, custom headers', () => {
  it('reads a headers cell in the form earlier releases wrote, without a key and with one (which seals it)', async () => {
    const { d, ids } = await filledFile();
    // What every release before this one wrote: a JSON object of name to value.
    const db = new Database(d.path('herald.db'));
    db.prepare('UPDATE endpoints SET headers = ? WHERE id = ?').run(JSON.stringify(HEADERS), ids.endpointId);
    db.close();

    const old = openSqliteStore({ path: d.path('herald.db') });
    expect(await old.getEndpoint(ids.appId, ids.endpointId)).toMatchObject({
      headers: HEADERS,
      sensitiveHeaders: [],
    });
    await old[Symbol.asyncDispose]();

    const key = generateMainKey();
    const sealed = openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(key) });
    expect((await sealed.getEndpoint(ids.appId, ids.endpointId))?.headers).toEqual(HEADERS);
    await sealed[Symbol.asyncDispose]();
    expect(leaks(filesOf(d.dir))).toEqual([]);
  });

  it('binds sealed headers to their column: moved into the secrets column, they do not open', async () => {
    const box = mainKeyBox(parseMainKeys(generateMainKey()));
    const sealed = box.seal('{"X-A":"v"}', sealedRowId('ep_one', 'headers'));
    expect(box.open(sealed, sealedRowId('ep_one', 'headers'))).toBe('{"X-A":"v"}');
    expect(() => box.open(sealed, sealedRowId('ep_one', 'secrets'))).toThrow(/do not open/);

    const key = generateMainKey();
    const { d } = await filledFile(key);
    const db = new Database(d.path('herald.db'));
    db.prepare('UPDATE endpoints SET secrets = headers, headers = secrets').run();
    db.close();
    expect(() => openSqliteStore({ path: d.path('herald.db'), secretBox: secretBoxFor(key) })).toThrow(
      /do not open/,
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
    const again = await openPostgresStore({ url: PG_URL, schema, poolSize: 1, secretBox: secretBoxFor(key) });
    await expectHeaders(again, ids);
    await again[Symbol.asyncDispose]();

    const client = new pg.Client(PG_URL);
    await client.connect();
    const { rows } = await client.query<{ secrets: string }>(
      `SELECT secrets FROM ${schema}.endpoints UNION ALL SELECT secrets FROM ${schema}.sources
       UNION ALL SELECT headers FROM ${schema}.endpoints`,
    );
    await client.end();
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row.secrets).toMatch(/^hk1:/);
      expect(leaks(Buffer.from(row.secrets))).toEqual([]);
    }

    await expect(openPostgresStore({ url: PG_URL, schema, poolSize: 1 })).rejects.toThrow(
      /set HERALD_MAIN_KEY/,
    );
  });
});

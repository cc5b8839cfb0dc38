/**
 * The store a suite runs on. `HERALD_TEST_DB` picks the backend (`sqlite`, the default, or
 * `postgres`); `npm test` runs the API, dispatcher and SDK suites once with each, as Svix's
 * `server/run-tests.sh` runs its end-to-end suite per backend. Each call opens a fresh store
 * of its own: a new SQLite file, or a new PostgreSQL schema (dropped on close), so that test
 * files run in parallel on one PostgreSQL.
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Clock } from '../src/core/clock.js';
import type { OpenStoreOptions } from '../src/store/open.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { Store } from '../src/store/store.js';
import { tempDir } from './helpers.js';
import { freshDatabase, PG_URL } from './pg.js';

/** A backend the suites run on. */
export type TestDb = 'sqlite' | 'postgres';

function testDb(value = 'sqlite'): TestDb {
  if (value === 'sqlite' || value === 'postgres') return value;
  throw new Error(`HERALD_TEST_DB must be sqlite or postgres, not ${value}`);
}

/** The backend of this run: `HERALD_TEST_DB`, default `sqlite`. */
export const db: TestDb = testDb(process.env.HERALD_TEST_DB || undefined);

/** The tables of what the API writes, for {@link TestStore.snapshot}. */
export const RECORD_TABLES = [
  'applications',
  'event_types',
  'endpoints',
  'messages',
  'deliveries',
  'sources',
];

/** A fresh store of the backend under test. */
export interface TestStore {
  store: Store;
  /** Which backend it is (for the few assertions that read its raw tables). */
  db: TestDb;
  /** The SQLite file's path, or the PostgreSQL schema's name. */
  location: string;
  /** Opens the same data again (another process's view, or other options). */
  reopen(options?: OpenStoreOptions): Promise<Store>;
  /**
   * Runs SQL on the raw tables behind the store's back (plain SQL both dialects read alike,
   * `?` for parameters), as an older Herald or an operator would; returns the rows. Values
   * come as each driver gives them: compare rows of one backend only.
   */
  sql(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Every row of `tables`, as one string: to compare what is stored before and after. */
  snapshot(tables: string[]): Promise<string>;
  /** Closes the store (and what `reopen` opened) and removes its file or schema. */
  close(): Promise<void>;
}

/** Options of {@link openTestStore}. */
export interface TestStoreOptions extends OpenStoreOptions {
  clock?: Clock;
}

let opened = 0;

/** Opens a fresh, empty store of the backend under test; `name` tags its file or schema. */
export async function openTestStore(name: string, options: TestStoreOptions = {}): Promise<TestStore> {
  const tag = `${name.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${opened++}`;
  const others: Store[] = [];
  if (db === 'postgres') {
    const schema = `t${process.pid}_${Date.now().toString(36)}_${tag}`.slice(0, 63);
    const open = (more: OpenStoreOptions = {}) =>
      openPostgresStore({ url: PG_URL, schema, poolSize: 3, ...options, ...more });
    const store = await open();
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    let connected: Promise<unknown> | null = null;
    return withSnapshot({
      store,
      db,
      location: schema,
      async reopen(more) {
        const again = await open(more);
        others.push(again);
        return again;
      },
      async sql(text, params = []) {
        connected ??= client.connect();
        await connected;
        let n = 0;
        return (
          await client.query(
            text.replace(/\?/g, () => `$${++n}`),
            params,
          )
        ).rows;
      },
      async close() {
        for (const s of [store, ...others]) await s[Symbol.asyncDispose]();
        if (connected) await client.end();
        const admin = new pg.Client(PG_URL);
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      },
    });
  }
  const dir = tempDir();
  const path = dir.path(`${tag}.db`);
  const open = (more: OpenStoreOptions = {}) => openSqliteStore({ path, ...options, ...more });
  const store = open();
  let raw: Database.Database | null = null;
  return withSnapshot({
    store,
    db,
    location: path,
    async reopen(more) {
      const again = open(more);
      others.push(again);
      return again;
    },
    async sql(text, params = []) {
      raw ??= new Database(path);
      const statement = raw.prepare(text);
      if (statement.reader) return statement.all(...params) as Record<string, unknown>[];
      statement.run(...params);
      return [];
    },
    async close() {
      raw?.close();
      for (const s of [store, ...others]) await s[Symbol.asyncDispose]();
      dir.remove();
    },
  });
}

function withSnapshot(s: Omit<TestStore, 'snapshot'>): TestStore {
  return {
    ...s,
    async snapshot(tables) {
      const rows = [];
      for (const t of tables) rows.push(await s.sql(`SELECT * FROM ${t} ORDER BY 1`));
      return JSON.stringify(rows);
    },
  };
}

/**
 * A `--db` value for `herald serve` on the backend under test: a SQLite file path, or a
 * fresh PostgreSQL database (a process cannot be given a schema); `drop` removes it.
 */
export async function testDatabaseUrl(
  tag: string,
  sqlitePath: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  if (db === 'postgres') return freshDatabase(tag);
  return { url: sqlitePath, drop: async () => undefined };
}

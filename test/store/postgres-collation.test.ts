/**
 * The PostgreSQL store on a database whose default collation is linguistic (ICU en-US, as a
 * database created with en_US or an ICU locale has): ids still order byte by byte (ids sort
 * by creation time only so, see core/ids.ts), so pages, time windows and the background
 * tasks' id ranges read the rows they read on a C database. The whole store contract runs
 * there too.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { Message } from '../../src/core/types.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import type { Store } from '../../src/store/store.js';
import { PG_URL } from '../pg.js';
import { storeContract } from './contract.js';

const name = `herald_coll_${process.pid}_${Date.now().toString(36)}`;
const url = new URL(PG_URL);
url.pathname = `/${name}`;
const URL_ICU = url.toString();
let schemas = 0;

async function admin<T>(run: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(PG_URL);
  await c.connect();
  try {
    return await run(c);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await admin((c) =>
    c.query(
      `CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`,
    ),
  );
});

afterAll(async () => {
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
});

/** Runs `sql` on the ICU database (in `schema` if given). */
async function onIcu(
  sql: string,
  params: unknown[] = [],
  schema?: string,
): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({
    connectionString: URL_ICU,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** Resolves once `store` has heard a notification sent after all it committed (see postgres.test.ts). */
async function wakesHeard(store: Store): Promise<void> {
  const barrier = `barrier_${Math.random().toString(36).slice(2)}`;
  const heard = new Promise<void>((resolve) => {
    const off = store.onWake((ids) => {
      if (ids?.includes(barrier)) {
        off();
        resolve();
      }
    });
  });
  await onIcu('SELECT pg_notify($1, $2)', ['herald_wake', JSON.stringify([barrier])]);
  await heard;
}

describe('on an ICU en-US database', () => {
  storeContract('postgres', async (clock, options) => {
    const schema = `coll_${schemas++}`;
    const store = await openPostgresStore({ url: URL_ICU, schema, clock, poolSize: 3, ...options });
    return {
      store,
      reopen: (again) => openPostgresStore({ url: URL_ICU, schema, clock, poolSize: 3, ...again }),
      wakesHeard: () => wakesHeard(store),
    };
  });
});

/** Byte order, the order of ids. */
const bytewise = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

describe('PostgreSQL ids on a linguistic-collation database', () => {
  let store: Store;
  let schema: string;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  afterEach(async () => {
    await store[Symbol.asyncDispose]();
  });

  /**
   * An application with an endpoint and 3 × 70 messages to it, 70 in each of 3 milliseconds:
   * ids of one millisecond count up by one, so their last digits run through 0-9, A-Z, a-z,
   * which en-US orders 0-9, aA, bB, …
   */
  async function seeded() {
    schema = `coll_${schemas++}`;
    store = await openPostgresStore({ url: URL_ICU, schema, clock, poolSize: 3 });
    const app = await store.createApplication({ name: 'A' });
    const ep = await store.createEndpoint(app.id, { url: 'http://127.0.0.1:9/hook' });
    const msgs: Message[] = [];
    const times: number[] = [];
    for (let ms = 0; ms < 3; ms++) {
      clock.advance(1);
      times.push(clock.now());
      for (let i = 0; i < 70; i++) {
        msgs.push((await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' })).message);
      }
    }
    // The premise: this database's own collation orders these ids otherwise.
    const linguistic = await onIcu(
      `SELECT id COLLATE "default" AS id FROM unnest($1::text[]) id ORDER BY 1`,
      [msgs.map((m) => m.id)],
    );
    expect(linguistic.map((r) => r.id)).not.toEqual(msgs.map((m) => m.id).sort(bytewise));
    return { app, ep, msgs, times };
  }

  it('declares every id and foreign id column COLLATE "C" (a later migration that forgets fails here)', async () => {
    schema = `coll_${schemas++}`;
    store = await openPostgresStore({ url: URL_ICU, schema, clock, poolSize: 1 });
    const rows = await onIcu(
      `SELECT table_name || '.' || column_name AS col FROM information_schema.columns
       WHERE table_schema = $1 AND data_type = 'text' AND collation_name IS DISTINCT FROM 'C'
         AND (column_name = 'id' OR column_name LIKE '%\\_id' OR column_name IN ('uid', 'hash')
              OR (table_name, column_name) = ('event_types', 'name'))
       ORDER BY 1`,
      [schema],
    );
    expect(rows.map((r) => r.col)).toEqual([]);
  });

  it('pages messages in id order, each once', async () => {
    const { app, msgs } = await seeded();
    const seen: string[] = [];
    let iterator: string | null = null;
    for (;;) {
      const page = await store.listMessages({ appId: app.id }, { limit: 7, iterator });
      seen.push(...page.data.map((m) => m.id));
      if (page.done) break;
      iterator = page.iterator;
    }
    expect(seen).toEqual(
      msgs
        .map((m) => m.id)
        .sort(bytewise)
        .reverse(),
    );
    const ascending: string[] = [];
    iterator = null;
    for (;;) {
      const page = await store.listMessages({ appId: app.id }, { limit: 9, iterator, order: 'ascending' });
      ascending.push(...page.data.map((m) => m.id));
      if (page.done) break;
      iterator = page.iterator;
    }
    expect(ascending).toEqual(msgs.map((m) => m.id).sort(bytewise));
  });

  it('a before/after window holds exactly the messages of its time', async () => {
    const { app, msgs, times } = await seeded();
    const page = await store.listMessages(
      { appId: app.id, after: times[0]!, before: times[2]! },
      { limit: 250 },
    );
    expect(page.data.map((m) => m.id)).toEqual(
      msgs
        .filter((m) => m.createdAt === times[1])
        .map((m) => m.id)
        .sort(bytewise)
        .reverse(),
    );
  });

  it('recover and replay-missing with no end reach every message of the window, a batch at a time', async () => {
    const { app, ep, msgs, times } = await seeded();
    // Disabling fails what is pending; enabled again, those wait for a recover.
    await store.updateEndpoint(app.id, ep.id, { disabled: true });
    await store.updateEndpoint(app.id, ep.id, { disabled: false });
    const window = { since: times[0]!, until: null };
    let recovered = 0;
    let after: string | null = null;
    do {
      const batch = await store.recoverBatch(ep.id, window, after, 13);
      recovered += batch.count;
      after = batch.next;
    } while (after !== null);
    expect(recovered).toBe(msgs.length);
    const late = await store.createEndpoint(app.id, { url: 'http://127.0.0.1:9/late' });
    let replayed = 0;
    after = null;
    do {
      const batch = await store.replayMissingBatch(late.id, window, after, 13);
      replayed += batch.count;
      after = batch.next;
    } while (after !== null);
    expect(replayed).toBe(msgs.length);
  });
});

/**
 * A queue table that outgrows its statistics is analyzed by the process completing
 * deliveries (src/store/postgres/planner-stats.ts), so that the delivery path's prepared
 * statements are re-planned on its real size: on a new database the completion's generic plan
 * otherwise scans every delivery, once per batch, until autovacuum's first pass.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';
import {
  CHECK_EVERY_COMPLETIONS,
  MIN_ROWS,
  OUTGROWN_FACTOR,
  plannerStatsLock,
} from '../../src/store/postgres/planner-stats.js';
import { acceptMany, claimFor, successOf } from '../helpers.js';
import { PG_URL } from '../pg.js';

const prefix = `ps${process.pid}_${Date.now().toString(36)}`;
const schemas: string[] = [];
const roles: string[] = [];
const admin = new pg.Client(PG_URL);
let store: PostgresStore | undefined;

afterEach(async () => {
  await store?.[Symbol.asyncDispose]();
  store = undefined;
});

afterAll(async () => {
  await admin.connect();
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  for (const r of roles) {
    await admin.query(`DROP OWNED BY ${r}`).catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${r}`);
  }
  await admin.end();
});

/**
 * Accepts `n` messages into `appId` on `schema` through a store of their own, closed after:
 * its sessions end with it, and a session that ends reports its row counts to the statistics
 * collector at once (an idle one can take ten seconds).
 */
async function load(schema: string, appId: string, n: number): Promise<void> {
  const loader = await openPostgresStore({ url: PG_URL, schema });
  await acceptMany(loader, appId, n);
  await loader[Symbol.asyncDispose]();
}

/**
 * A store on a new schema, with one application and endpoint and `n` messages accepted
 * ({@link load}). Autovacuum is off on the queue tables, so that only the store under test
 * analyzes them.
 */
async function storeWith(n: number) {
  const schema = `${prefix}_${schemas.length}`;
  schemas.push(schema);
  const setup = await openPostgresStore({ url: PG_URL, schema });
  const app = await setup.createApplication({ name: 'planner stats' });
  await setup.createEndpoint(app.id, { url: 'https://receiver.invalid/hook' });
  await setup[Symbol.asyncDispose]();
  await sql(schema, (c) =>
    c.query(
      'ALTER TABLE deliveries SET (autovacuum_enabled = false); ALTER TABLE messages SET (autovacuum_enabled = false); ALTER TABLE attempts SET (autovacuum_enabled = false)',
    ),
  );
  await load(schema, app.id, n);
  store = await openPostgresStore({ url: PG_URL, schema });
  return { store, schema, appId: app.id };
}

/** Runs `fn` on a connection of its own to `schema`. */
async function sql<T>(schema: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** What the planner knows of a table (`pg_class.reltuples`: -1 before any VACUUM or ANALYZE). */
async function plannerRows(schema: string, table: string): Promise<number> {
  const client = new pg.Client(PG_URL);
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      'SELECT c.reltuples::float8 AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relname = $2',
      [schema, table],
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

/**
 * Waits until the statistics collector counts at least `n` live rows in `table` (the
 * sessions that wrote them have ended: a moment).
 */
async function liveRowsCounted(schema: string, table: string, n: number): Promise<void> {
  const client = new pg.Client(PG_URL);
  await client.connect();
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rows } = await client.query<{ n: string }>(
        'SELECT n_live_tup AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2',
        [schema, table],
      );
      if (Number(rows[0]?.n ?? 0) >= n) return;
      if (Date.now() > deadline) throw new Error(`${table}: fewer than ${n} live rows counted after 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await client.end();
  }
}

describe('queue tables that outgrow their statistics (PostgreSQL)', () => {
  it('analyzes the tables holding more than four times the rows the planner knows, and then not again', async () => {
    const { store, schema, appId } = await storeWith(MIN_ROWS + 200);
    await liveRowsCounted(schema, 'deliveries', MIN_ROWS + 200);
    await liveRowsCounted(schema, 'messages', MIN_ROWS + 200);
    expect(await plannerRows(schema, 'deliveries')).toBeLessThan(MIN_ROWS);

    // No attempt yet: the attempts table is below MIN_ROWS and left alone.
    expect(await store.plannerStats.refresh()).toEqual(['deliveries', 'messages']);
    expect(await plannerRows(schema, 'deliveries')).toBe(MIN_ROWS + 200);
    expect(await plannerRows(schema, 'messages')).toBe(MIN_ROWS + 200);
    // The statistics now match: nothing has outgrown them.
    expect(await store.plannerStats.refresh()).toEqual([]);

    // Grown to the factor, not past it: left alone.
    const known = MIN_ROWS + 200;
    await load(schema, appId, (OUTGROWN_FACTOR - 1) * known);
    await liveRowsCounted(schema, 'deliveries', OUTGROWN_FACTOR * known);
    expect(await store.plannerStats.refresh()).toEqual([]);
    // Past it: analyzed again.
    await load(schema, appId, 10);
    await liveRowsCounted(schema, 'deliveries', OUTGROWN_FACTOR * known + 10);
    expect(await store.plannerStats.refresh()).toEqual(['deliveries', 'messages']);
    expect(await plannerRows(schema, 'deliveries')).toBe(OUTGROWN_FACTOR * known + 10);
  });

  it('looks only at the tables its user owns (PostgreSQL skips the others with a warning)', async () => {
    const { schema } = await storeWith(MIN_ROWS);
    await liveRowsCounted(schema, 'deliveries', MIN_ROWS);
    // Herald's user: not a superuser (to whom every table is its own), owning `messages`
    // only, with the privileges it needs on the rest (migrated by another role).
    const user = `${schema}_herald`;
    roles.push(user);
    await sql(schema, async (c) => {
      await c.query(`CREATE ROLE ${user} LOGIN`);
      await c.query(`GRANT USAGE, CREATE ON SCHEMA ${schema} TO ${user}`);
      await c.query(`GRANT ALL ON ALL TABLES IN SCHEMA ${schema} TO ${user}`);
      await c.query(`ALTER TABLE messages OWNER TO ${user}`);
    });
    const url = new URL(PG_URL);
    url.username = user;
    const asUser = await openPostgresStore({ url: url.toString(), schema, migrate: false });
    try {
      expect(await asUser.plannerStats.refresh()).toEqual(['messages']);
    } finally {
      await asUser[Symbol.asyncDispose]();
    }
    expect(await plannerRows(schema, 'deliveries')).toBeLessThan(MIN_ROWS);
    expect(await plannerRows(schema, 'messages')).toBe(MIN_ROWS);
  });

  it('is checked by the process completing deliveries, once every thousand it completes', async () => {
    const { store, schema } = await storeWith(CHECK_EVERY_COMPLETIONS);
    await liveRowsCounted(schema, 'deliveries', CHECK_EVERY_COMPLETIONS);
    const now = Date.now();
    const claimed = await claimFor(store, now, CHECK_EVERY_COMPLETIONS);
    expect(claimed).toHaveLength(CHECK_EVERY_COMPLETIONS);
    const done = (d: (typeof claimed)[number]) => successOf(d, now);
    // One short of the count: no check has started.
    await store.complete(claimed.slice(0, -1).map(done), now, 86_400_000);
    expect(await store.plannerStats.settled()).toEqual([]);
    expect(await plannerRows(schema, 'deliveries')).toBeLessThan(CHECK_EVERY_COMPLETIONS);
    // The thousandth completion starts one, which analyzes the deliveries the planner did not know of.
    await store.complete(claimed.slice(-1).map(done), now, 86_400_000);
    expect(await store.plannerStats.settled()).toContain('deliveries');
    expect(await plannerRows(schema, 'deliveries')).toBe(CHECK_EVERY_COMPLETIONS);
  });

  it('leaves the work to the process that holds the lock', async () => {
    const { store, schema } = await storeWith(MIN_ROWS);
    await liveRowsCounted(schema, 'deliveries', MIN_ROWS);
    const other = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await other.connect();
    try {
      await other.query('BEGIN');
      // Another process analyzing: it holds the lock.
      await other.query('SELECT pg_advisory_xact_lock($1)', [plannerStatsLock(schema)]);
      expect(await store.plannerStats.refresh()).toEqual([]);
      await other.query('COMMIT');
      expect(await store.plannerStats.refresh()).toEqual(['deliveries', 'messages']);
    } finally {
      await other.end();
    }
  });
});

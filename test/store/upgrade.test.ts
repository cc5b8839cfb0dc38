/**
 * Upgrades with data in the database: for each schema an earlier Herald left (every version
 * from 1 to the one before the newest), a database at that version holding rows in every
 * table it has is opened by this Herald's store, which migrates it; the data must come
 * through intact and usable (messages listed, their payloads read, a due delivery claimed and
 * completed, attempts listed, the health probe committed), on the store under test.
 *
 * The rows are written by this Herald's store (through its API: applications, endpoints,
 * messages with deliveries and attempts, tokens, idempotent answers, a source's request log,
 * a background task) into a fresh database, then copied, column by column, into the older
 * schema built from the migration files up to that version: what an older Herald wrote, in
 * the columns it had.
 */
import { readdirSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/api/auth.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/store.js';
import { type Fixture, fixture } from '../delivery/fixture.js';
import { attemptOf, type Receiver, startReceiver, tempDir } from '../helpers.js';
import { PG_URL } from '../pg.js';
import { db } from '../store-under-test.js';

const MIGRATIONS = new URL(`../../src/store/${db}/migrations/`, import.meta.url);
const files = readdirSync(MIGRATIONS)
  .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
  .sort();
const versionOf = (file: string) => Number(file.slice(0, 3));
const newest = versionOf(files.at(-1)!);
/** Every schema an older Herald may have left: each version before the newest. */
const BASES = files.map(versionOf).filter((v) => v < newest);
/** The tables whose rows no migration rewrites: they must come through unchanged. */
const KEPT_AS_THEY_WERE = ['applications', 'endpoints', 'messages', 'deliveries', 'attempts'];

const dir = tempDir();
let f: Fixture;
let receiver: Receiver;
/** What the fresh database holds: the ids the checks look for. */
let written: { appId: string; delivered: string; due: string; endpointId: string };

beforeAll(async () => {
  f = await fixture();
  receiver = await startReceiver((_req, res) => res.end('thanks'));
  const { store } = f;
  await store.upsertEventType({ name: 'order.paid', description: 'An order was paid' });
  const endpoint = await store.createEndpoint(f.appId, { url: receiver.url, headers: { 'x-shop': 'one' } });
  const attempt = f.nextAttempt(endpoint.id);
  const delivered = await store.acceptMessage({
    appId: f.appId,
    eventType: 'order.paid',
    payload: '{"order":1}',
    tags: ['shop'],
  });
  await attempt;
  // No dispatcher from here on: the next message's delivery is left due, for the upgrade.
  await f.dispatcher.stop();
  const due = await store.acceptMessage({ appId: f.appId, eventType: 'order.paid', payload: '{"order":2}' });
  await store.saveToken(hashToken('upgrade-admin'), null);
  await store.saveToken(hashToken('upgrade-app'), f.appId);
  await store.saveIdempotent(
    'scope',
    'key-1',
    { requestHash: 'h', statusCode: 202, response: '{}', createdAt: Date.now() },
    0,
  );
  const source = await store.createSource({ name: 'stripe', provider: 'none', secrets: [], appId: f.appId });
  await store.recordInbound({
    sourceId: source.id,
    status: 'accepted',
    reason: null,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from('{"in":1}'),
    bodySize: 8,
    msgId: null,
  });
  written = { appId: f.appId, delivered: delivered.message.id, due: due.message.id, endpointId: endpoint.id };
});

afterAll(async () => {
  await receiver?.close();
  await f?.close();
  dir.remove();
});

/** A database at schema `base`, holding the fresh database's rows in the columns it has. */
interface OldDatabase {
  open(): Promise<Store>;
  /** The rows of `table` in the columns schema `base` had, as text, oldest first. */
  rows(table: string): Promise<string>;
  /** The versions its ledger records. */
  versions(): Promise<number[]>;
  close(): Promise<void>;
}

async function sqliteAt(base: number): Promise<OldDatabase> {
  const path = dir.path(`upgrade-from-${base}.db`);
  const raw = new Database(path);
  raw.exec(`CREATE TABLE herald_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  for (const file of files.filter((x) => versionOf(x) <= base)) {
    raw.exec(readFileSync(new URL(file, MIGRATIONS), 'utf8'));
    raw.prepare('INSERT INTO herald_migrations VALUES (?, ?, 0)').run(versionOf(file), file);
  }
  const columns = (table: string) =>
    (raw.pragma(`table_info(${table})`) as { name: string }[]).map((c) => `"${c.name}"`).join(', ');
  const tables = raw
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'herald_migrations'",
    )
    .all()
    .map((t) => t.name);
  raw.prepare('ATTACH DATABASE ? AS fresh').run(f.testStore.location);
  // OR IGNORE: rows a migration inserts itself (012's reserved operational application) are
  // in both databases already.
  for (const table of tables)
    raw.exec(
      `INSERT OR IGNORE INTO main.${table} (${columns(table)}) SELECT ${columns(table)} FROM fresh.${table}`,
    );
  raw.exec('DETACH DATABASE fresh');
  const snapshot = new Map(tables.map((t) => [t, columns(t)]));
  return {
    open: async () => openSqliteStore({ path }),
    rows: async (table) =>
      JSON.stringify(raw.prepare(`SELECT ${snapshot.get(table)} FROM ${table} ORDER BY 1`).all()),
    versions: async () =>
      raw
        .prepare<[], { version: number }>('SELECT version FROM herald_migrations ORDER BY version')
        .all()
        .map((r) => r.version),
    close: async () => {
      raw.close();
    },
  };
}

async function postgresAt(base: number): Promise<OldDatabase> {
  const schema = `t${process.pid}_${Date.now().toString(36)}_upgrade_${base}`;
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`CREATE TABLE herald_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
  for (const file of files.filter((x) => versionOf(x) <= base)) {
    await client.query(readFileSync(new URL(file, MIGRATIONS), 'utf8'));
    await client.query('INSERT INTO herald_migrations VALUES ($1, $2, 0)', [versionOf(file), file]);
  }
  const { rows: cols } = await client.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
     WHERE table_schema = $1 AND table_name <> 'herald_migrations' ORDER BY table_name, ordinal_position`,
    [schema],
  );
  const byTable = new Map<string, string[]>();
  for (const c of cols)
    byTable.set(c.table_name, [...(byTable.get(c.table_name) ?? []), `"${c.column_name}"`]);
  // Parents and children in any order: the copy skips the foreign keys' triggers.
  await client.query('SET session_replication_role = replica');
  for (const [table, list] of byTable)
    await client.query(
      `INSERT INTO ${schema}.${table} (${list.join(', ')}) SELECT ${list.join(', ')} FROM ${f.testStore.location}.${table} ON CONFLICT DO NOTHING`,
    );
  await client.query('SET session_replication_role = DEFAULT');
  return {
    open: async () => openPostgresStore({ url: PG_URL, schema, poolSize: 2 }),
    rows: async (table) =>
      JSON.stringify(
        (await client.query(`SELECT ${byTable.get(table)!.join(', ')} FROM ${table} ORDER BY 1`)).rows,
      ),
    versions: async () =>
      (
        await client.query<{ version: number }>('SELECT version FROM herald_migrations ORDER BY version')
      ).rows.map((r) => r.version),
    close: async () => {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
      await client.end();
    },
  };
}

describe(`upgrading a ${db} database with data in it`, () => {
  it.each(BASES)('from schema version %i to the newest', async (base) => {
    const old = db === 'sqlite' ? await sqliteAt(base) : await postgresAt(base);
    try {
      const tables = KEPT_AS_THEY_WERE;
      // One after the other: one connection runs one query at a time.
      const all = async () => {
        const out: string[] = [];
        for (const t of tables) out.push(await old.rows(t));
        return out;
      };
      const before = await all();
      expect(JSON.parse(before[tables.indexOf('attempts')]!)).toHaveLength(1);
      const store = await old.open();
      try {
        expect(await old.versions()).toEqual(files.map(versionOf));
        expect(await all()).toEqual(before);
        // Usable: listed, read, claimed, sent, recorded, and the health probe commits.
        const { appId } = written;
        const listed = await store.listMessages({ appId }, { limit: 10 });
        expect(listed.data.map((m) => m.id).sort()).toEqual([written.delivered, written.due].sort());
        expect((await store.getMessage(appId, written.delivered))?.payload).toBe('{"order":1}');
        const attempts = await store.listAttempts({ appId, msgId: written.delivered }, { limit: 5 });
        expect(attempts.data.map((a) => [a.succeeded, a.responseBody])).toEqual([[true, 'thanks']]);
        const claimed = await store.claimDue({
          owner: 'after-upgrade',
          now: Date.now(),
          leaseMs: 60_000,
          limit: 10,
          skipEndpoints: [],
        });
        expect(claimed.map((d) => [d.msgId, d.endpointId, d.payload])).toEqual([
          [written.due, written.endpointId, '{"order":2}'],
        ]);
        const [delivery] = claimed;
        await store.complete(
          [
            {
              owner: 'after-upgrade',
              deliveryId: delivery!.id,
              endpointId: delivery!.endpointId,
              attempt: null,
              next: { status: 'succeeded' },
              disableEndpoint: false,
            },
          ],
          Date.now(),
          86_400_000,
        );
        expect((await store.getDelivery(written.due, written.endpointId))?.status).toBe('succeeded');
        expect((await store.getEndpoint(appId, written.endpointId))?.headers).toEqual({ 'x-shop': 'one' });
        await store.ping();
        // The activity minutes (019) start counting at once (a schema that had them holds the
        // fresh database's counts already), and the retry index answers.
        const at = Date.now();
        const minute = at - (at % 60_000);
        const accepted = async () =>
          (await store.activity(minute, minute + 120_000, 120_000)).reduce((n, b) => n + b.accepted, 0);
        const acceptedBefore = await accepted();
        await store.acceptMessage({ appId, eventType: 'order.paid', payload: '{"order":3}' });
        expect(await accepted()).toBe(acceptedBefore + 1);
        expect(await store.countRetrying()).toEqual({ endpoints: 0, deliveries: 0 });
        expect(await store.snapshotActivity(Date.now())).toBe(true);
        // 020: a message keeps the idempotency key it was accepted with; the search and the
        // status filter answer on the rows an older Herald wrote too.
        const keyed = await store.acceptMessage({
          appId,
          eventType: 'order.paid',
          payload: '{"order":4}',
          idempotencyKey: 'after-upgrade',
        });
        expect((await store.findMessages('after-upgrade', 5)).map((m) => [m.matched, m.message.id])).toEqual([
          ['idempotencyKey', keyed.message.id],
        ]);
        expect((await store.findMessages(written.delivered, 5)).map((m) => m.matched)).toEqual(['id']);
        expect((await store.findEndpointsByUrl(receiver.url, 5)).map((e) => e.id)).toEqual([
          written.endpointId,
        ]);
        const pending = await store.listMessages({ appId, deliveryStatus: 'pending' }, { limit: 10 });
        expect(pending.data.map((m) => m.id)).toContain(keyed.message.id);
        expect(pending.data.map((m) => m.id)).not.toContain(written.delivered);
        // The failure groups (021) count a failed attempt at once, with the delivery failed now.
        const [third] = await store.claimDue({
          owner: 'after-upgrade',
          now: Date.now(),
          leaseMs: 60_000,
          limit: 10,
          skipEndpoints: [],
        });
        const failedAt = Date.now();
        await store.complete(
          [
            {
              owner: 'after-upgrade',
              deliveryId: third!.id,
              endpointId: third!.endpointId,
              attempt: { ...attemptOf(third!, false, failedAt, receiver.url), statusCode: 503 },
              next: { status: 'failed', exhausted: true },
              disableEndpoint: false,
            },
          ],
          failedAt,
          86_400_000,
        );
        const failures = await store.listFailures({ groupBy: 'endpoint', failedSince: 0, limit: 10 });
        expect(failures.data.map((g) => [g.cause, g.attempts, g.failedNow, g.failing])).toEqual([
          ['http_5xx', 1, 1, true],
        ]);
      } finally {
        await store[Symbol.asyncDispose]();
      }
    } finally {
      await old.close();
    }
  });
});

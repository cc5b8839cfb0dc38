/**
 * Upgrades and backups: `herald migrate` brings a database to this Herald's schema and says so,
 * a schema newer than this Herald knows is refused before anything changes, `herald serve
 * --no-migrate` refuses an old schema, and `herald backup` copies a SQLite database while
 * `herald serve` keeps writing to it. On the backend under test (`HERALD_TEST_DB`).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { startHerald } from '../serve.js';
import { db, testDatabaseUrl } from '../store-under-test.js';
import { herald } from './run.js';

const dir = tempDir();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
  dir.remove();
});

const MIGRATIONS = new URL(`../../src/store/${db}/migrations/`, import.meta.url);
const files = readdirSync(MIGRATIONS)
  .filter((f) => /^\d{3}_/.test(f))
  .sort();
const newest = Number(files.at(-1)!.slice(0, 3));
/** The version before it (numbers are assigned ahead, so there may be a gap). */
const previous = Number(files.at(-2)!.slice(0, 3));

let made = 0;
/** A fresh, empty database of the backend under test. */
async function emptyDatabase(): Promise<string> {
  const { url, drop } = await testDatabaseUrl('migrate', dir.path(`migrate-${made++}.db`));
  drops.push(drop);
  return url;
}

/** Runs SQL on the database `url` names, as an older Herald or an operator would. */
async function raw(url: string, sql: string): Promise<Record<string, unknown>[]> {
  if (db === 'sqlite') {
    const sqlite = new Database(url);
    try {
      const statement = sqlite.prepare(sql);
      if (statement.reader) return statement.all() as Record<string, unknown>[];
      statement.run();
      return [];
    } finally {
      sqlite.close();
    }
  }
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A database at the schema before the newest migration: what the previous Herald left. */
async function oneVersionBehind(): Promise<string> {
  const url = await emptyDatabase();
  await raw(
    url,
    'CREATE TABLE herald_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  );
  for (const file of files.slice(0, -1)) {
    const sql = readFileSync(new URL(file, MIGRATIONS), 'utf8');
    if (db === 'sqlite') {
      const sqlite = new Database(url);
      sqlite.exec(sql);
      sqlite.close();
    } else await raw(url, sql);
    await raw(url, `INSERT INTO herald_migrations VALUES (${Number(file.slice(0, 3))}, '${file}', 0)`);
  }
  return url;
}

const versions = async (url: string) =>
  (await raw(url, 'SELECT version FROM herald_migrations ORDER BY version')).map((r) => Number(r.version));

describe('herald migrate', () => {
  it('applies what is pending, says from which version to which, and finds nothing to do the second time', async () => {
    const url = await oneVersionBehind();
    const first = await herald(['migrate', '--db', url]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(
      `applied 1 migration (${newest}), schema version ${previous} -> ${newest}`,
    );
    expect(await versions(url)).toEqual(files.map((f) => Number(f.slice(0, 3))));
    const again = await herald(['migrate', '--db', url]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`is at schema version ${newest}; nothing to apply`);
  });

  it('refuses a schema newer than this Herald knows, naming both versions, and changes nothing', async () => {
    const url = await oneVersionBehind();
    await raw(url, `INSERT INTO herald_migrations VALUES (${newest + 40}, 'from_the_future.sql', 0)`);
    const before = await versions(url);
    for (const args of [['migrate'], ['serve', '--port', '0']]) {
      const r = await herald([...args, '--db', url]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `the database schema is at version ${newest + 40}, newer than this Herald knows (up to version ${newest}`,
      );
      expect(r.stderr).not.toContain('    at ');
      // The pending migration was not applied either.
      expect(await versions(url)).toEqual(before);
    }
  });

  it('is what serve --no-migrate asks for: an old schema is refused until migrated', async () => {
    const url = await oneVersionBehind();
    const refused = await herald(['serve', '--port', '0', '--no-migrate', '--db', url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `the database schema is at version ${previous}; this Herald runs on version ${newest}: run \`herald migrate --db`,
    );
    expect(await versions(url)).not.toContain(newest);
    expect((await herald(['migrate', '--db', url])).code).toBe(0);
    const server = await startHerald(['--no-migrate'], {}, { db: url });
    try {
      expect((await server.post('/app', { name: 'after the upgrade' })).id).toMatch(/^app_/);
    } finally {
      await server.stop();
    }
  });

  it('refuses an empty database under --no-migrate without creating anything in it', async () => {
    const url = await emptyDatabase();
    const r = await herald(['serve', '--port', '0', '--no-migrate', '--db', url]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the database schema is at version 0; this Herald runs on version ${newest}`);
    const tables =
      db === 'sqlite'
        ? await raw(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
        : await raw(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
    expect(tables).toEqual([]);
  });
});

describe.skipIf(db === 'postgres')('herald backup (SQLite; PostgreSQL is backed up with pg_dump)', () => {
  it('copies the database while serve writes to it: the copy is whole and holds every message acknowledged before', async () => {
    const path = dir.path('live.db');
    const server = await startHerald([], {}, { db: path });
    try {
      const app = await server.post('/app', { name: 'backed up' });
      const before = [];
      for (let i = 0; i < 50; i++)
        before.push((await server.post(`/app/${app.id}/msg`, { eventType: 'a.b', payload: { i } })).id);
      // Writes keep landing while the copy runs.
      let writing = true;
      const writer = (async () => {
        let i = 0;
        while (writing && i < 500)
          await server.post(`/app/${app.id}/msg`, { eventType: 'a.b', payload: { i: i++ } });
      })();
      const copy = dir.path('copy.db');
      const r = await herald(['backup', copy, '--db', path]);
      writing = false;
      await writer;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`backed up .* to ${copy} \\(\\d+ pages\\)`));
      const backup = new Database(copy, { readonly: true });
      try {
        expect(backup.pragma('integrity_check', { simple: true })).toBe('ok');
        const ids = new Set(
          (backup.prepare('SELECT id FROM messages').all() as { id: string }[]).map((m) => m.id),
        );
        for (const id of before) expect(ids.has(id)).toBe(true);
      } finally {
        backup.close();
      }
    } finally {
      await server.stop();
    }
  });

  it('never overwrites a file, and sends PostgreSQL users to pg_dump', async () => {
    const path = dir.path('small.db');
    expect((await herald(['migrate', '--db', path])).code).toBe(0);
    const taken = dir.path('taken.db');
    writeFileSync(taken, 'mine');
    const r = await herald(['backup', taken, '--db', path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('exists; name a new file (nothing was overwritten)');
    expect(readFileSync(taken, 'utf8')).toBe('mine');
    const missing = await herald(['backup', dir.path('out.db'), '--db', dir.path('nope.db')]);
    expect(missing.stderr).toContain('no such database file');
    expect(existsSync(dir.path('nope.db'))).toBe(false);
    const pgUrl = await herald(['backup', dir.path('out.db'), '--db', 'postgres://localhost/x']);
    expect(pgUrl.code).toBe(2);
    expect(pgUrl.stderr).toContain('back up PostgreSQL with pg_dump');
  });
});

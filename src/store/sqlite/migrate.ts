import { readdirSync, readFileSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { type MigrationPlan, migrationsToApply } from '../schema-version.js';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
const FILE_PATTERN = /^(\d{3})_[a-z0-9_]+\.sql$/;

/** A numbered migration file. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The migrations shipped with Herald, in order. */
export function loadMigrations(): Migration[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => FILE_PATTERN.test(f))
    .sort()
    .map((name) => ({
      version: Number(name.slice(0, 3)),
      name,
      sql: readFileSync(new URL(name, MIGRATIONS_DIR), 'utf8'),
    }));
}

/**
 * Puts a new, empty database file in `auto_vacuum = INCREMENTAL` mode, so that the space the
 * retention sweeps free goes back to the file system (`Store.reclaimSpace`). SQLite takes the
 * mode only before the first table exists, and before the file turns to WAL: call it first.
 * An existing file keeps its mode; `VACUUM` after `PRAGMA auto_vacuum = INCREMENTAL` changes
 * it (README, "Retention and disk space").
 */
export function vacuumIncrementallyIfNew(db: BetterSqlite3.Database): void {
  const tables = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM sqlite_master').get()!;
  if (tables.n === 0) db.pragma('auto_vacuum = INCREMENTAL');
}

/**
 * Applies the migrations not yet in the `herald_migrations` ledger, each in its own
 * transaction, after checking the ledger against what this Herald knows
 * ({@link migrationsToApply}: a newer schema, or an older one with `migrate` false, is
 * refused before anything is written). `BEGIN IMMEDIATE` takes the write lock first, so two
 * processes migrating at once run one after the other and the second finds the work done.
 */
export function migrate(
  db: BetterSqlite3.Database,
  now: number,
  options: { migrate?: boolean } = {},
): MigrationPlan {
  const migrations = loadMigrations();
  const ledger = db
    .prepare<[], { n: number }>(
      "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'herald_migrations'",
    )
    .get()!;
  const recorded = () =>
    ledger.n === 0
      ? []
      : db
          .prepare<[], { version: number }>('SELECT version FROM herald_migrations')
          .all()
          .map((r) => r.version);
  const plan = migrationsToApply(
    recorded(),
    migrations.map((m) => m.version),
    options.migrate ?? true,
  );
  if (plan.pending.length === 0) return plan;
  db.exec(`CREATE TABLE IF NOT EXISTS herald_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  for (const migration of migrations) {
    db.exec('BEGIN IMMEDIATE');
    try {
      const done = db.prepare('SELECT 1 FROM herald_migrations WHERE version = ?').get(migration.version);
      if (!done) {
        db.exec(migration.sql);
        db.prepare('INSERT INTO herald_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
          migration.version,
          migration.name,
          now,
        );
      }
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }
  return plan;
}

import { readdirSync, readFileSync } from 'node:fs';
import type { PoolClient } from 'pg';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
const FILE_PATTERN = /^(\d{3})_[a-z0-9_]+\.sql$/;
/** Advisory lock key serialising migrators across processes (any constant would do). */
const MIGRATION_LOCK = 0x6865_7261;

/**
 * Creates `schema` (an identifier checked by the caller) and applies the migrations not yet
 * in its `herald_migrations` ledger, in one transaction
 * holding an advisory lock, so processes starting at once migrate one after the other.
 */
export async function migrate(client: PoolClient, now: number, schema: string): Promise<number> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => FILE_PATTERN.test(f))
    .sort();
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    // Under the lock: concurrent CREATE SCHEMA IF NOT EXISTS can fail on a unique index.
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS herald_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM herald_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    let applied = 0;
    for (const name of files) {
      const version = Number(name.slice(0, 3));
      if (done.has(version)) continue;
      await client.query(readFileSync(new URL(name, MIGRATIONS_DIR), 'utf8'));
      await client.query('INSERT INTO herald_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        version,
        name,
        now,
      ]);
      applied++;
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

import { readdirSync, readFileSync } from 'node:fs';
import type { ClientBase } from 'pg';
import { type MigrationPlan, migrationsToApply } from '../schema-version.js';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
const FILE_PATTERN = /^(\d{3})_[a-z0-9_]+\.sql$/;
/** Advisory lock key serialising migrators across processes (any constant would do). */
const MIGRATION_LOCK = 0x6865_7261;

/**
 * Creates `schema` (an identifier checked by the caller) and applies the migrations not yet
 * in its `herald_migrations` ledger, in one transaction holding an advisory lock, so
 * processes starting at once migrate one after the other. The ledger is checked against
 * what this Herald knows first ({@link migrationsToApply}): a newer schema, or an older one
 * with `migrate` false, is refused before anything is written.
 */
export async function migrate(
  client: ClientBase,
  now: number,
  schema: string,
  options: { migrate?: boolean } = {},
): Promise<MigrationPlan> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => FILE_PATTERN.test(f))
    .sort();
  const version = (name: string) => Number(name.slice(0, 3));
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    const ledger = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [
      `${schema}.herald_migrations`,
    ]);
    const recorded =
      ledger.rows[0]?.t == null
        ? []
        : (await client.query<{ version: number }>('SELECT version FROM herald_migrations')).rows.map(
            (r) => r.version,
          );
    const plan = migrationsToApply(recorded, files.map(version), options.migrate ?? true);
    if (plan.pending.length > 0) {
      // Under the lock: concurrent CREATE SCHEMA IF NOT EXISTS can fail on a unique index.
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS herald_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      for (const name of files) {
        if (!plan.pending.includes(version(name))) continue;
        await client.query(readFileSync(new URL(name, MIGRATIONS_DIR), 'utf8'));
        await client.query('INSERT INTO herald_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          version(name),
          name,
          now,
        ]);
      }
    }
    await client.query('COMMIT');
    return plan;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  }
}

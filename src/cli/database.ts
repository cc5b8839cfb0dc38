/**
 * `herald migrate` and `herald backup`: what a deploy step or an operator does to the database
 * itself, without starting a server.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { migrateDatabase } from '../store/open.js';
import { CliError } from './manage.js';

/** Applies pending migrations to `db` and says where the schema stands. */
export async function migrateCommand(db: string): Promise<void> {
  const plan = await migrateDatabase(db, Date.now());
  const where = `herald: database ${redactUrl(db)}`;
  process.stdout.write(
    plan.pending.length === 0
      ? `${where} is at schema version ${plan.to}; nothing to apply\n`
      : `${where}: applied ${plan.pending.length} migration${plan.pending.length === 1 ? '' : 's'} ` +
          `(${plan.pending.join(', ')}), schema version ${plan.from} -> ${plan.to}\n`,
  );
}

/**
 * Copies the SQLite database `db` to `file` with SQLite's online backup API: a consistent
 * copy while `herald serve` keeps writing (the copy restarts when a write lands in a page
 * already copied, so it ends on one commit). PostgreSQL is backed up with its own tools.
 */
export async function backupCommand(db: string, file: string): Promise<void> {
  if (/^postgres(ql)?:\/\//.test(db))
    throw new CliError(
      'herald backup copies a SQLite database; back up PostgreSQL with pg_dump (README, "Backups")',
    );
  if (!existsSync(db)) throw new CliError(`--db ${db}: no such database file`);
  if (existsSync(file)) throw new CliError(`${file} exists; name a new file (nothing was overwritten)`);
  const source = new Database(db, { fileMustExist: true });
  try {
    source.pragma('busy_timeout = 5000');
    const { totalPages } = await source.backup(file);
    process.stdout.write(`herald: backed up ${db} to ${file} (${totalPages} pages)\n`);
  } finally {
    source.close();
  }
}

/** A database URL without its password, for printing. */
export function redactUrl(db: string): string {
  try {
    const url = new URL(db);
    if (url.password) url.password = '***';
    return url.protocol === 'file:' ? db : url.toString();
  } catch {
    return db;
  }
}

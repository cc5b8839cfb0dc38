/**
 * The schema version of a database: the highest migration its `herald_migrations` ledger
 * records. Both backends' migrators ask {@link migrationsToApply} what to do before they
 * touch anything, so that an old binary never runs on a schema it does not know, and
 * `herald serve --no-migrate` never changes a schema.
 */
import { HeraldError } from '../core/errors.js';

/** The database's schema does not match what this Herald runs on; nothing was changed. */
export class SchemaVersionError extends HeraldError {
  constructor(
    override readonly code: 'schema_too_new' | 'schema_outdated',
    message: string,
  ) {
    super(message);
  }
}

/** What the migrator should do with a database. */
export interface MigrationPlan {
  /** Versions to apply, in order. */
  pending: number[];
  /** The database's version before (0: an empty database). */
  from: number;
  /** The version this Herald runs on: its newest migration. */
  to: number;
}

/**
 * Plans a migration: the known versions the ledger lacks. Refuses a database that records a
 * version this Herald does not know (a newer Herald migrated it), and, when `migrate` is
 * false, one that is behind.
 */
export function migrationsToApply(
  applied: Iterable<number>,
  known: readonly number[],
  migrate: boolean,
): MigrationPlan {
  const done = new Set(applied);
  const to = Math.max(0, ...known);
  const from = Math.max(0, ...done);
  const unknown = [...done].filter((v) => !known.includes(v)).sort((a, b) => a - b);
  if (unknown.length > 0)
    throw new SchemaVersionError(
      'schema_too_new',
      `the database schema is at version ${from}, newer than this Herald knows (up to version ${to}; ` +
        `unknown: ${unknown.join(', ')}): run a Herald release that has these migrations; nothing was changed`,
    );
  const pending = known.filter((v) => !done.has(v));
  if (!migrate && pending.length > 0)
    throw new SchemaVersionError(
      'schema_outdated',
      `the database schema is at version ${from}; this Herald runs on version ${to}: ` +
        'run `herald migrate --db …` first (or start without --no-migrate); nothing was changed',
    );
  return { pending, from, to };
}

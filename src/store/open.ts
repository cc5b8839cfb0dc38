/** Opens the store a `--db` value names. */
import Database from 'better-sqlite3';
import pg from 'pg';
import { StoreUnavailableError, ValidationError } from '../core/errors.js';
import type { InboundRetention } from './inbound-retention.js';
import { openPostgresStore } from './postgres/index.js';
import { migrate as migratePostgres } from './postgres/migrate.js';
import type { MigrationPlan } from './schema-version.js';
import { plainBox, type SecretBox } from './secret-box.js';
import { openSqliteStore } from './sqlite/index.js';
import { migrate as migrateSqlite, vacuumIncrementallyIfNew } from './sqlite/migrate.js';
import type { Store } from './store.js';

/** Options every backend takes from `herald serve`. */
export interface OpenStoreOptions {
  /** How much of the inbound request log is kept. Default `INBOUND_RETENTION_DEFAULTS`. */
  inboundRetention?: Partial<InboundRetention>;
  /** Applies pending migrations (default); `false` refuses a database that has some. */
  migrate?: boolean;
  /** PostgreSQL only: see `ConnectionOptions.preparedStatements`. Default true. */
  postgresPreparedStatements?: boolean;
}

const isPostgres = (db: string) => /^postgres(ql)?:\/\//.test(db);

/** Opens the store named by `--db`: a `postgres://` URL, or else a SQLite file path. */
export async function openStore(
  db: string,
  secretBox: SecretBox = plainBox,
  options: OpenStoreOptions = {},
): Promise<Store> {
  const { postgresPreparedStatements, ...common } = options;
  if (isPostgres(db))
    return openPostgresStore({
      url: db,
      secretBox,
      ...common,
      ...(postgresPreparedStatements === undefined ? {} : { preparedStatements: postgresPreparedStatements }),
    });
  if (db.includes('://'))
    throw new ValidationError('--db', 'must be a SQLite file path or a postgres:// URL');
  return openSqliteStore({ path: db, secretBox, ...common });
}

/**
 * Brings the database `--db` names to this Herald's schema and nothing else (`herald
 * migrate`, a deploy step before the new processes start): no secret is resealed, no
 * worker starts. Refuses a schema newer than this Herald's.
 */
export async function migrateDatabase(db: string, now: number): Promise<MigrationPlan> {
  if (isPostgres(db)) {
    // The schema herald serve uses (its pool sets the same search_path).
    const client = new pg.Client({ connectionString: db, options: '-c search_path=public' });
    await client.connect().catch((error: Error) => {
      throw new StoreUnavailableError(`cannot connect to PostgreSQL: ${error.message}`, { cause: error });
    });
    try {
      return await migratePostgres(client, now, 'public');
    } finally {
      await client.end();
    }
  }
  if (db.includes('://'))
    throw new ValidationError('--db', 'must be a SQLite file path or a postgres:// URL');
  const sqlite = new Database(db);
  try {
    vacuumIncrementallyIfNew(sqlite);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    return migrateSqlite(sqlite, now);
  } finally {
    sqlite.close();
  }
}

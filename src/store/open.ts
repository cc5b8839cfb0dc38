/** Opens the store a `--db` value names. */
import { ValidationError } from '../core/errors.js';
import type { InboundRetention } from './inbound-retention.js';
import { openPostgresStore } from './postgres/index.js';
import { plainBox, type SecretBox } from './secret-box.js';
import { openSqliteStore } from './sqlite/index.js';
import type { Store } from './store.js';

/** Options every backend takes from `herald serve`. */
export interface OpenStoreOptions {
  /** How much of the inbound request log is kept. Default `INBOUND_RETENTION_DEFAULTS`. */
  inboundRetention?: Partial<InboundRetention>;
}

/** Opens the store named by `--db`: a `postgres://` URL, or else a SQLite file path. */
export async function openStore(
  db: string,
  secretBox: SecretBox = plainBox,
  options: OpenStoreOptions = {},
): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(db)) return openPostgresStore({ url: db, secretBox, ...options });
  if (db.includes('://'))
    throw new ValidationError('--db', 'must be a SQLite file path or a postgres:// URL');
  return openSqliteStore({ path: db, secretBox, ...options });
}

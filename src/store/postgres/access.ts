/** API tokens (their hashes) and idempotency keys on PostgreSQL. */
import { type IdempotencyRow, toIdempotentAnswer } from '../rows.js';
import type { IdempotentAnswer } from '../store.js';
import type { PostgresConnection } from './connection.js';

/** Tokens and idempotent answers of a PostgreSQL store. */
export class PostgresAccess {
  constructor(private readonly conn: PostgresConnection) {}

  /** See `Store`. */
  async saveToken(hash: string, appId: string | null): Promise<void> {
    await this.conn.q(
      'INSERT INTO api_tokens (hash, app_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [hash, appId, this.conn.clock.now()],
    );
  }

  /** See `Store`. */
  async findToken(hash: string): Promise<{ appId: string | null } | null> {
    const row = (
      await this.conn.q<{ app_id: string | null }>('SELECT app_id FROM api_tokens WHERE hash = $1', [hash])
    ).rows[0];
    return row ? { appId: row.app_id } : null;
  }

  /** See `Store`. */
  async hasAdminToken(): Promise<boolean> {
    return (await this.conn.q('SELECT 1 FROM api_tokens WHERE app_id IS NULL LIMIT 1')).rows.length > 0;
  }

  /** See `Store`. */
  async getIdempotent(scope: string, key: string, notBefore: number): Promise<IdempotentAnswer | null> {
    const row = (
      await this.conn.q<IdempotencyRow>(
        'SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2 AND created_at >= $3',
        [scope, key, notBefore],
      )
    ).rows[0];
    return row ? toIdempotentAnswer(row) : null;
  }

  /** See `Store`. */
  async saveIdempotent(
    scope: string,
    key: string,
    answer: IdempotentAnswer,
    replaceBefore: number,
  ): Promise<void> {
    await this.conn.q(
      `INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, status_code = excluded.status_code,
         response = excluded.response, created_at = excluded.created_at
       WHERE idempotency_keys.created_at < $7`,
      [scope, key, answer.requestHash, answer.statusCode, answer.response, answer.createdAt, replaceBefore],
    );
  }
}

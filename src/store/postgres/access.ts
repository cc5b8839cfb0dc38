/** API tokens (their hashes) and idempotency keys on PostgreSQL. */
import { type IdempotencyRow, toIdempotentAnswer } from '../rows.js';
import { EXPIRED_TOKEN_KEPT_MS, type IdempotentAnswer, type StoredToken, type TokenGrant } from '../store.js';
import type { PostgresConnection } from './connection.js';

/** Tokens and idempotent answers of a PostgreSQL store. */
export class PostgresAccess {
  constructor(private readonly conn: PostgresConnection) {}

  /** See `Store`. */
  async saveToken(hash: string, appId: string | null, grant: TokenGrant = {}): Promise<void> {
    const now = this.conn.clock.now();
    await this.conn.q('DELETE FROM api_tokens WHERE expires_at < $1 AND app_id IS NOT NULL', [
      now - EXPIRED_TOKEN_KEPT_MS,
    ]);
    await this.conn.q(
      `INSERT INTO api_tokens (hash, app_id, created_at, expires_at, read_only, capabilities, session_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [
        hash,
        appId,
        now,
        grant.expiresAt ?? null,
        grant.readOnly ?? false,
        grant.capabilities ? JSON.stringify(grant.capabilities) : null,
        grant.sessionId ?? null,
      ],
    );
  }

  /** See `Store`. */
  async findToken(hash: string): Promise<StoredToken | null> {
    const row = (
      await this.conn.q<{
        app_id: string | null;
        expires_at: string | null;
        read_only: boolean;
        capabilities: string | null;
        session_id: string | null;
        revoked_by: StoredToken['revokedBy'];
      }>(
        'SELECT app_id, expires_at, read_only, capabilities, session_id, revoked_by FROM api_tokens WHERE hash = $1',
        [hash],
      )
    ).rows[0];
    return row
      ? {
          appId: row.app_id,
          expiresAt: row.expires_at === null ? null : Number(row.expires_at),
          readOnly: row.read_only,
          capabilities: row.capabilities === null ? null : (JSON.parse(row.capabilities) as string[]),
          sessionId: row.session_id,
          revokedBy: row.revoked_by,
        }
      : null;
  }

  /** See `Store`. */
  async expireTokens(appId: string, at: number, sessionIds?: readonly string[]): Promise<number> {
    const result = await this.conn.q(
      `UPDATE api_tokens SET expires_at = $2, revoked_by = 'expire-all'
       WHERE app_id = $1 AND (expires_at IS NULL OR expires_at > $2)
         AND ($3::text[] IS NULL OR session_id = ANY($3::text[]))`,
      [appId, at, sessionIds ?? null],
    );
    return result.rowCount ?? 0;
  }

  /** See `Store`. */
  async revokeToken(hash: string, at: number): Promise<boolean> {
    const result = await this.conn.q(
      `UPDATE api_tokens SET expires_at = LEAST(coalesce(expires_at, $2), $2), revoked_by = 'logout'
       WHERE hash = $1 AND app_id IS NOT NULL`,
      [hash, at],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /** See `Store`. */
  /** See `Store.maintenanceWarnings`. */
  async maintenanceWarnings(): Promise<string[]> {
    const { rows } = await this.conn.q<{ autovacuum: string }>('SHOW autovacuum');
    if (rows[0]?.autovacuum !== 'off') return [];
    return [
      "PostgreSQL's autovacuum is off on this server: the per-table settings Herald sets never act, " +
        'and the deliveries, attempts and messages tables bloat with dead rows that every claim walks ' +
        'past; turn it on (autovacuum = on) or run VACUUM (ANALYZE) on them often (see the README)',
    ];
  }

  async ping(): Promise<void> {
    // A write committed, not a read: a standby after a failover, a full disk or a database
    // stopped for wraparound still answers SELECT 1 (migration 013's probe table).
    await this.conn.q(
      `INSERT INTO health_probe (id, checked_at) VALUES (1, $1)
       ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at`,
      [this.conn.clock.now()],
    );
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

  /** See `Store.pruneIdempotent`. */
  async pruneIdempotent(limit: number, before: number): Promise<number> {
    const result = await this.conn.q(
      `DELETE FROM idempotency_keys WHERE (scope, key) IN (
         SELECT scope, key FROM idempotency_keys WHERE created_at < $1
         ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [before, limit],
    );
    return result.rowCount ?? 0;
  }
}

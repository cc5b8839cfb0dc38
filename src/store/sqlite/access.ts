/**
 * Access on SQLite: API token hashes and stored idempotent answers. Statements are prepared
 * once, when the store opens.
 */
import { type IdempotencyRow, toIdempotentAnswer } from '../rows.js';
import { EXPIRED_TOKEN_KEPT_MS, type IdempotentAnswer, type StoredToken, type TokenGrant } from '../store.js';
import type { SqliteConnection } from './connection.js';

interface TokenRow {
  app_id: string | null;
  expires_at: number | null;
  read_only: number;
  capabilities: string | null;
  session_id: string | null;
  revoked_by: StoredToken['revokedBy'];
}

function prepare({ db }: SqliteConnection) {
  return {
    saveToken: db.prepare<
      [
        {
          hash: string;
          appId: string | null;
          now: number;
          expiresAt: number | null;
          readOnly: number;
          capabilities: string | null;
          sessionId: string | null;
        },
      ]
    >(
      `INSERT INTO api_tokens (hash, app_id, created_at, expires_at, read_only, capabilities, session_id)
       VALUES (@hash, @appId, @now, @expiresAt, @readOnly, @capabilities, @sessionId) ON CONFLICT DO NOTHING`,
    ),
    forgetExpired: db.prepare<[number]>('DELETE FROM api_tokens WHERE expires_at < ? AND app_id IS NOT NULL'),
    findToken: db.prepare<[string], TokenRow>(
      'SELECT app_id, expires_at, read_only, capabilities, session_id, revoked_by FROM api_tokens WHERE hash = ?',
    ),
    expireAll: db.prepare<[{ appId: string; at: number }]>(
      `UPDATE api_tokens SET expires_at = @at, revoked_by = 'expire-all'
       WHERE app_id = @appId AND (expires_at IS NULL OR expires_at > @at)`,
    ),
    // @sessions: a JSON array of session ids.
    expireSessions: db.prepare<[{ appId: string; at: number; sessions: string }]>(
      `UPDATE api_tokens SET expires_at = @at, revoked_by = 'expire-all'
       WHERE app_id = @appId AND session_id IN (SELECT value FROM json_each(@sessions))
         AND (expires_at IS NULL OR expires_at > @at)`,
    ),
    revoke: db.prepare<[{ hash: string; at: number }]>(
      `UPDATE api_tokens SET expires_at = min(coalesce(expires_at, @at), @at), revoked_by = 'logout'
       WHERE hash = @hash AND app_id IS NOT NULL`,
    ),
    // The health check's write probe (migration 013): one row, rewritten in a transaction.
    ping: db.prepare<[{ now: number }]>(
      `INSERT INTO health_probe (id, checked_at) VALUES (1, @now)
       ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`,
    ),
    anyAdminToken: db.prepare<[], { 1: number }>('SELECT 1 FROM api_tokens WHERE app_id IS NULL LIMIT 1'),
    getIdempotent: db.prepare<[{ scope: string; key: string; notBefore: number }], IdempotencyRow>(
      'SELECT * FROM idempotency_keys WHERE scope = @scope AND key = @key AND created_at >= @notBefore',
    ),
    // An existing answer wins unless it is older than @replaceBefore.
    saveIdempotent: db.prepare<[IdempotencyRow & { replaceBefore: number }]>(
      `INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response, created_at)
       VALUES (@scope, @key, @request_hash, @status_code, @response, @created_at)
       ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash,
         status_code = excluded.status_code, response = excluded.response, created_at = excluded.created_at
       WHERE idempotency_keys.created_at < @replaceBefore`,
    ),
    pruneIdempotent: db.prepare<[number, number]>(IDEMPOTENCY_PRUNE_SQL),
  };
}

/**
 * Idempotency answers created before a time, oldest first, through `idempotency_by_time`
 * (`test/store/sqlite.test.ts` checks the plan). Parameters: before, limit.
 */
export const IDEMPOTENCY_PRUNE_SQL = `DELETE FROM idempotency_keys WHERE (scope, key) IN (
  SELECT scope, key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)`;

/** Tokens and idempotency keys of a SQLite store. */
export class SqliteAccess {
  private readonly stmt;

  constructor(private readonly conn: SqliteConnection) {
    this.stmt = prepare(conn);
  }

  saveToken(hash: string, appId: string | null, grant: TokenGrant = {}): void {
    const now = this.conn.clock.now();
    this.stmt.forgetExpired.run(now - EXPIRED_TOKEN_KEPT_MS);
    this.stmt.saveToken.run({
      hash,
      appId,
      now,
      expiresAt: grant.expiresAt ?? null,
      readOnly: grant.readOnly ? 1 : 0,
      capabilities: grant.capabilities ? JSON.stringify(grant.capabilities) : null,
      sessionId: grant.sessionId ?? null,
    });
  }

  findToken(hash: string): StoredToken | null {
    const row = this.stmt.findToken.get(hash);
    return row
      ? {
          appId: row.app_id,
          expiresAt: row.expires_at,
          readOnly: row.read_only === 1,
          capabilities: row.capabilities === null ? null : (JSON.parse(row.capabilities) as string[]),
          sessionId: row.session_id,
          revokedBy: row.revoked_by,
        }
      : null;
  }

  expireTokens(appId: string, at: number, sessionIds?: readonly string[]): number {
    const result = sessionIds
      ? this.stmt.expireSessions.run({ appId, at, sessions: JSON.stringify(sessionIds) })
      : this.stmt.expireAll.run({ appId, at });
    return result.changes;
  }

  revokeToken(hash: string, at: number): boolean {
    return this.stmt.revoke.run({ hash, at }).changes > 0;
  }

  /** See `Store.ping`: a write committed, not a read, so that a store that cannot commit fails it. */
  ping(): void {
    const now = this.conn.clock.now();
    this.conn.immediate(() => this.stmt.ping.run({ now }));
  }

  hasAdminToken(): boolean {
    return this.stmt.anyAdminToken.get() !== undefined;
  }

  getIdempotent(scope: string, key: string, notBefore: number): IdempotentAnswer | null {
    const row = this.stmt.getIdempotent.get({ scope, key, notBefore });
    return row ? toIdempotentAnswer(row) : null;
  }

  saveIdempotent(scope: string, key: string, answer: IdempotentAnswer, replaceBefore: number): void {
    this.stmt.saveIdempotent.run({
      scope,
      key,
      request_hash: answer.requestHash,
      status_code: answer.statusCode,
      response: answer.response,
      created_at: answer.createdAt,
      replaceBefore,
    });
  }

  /** See `Store.pruneIdempotent`. */
  pruneIdempotent(limit: number, before: number): number {
    return this.stmt.pruneIdempotent.run(before, limit).changes;
  }
}

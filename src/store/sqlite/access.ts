/**
 * Access on SQLite: API token hashes and stored idempotent answers. Statements are prepared
 * once, when the store opens.
 */
import { type IdempotencyRow, toIdempotentAnswer } from '../rows.js';
import type { IdempotentAnswer } from '../store.js';
import type { SqliteConnection } from './connection.js';

function prepare({ db }: SqliteConnection) {
  return {
    saveToken: db.prepare<[{ hash: string; appId: string | null; now: number }]>(
      'INSERT INTO api_tokens (hash, app_id, created_at) VALUES (@hash, @appId, @now) ON CONFLICT DO NOTHING',
    ),
    findToken: db.prepare<[string], { app_id: string | null }>(
      'SELECT app_id FROM api_tokens WHERE hash = ?',
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
  };
}

/** Tokens and idempotency keys of a SQLite store. */
export class SqliteAccess {
  private readonly stmt;

  constructor(private readonly conn: SqliteConnection) {
    this.stmt = prepare(conn);
  }

  saveToken(hash: string, appId: string | null): void {
    this.stmt.saveToken.run({ hash, appId, now: this.conn.clock.now() });
  }

  findToken(hash: string): { appId: string | null } | null {
    const row = this.stmt.findToken.get(hash);
    return row ? { appId: row.app_id } : null;
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
}

/**
 * Expunging content on SQLite: a message's payload (by request, for an application, or by
 * the retention sweep) and attempts' response bodies. The rows stay; their content is
 * overwritten. The statements run with `secure_delete` on, so that SQLite zeroes the freed
 * cells and pages instead of leaving the old bytes in free space, and the write-ahead log is
 * truncated after them (`wal_checkpoint(TRUNCATE)`), which drops the frames that still held
 * the old pages (see {@link SqliteContent.truncateWal} for when it cannot at once).
 */
import { NotFoundError } from '../../core/errors.js';
import { idFloor } from '../../core/ids.js';
import { answerPrefix, answerWithoutPayload } from '../rows.js';
import type { SqliteConnection } from './connection.js';

function prepare({ db }: SqliteConnection) {
  return {
    expungeMessage: db.prepare<[{ id: string; now: number }]>(
      `UPDATE messages SET payload = '', expunged_at = COALESCE(expunged_at, @now) WHERE id = @id`,
    ),
    expungeAttemptsOf: db.prepare<[{ msgId: string; now: number }]>(
      `UPDATE attempts SET response_body = '', expunged_at = COALESCE(expunged_at, @now)
       WHERE msg_id = @msgId AND expunged_at IS NULL`,
    ),
    expungeAttempt: db.prepare<[{ appId: string; msgId: string; id: string; now: number }]>(
      `UPDATE attempts SET response_body = '', expunged_at = COALESCE(expunged_at, @now)
       WHERE app_id = @appId AND msg_id = @msgId AND id = @id`,
    ),
    payloadOf: db.prepare<[string], { payload: string }>(
      'SELECT payload FROM messages WHERE id = ? AND expunged_at IS NULL',
    ),
    // The answers to the messages' POSTs, kept for their idempotency keys, hold the payload
    // too: those starting `{"id":"<one of @ids>"` (see answerPrefix); one scan per batch.
    answersOf: db.prepare<[{ ids: string }], { scope: string; key: string; response: string }>(
      `SELECT scope, key, response FROM idempotency_keys
       WHERE substr(response, 1, 7) = '{"id":"'
         AND substr(response, 8, instr(substr(response, 8), '"') - 1) IN (SELECT value FROM json_each(@ids))`,
    ),
    setAnswer: db.prepare<[{ scope: string; key: string; response: string }]>(
      'UPDATE idempotency_keys SET response = @response WHERE scope = @scope AND key = @key',
    ),
    messageOfApp: db.prepare<[string, string], { id: string }>(
      'SELECT id FROM messages WHERE app_id = ? AND id = ?',
    ),
    appMessages: db.prepare<[{ appId: string; after: string; limit: number }], { id: string }>(
      'SELECT id FROM messages WHERE app_id = @appId AND id > @after ORDER BY id LIMIT @limit',
    ),
    expired: db.prepare<[{ now: number; limit: number }], { id: string }>(
      `SELECT id FROM messages WHERE payload_expires_at <= @now AND expunged_at IS NULL
       ORDER BY payload_expires_at LIMIT @limit`,
    ),
    // Messages with no retention of their own, created before @floor (an id made at the
    // server's retention limit): on messages_default_retention (migration 013).
    expiredByDefault: db.prepare<[{ floor: string; limit: number }], { id: string }>(
      `SELECT id FROM messages WHERE payload_expires_at IS NULL AND expunged_at IS NULL AND id < @floor
       ORDER BY id LIMIT @limit`,
    ),
    // Messages created before @floor with no delivery still to send, oldest first, on the
    // primary key: what rows retention deletes has gone before, so the scan starts at them.
    oldMessages: db.prepare<[{ floor: string; limit: number }], { id: string }>(
      `SELECT id FROM messages m WHERE id < @floor
         AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN ('pending', 'sending'))
       ORDER BY id LIMIT @limit`,
    ),
    deleteAttemptsOf: db.prepare<[{ ids: string }]>(
      'DELETE FROM attempts WHERE msg_id IN (SELECT value FROM json_each(@ids))',
    ),
    // Their deliveries go with them (ON DELETE CASCADE).
    deleteMessages: db.prepare<[{ ids: string }]>(
      'DELETE FROM messages WHERE id IN (SELECT value FROM json_each(@ids))',
    ),
  };
}

/** Expunged content of a SQLite store. */
export class SqliteContent {
  private readonly stmt;

  constructor(
    private readonly conn: SqliteConnection,
    /** The id of the application with this id or uid, or `null` (the catalog's). */
    private readonly appId: (idOrUid: string) => string | null,
  ) {
    this.stmt = prepare(conn);
  }

  /** Runs `fn` in a write transaction with `secure_delete` on, then truncates the WAL. */
  private scrubbing<T>(fn: () => T): T {
    const already = this.conn.box.encrypts; // then it is on for good (connection.ts)
    if (!already) this.conn.db.pragma('secure_delete = ON');
    try {
      return this.conn.immediate(fn);
    } finally {
      if (!already) this.conn.db.pragma('secure_delete = OFF');
      this.truncateWal();
    }
  }

  /**
   * Copies the WAL back and truncates it, without waiting: better-sqlite3 is synchronous, so a
   * wait for another connection's reader (the busy timeout, 5 s) would stall every request.
   * When a reader holds an old snapshot, the frames stay until a later checkpoint resets the
   * log and new frames overwrite them.
   */
  private truncateWal(): void {
    const { db } = this.conn;
    const timeout = db.pragma('busy_timeout', { simple: true }) as number;
    db.pragma('busy_timeout = 0');
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.pragma(`busy_timeout = ${timeout}`);
    }
  }

  /**
   * Expunges messages' payloads, their attempts' bodies when `attempts`, and the payload in
   * the answers kept for their creation's idempotency keys (which still replay, payload
   * expired). In the caller's transaction.
   */
  private expunge(msgIds: readonly string[], now: number, attempts: boolean): void {
    const kept = new Map<string, string>();
    for (const id of msgIds) {
      const row = this.stmt.payloadOf.get(id);
      if (row) kept.set(id, row.payload);
    }
    if (kept.size > 0) {
      for (const answer of this.stmt.answersOf.all({ ids: JSON.stringify([...kept.keys()]) })) {
        const id = answer.response.slice(7, answer.response.indexOf('"', 7));
        const payload = kept.get(id);
        if (payload === undefined || !answer.response.startsWith(answerPrefix(id))) continue;
        const response = answerWithoutPayload(answer.response, payload);
        if (response !== answer.response) this.stmt.setAnswer.run({ ...answer, response });
      }
      for (const id of kept.keys()) this.stmt.expungeMessage.run({ id, now });
    }
    if (attempts) for (const msgId of msgIds) this.stmt.expungeAttemptsOf.run({ msgId, now });
  }

  private mustAppId(key: string): string {
    const id = this.appId(key);
    if (id === null) throw new NotFoundError(`application ${key} not found`);
    return id;
  }

  /** See `Store.expungeMessageContent`. */
  expungeMessage(appKey: string, msgId: string): void {
    const appId = this.mustAppId(appKey);
    if (!this.stmt.messageOfApp.get(appId, msgId)) throw new NotFoundError(`message ${msgId} not found`);
    const now = this.conn.clock.now();
    this.scrubbing(() => this.expunge([msgId], now, true));
  }

  /** See `Store.expungeAttemptContent`. */
  expungeAttempt(appKey: string, msgId: string, attemptId: string): void {
    const appId = this.mustAppId(appKey);
    const now = this.conn.clock.now();
    const { changes } = this.scrubbing(() =>
      this.stmt.expungeAttempt.run({ appId, msgId, id: attemptId, now }),
    );
    if (changes === 0) throw new NotFoundError(`attempt ${attemptId} not found`);
  }

  /** See `Store.expungeAppContents`. */
  expungeApp(appKey: string, after: string | null, limit: number): { visited: number; last: string | null } {
    const appId = this.mustAppId(appKey);
    const now = this.conn.clock.now();
    return this.scrubbing(() => {
      const ids = this.stmt.appMessages.all({ appId, after: after ?? '', limit }).map((r) => r.id);
      this.expunge(ids, now, true);
      return { visited: ids.length, last: ids.at(-1) ?? after };
    });
  }

  /** See `Store.expirePayloads`: the payloads and their attempts' response bodies. */
  expirePayloads(limit: number, keepMs: number | null): number {
    const now = this.conn.clock.now();
    const ids = this.stmt.expired.all({ now, limit }).map((r) => r.id);
    if (keepMs !== null && ids.length < limit) {
      const floor = idFloor('msg', now - keepMs);
      for (const r of this.stmt.expiredByDefault.all({ floor, limit: limit - ids.length })) ids.push(r.id);
    }
    if (ids.length === 0) return 0;
    this.scrubbing(() => this.expunge(ids, now, true));
    return ids.length;
  }

  /** See `Store.pruneMessages`. */
  pruneMessages(limit: number, keepMs: number): number {
    const floor = idFloor('msg', this.conn.clock.now() - keepMs);
    return this.conn.immediate(() => {
      const ids = JSON.stringify(this.stmt.oldMessages.all({ floor, limit }).map((r) => r.id));
      this.stmt.deleteAttemptsOf.run({ ids });
      return this.stmt.deleteMessages.run({ ids }).changes;
    });
  }
}

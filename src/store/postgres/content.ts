/**
 * Expunging content on PostgreSQL: a message's payload (by request, for an application, or
 * by the retention sweep) and attempts' response bodies. The rows stay; their content is
 * overwritten. PostgreSQL keeps the old row versions until VACUUM reclaims them (autovacuum,
 * or a `VACUUM` by the operator): only then are the old bytes gone from its files.
 * Each statement's parameters are in its heading.
 */
import { NotFoundError } from '../../core/errors.js';
import { idFloor } from '../../core/ids.js';
import { answerPrefix, answerWithoutPayload } from '../rows.js';
import { APP_BY_KEY, jsonRecords, type PostgresConnection, type Queryable } from './connection.js';

/** The payloads still kept of messages $1 (ids), locked. */
const KEPT_PAYLOADS = `
  SELECT id, payload FROM messages WHERE id = ANY($1::text[]) AND expunged_at IS NULL FOR UPDATE`;

/**
 * The answers kept for idempotency keys that start like a message's creation of $1 (ids):
 * `{"id":"<msg id>",` (see `answerPrefix`).
 */
const ANSWERS_OF = `
  SELECT scope, key, response FROM idempotency_keys
  WHERE substr(response, 1, 7) = '{"id":"' AND split_part(substr(response, 8), '"', 1) = ANY($1::text[])`;

/** Rewrites answers. $1: JSON array of {scope, key, response}. */
const SET_ANSWERS = `
  UPDATE idempotency_keys k SET response = a.response
  FROM json_to_recordset($1::json) AS a(scope text, key text, response text)
  WHERE k.scope = a.scope AND k.key = a.key`;

/**
 * Expunges the payloads of messages $1 (ids) at $2 (now), and, when $3, their attempts'
 * response bodies. (A data-modifying WITH runs whether or not the statement reads it.)
 */
const EXPUNGE_MESSAGES = `
  WITH gone AS (
    UPDATE messages SET payload = '', expunged_at = COALESCE(expunged_at, $2)
    WHERE id = ANY($1::text[]) AND expunged_at IS NULL
  )
  UPDATE attempts SET response_body = '', expunged_at = COALESCE(expunged_at, $2)
  WHERE $3::boolean AND msg_id = ANY($1::text[]) AND expunged_at IS NULL`;

/** A message of an application. $1: application id or uid; $2: message id. */
const MESSAGE_OF_APP = `SELECT id FROM messages WHERE app_id = ${APP_BY_KEY} AND id = $2`;

/** Expunges one attempt's body. $1: application id or uid; $2: message; $3: attempt; $4: now. */
const EXPUNGE_ATTEMPT = `
  UPDATE attempts SET response_body = '', expunged_at = COALESCE(expunged_at, $4)
  WHERE app_id = ${APP_BY_KEY} AND msg_id = $2 AND id = $3`;

/** Up to $3 messages of application $1 (id or uid) after id $2, in id order, locked. */
const APP_MESSAGES = `
  SELECT id FROM messages WHERE app_id = ${APP_BY_KEY} AND id > $2 ORDER BY id LIMIT $3 FOR UPDATE`;

/**
 * Up to $2 messages whose payload's retention ended by $1, oldest expiry first; rows another
 * sweep holds are skipped.
 */
const EXPIRED = `
  SELECT id FROM messages WHERE payload_expires_at <= $1 AND expunged_at IS NULL
  ORDER BY payload_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`;

/**
 * Up to $2 messages with no retention of their own, created before id $1 (one made at the
 * server's retention limit), on messages_default_retention (migration 013).
 */
const EXPIRED_BY_DEFAULT = `
  SELECT id FROM messages WHERE payload_expires_at IS NULL AND expunged_at IS NULL AND id < $1
  ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`;

/**
 * Deletes up to $2 messages created before id $1 with no delivery still to send, with their
 * attempts (their deliveries go by ON DELETE CASCADE), oldest first on the primary key.
 */
const PRUNE_MESSAGES = `
  WITH old AS (
    SELECT id FROM messages m WHERE id < $1
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.status IN ('pending', 'sending'))
    ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
  ), attempts_gone AS (
    DELETE FROM attempts WHERE msg_id IN (SELECT id FROM old)
  )
  DELETE FROM messages WHERE id IN (SELECT id FROM old)`;

const APP_EXISTS = `SELECT ${APP_BY_KEY} AS id`;

/** Expunged content of a PostgreSQL store. */
export class PostgresContent {
  constructor(private readonly conn: PostgresConnection) {}

  /**
   * Expunges messages `ids` (in `on`'s transaction) and the payload in the answers kept for
   * their creation's idempotency keys, which still replay, payload expired.
   */
  private async expunge(on: Queryable, ids: string[], attempts: boolean): Promise<void> {
    if (ids.length === 0) return;
    const kept = new Map(
      (await on.query<{ id: string; payload: string }>(KEPT_PAYLOADS, [ids])).rows.map((r) => [
        r.id,
        r.payload,
      ]),
    );
    if (kept.size > 0) {
      const answers = (
        await on.query<{ scope: string; key: string; response: string }>(ANSWERS_OF, [[...kept.keys()]])
      ).rows.flatMap((a) => {
        const id = a.response.slice(7, a.response.indexOf('"', 7));
        const payload = kept.get(id);
        const response =
          payload !== undefined && a.response.startsWith(answerPrefix(id))
            ? answerWithoutPayload(a.response, payload)
            : a.response;
        return response === a.response ? [] : [{ ...a, response }];
      });
      if (answers.length > 0) await on.query(SET_ANSWERS, [jsonRecords(answers)]);
    }
    await on.query(EXPUNGE_MESSAGES, [ids, this.conn.clock.now(), attempts]);
  }

  private async mustApp(on: Queryable, key: string): Promise<void> {
    const row = (await on.query<{ id: string | null }>(APP_EXISTS, [key])).rows[0];
    if (!row?.id) throw new NotFoundError(`application ${key} not found`);
  }

  /** See `Store.expungeMessageContent`. */
  async expungeMessage(appKey: string, msgId: string): Promise<void> {
    await this.conn.tx(async (c) => {
      await this.mustApp(c, appKey);
      const found = (await c.query(MESSAGE_OF_APP, [appKey, msgId])).rows.length > 0;
      if (!found) throw new NotFoundError(`message ${msgId} not found`);
      await this.expunge(c, [msgId], true);
    });
  }

  /** See `Store.expungeAttemptContent`. */
  async expungeAttempt(appKey: string, msgId: string, attemptId: string): Promise<void> {
    const { rowCount } = await this.conn.q(EXPUNGE_ATTEMPT, [
      appKey,
      msgId,
      attemptId,
      this.conn.clock.now(),
    ]);
    if (!rowCount) throw new NotFoundError(`attempt ${attemptId} not found`);
  }

  /** See `Store.expungeAppContents`. */
  async expungeApp(
    appKey: string,
    after: string | null,
    limit: number,
  ): Promise<{ visited: number; last: string | null }> {
    return this.conn.tx(async (c) => {
      await this.mustApp(c, appKey);
      const ids = (await c.query<{ id: string }>(APP_MESSAGES, [appKey, after ?? '', limit])).rows.map(
        (r) => r.id,
      );
      await this.expunge(c, ids, true);
      return { visited: ids.length, last: ids.at(-1) ?? after };
    });
  }

  /** See `Store.expirePayloads`: the payloads and their attempts' response bodies. */
  async expirePayloads(limit: number, keepMs: number | null): Promise<number> {
    const now = this.conn.clock.now();
    return this.conn.tx(async (c) => {
      const ids = (await c.query<{ id: string }>(EXPIRED, [now, limit])).rows.map((r) => r.id);
      if (keepMs !== null && ids.length < limit) {
        const floor = idFloor('msg', now - keepMs);
        const more = await c.query<{ id: string }>(EXPIRED_BY_DEFAULT, [floor, limit - ids.length]);
        for (const r of more.rows) ids.push(r.id);
      }
      await this.expunge(c, ids, true);
      return ids.length;
    });
  }

  /** See `Store.pruneMessages`. */
  async pruneMessages(limit: number, keepMs: number): Promise<number> {
    const floor = idFloor('msg', this.conn.clock.now() - keepMs);
    return (await this.conn.q(PRUNE_MESSAGES, [floor, limit])).rowCount ?? 0;
  }
}

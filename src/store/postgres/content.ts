/**
 * Expunging content on PostgreSQL: a message's payload (by request, for an application, or
 * by the retention sweep) and attempts' response bodies. The rows stay; their content is
 * overwritten. PostgreSQL keeps the old row versions until VACUUM reclaims them (autovacuum,
 * or a `VACUUM` by the operator): only then are the old bytes gone from its files.
 * Each statement's parameters are in its heading.
 */
import { NotFoundError } from '../../core/errors.js';
import { APP_BY_KEY, type PostgresConnection, type Queryable } from './connection.js';

/**
 * Expunges the payloads of messages $1 (ids) at $2 (now), and, when $3, their attempts'
 * response bodies; forgets the answers kept for their creation's idempotency keys, which
 * hold the payload too (they start with `{"id":"<msg id>",`, see `messageJson`).
 */
const EXPUNGE_MESSAGES = `
  WITH gone AS (
    UPDATE messages SET payload = '', expunged_at = COALESCE(expunged_at, $2)
    WHERE id = ANY($1::text[]) RETURNING id
  ), bodies AS (
    UPDATE attempts SET response_body = '', expunged_at = COALESCE(expunged_at, $2)
    WHERE $3::boolean AND msg_id = ANY($1::text[]) AND expunged_at IS NULL
  )
  DELETE FROM idempotency_keys
  WHERE response LIKE '{"id":"msg%' AND substr(response, 8, 31) IN (SELECT id FROM gone)`;

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

const APP_EXISTS = `SELECT ${APP_BY_KEY} AS id`;

/** Expunged content of a PostgreSQL store. */
export class PostgresContent {
  constructor(private readonly conn: PostgresConnection) {}

  private async expunge(on: Queryable, ids: string[], attempts: boolean): Promise<void> {
    if (ids.length > 0) await on.query(EXPUNGE_MESSAGES, [ids, this.conn.clock.now(), attempts]);
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

  /** See `Store.expirePayloads`: the payload only; the attempts keep their bodies. */
  async expirePayloads(limit: number): Promise<number> {
    return this.conn.tx(async (c) => {
      const ids = (await c.query<{ id: string }>(EXPIRED, [this.conn.clock.now(), limit])).rows.map(
        (r) => r.id,
      );
      await this.expunge(c, ids, false);
      return ids.length;
    });
  }
}

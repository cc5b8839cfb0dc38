/**
 * Messages on PostgreSQL: ingest by group commit (every message accepted in one turn of the
 * event loop, with its fan-out, in one transaction), and reading and listing them.
 */
import { ConflictError, NotFoundError } from '../../core/errors.js';
import { recipients } from '../../core/filter.js';
import { newId } from '../../core/ids.js';
import type { Delivery, Endpoint, Message } from '../../core/types.js';
import { MINUTE_MS } from '../activity.js';
import { GroupCommit, type GroupCommitListener, type ItemResult } from '../group-commit.js';
import { messageRecord } from '../normalise.js';
import { idWindow, type Keyset, keyset, pageFrom } from '../paging.js';
import {
  type DeliveryRow,
  type EndpointRow,
  fromMessage,
  type MessageRow,
  type PendingMessage,
  toDelivery,
  toEndpoint,
  toMessage,
} from '../rows.js';
import type {
  AcceptedMessage,
  EndpointDeliveryFilter,
  MessageFilter,
  MessageMatch,
  NewMessage,
  Page,
  PageRequest,
} from '../store.js';
import { ADD_ACTIVITY, firstWriter, writerClass, writerQuery } from './activity.js';
import type { PostgresCatalog } from './catalog.js';
import { APP_BY_KEY, jsonRecords, type PostgresConnection, prepared, Where } from './connection.js';
import { insertDeliveries, type NewDeliveryRecord } from './deliveries.js';

/** An application's enabled endpoints, the candidates of a fan-out. $1: the application id. */
const ENABLED_ENDPOINTS = 'SELECT * FROM endpoints WHERE app_id = $1 AND NOT disabled';

/**
 * A batch of messages as one statement (no transaction round trips): stores them, skipping
 * those whose eventId exists in their application, counts those stored in their minute's
 * activity row (a writer of {@link writerQuery}), creates the deliveries of those stored, and
 * wakes the other processes once it commits when it created any. Returns the ids stored.
 * $1: JSON array of {@link MessageRow}; $2, $3: the writers' lock class and first writer;
 * $4: JSON array of {@link NewDeliveryRecord}, for every message of $1 (those of a message
 * not stored are left out); $5, $6: the channel and payload of the wake-up.
 */
const INGEST = prepared(`
  WITH writer AS (${writerQuery('$2', '$3')}),
  inserted AS (
  INSERT INTO messages (id, app_id, event_type, event_id, channels, tags, payload, created_at, headers,
    deliver_at, payload_expires_at, expunged_at, trace_context, transformations_params, idempotency_key)
  SELECT id, app_id, event_type, event_id, channels, tags, payload, created_at, headers,
    deliver_at, payload_expires_at, expunged_at, trace_context, transformations_params, idempotency_key
  FROM json_to_recordset($1::json) AS m(id text, app_id text, event_type text, event_id text, channels text,
    tags text, payload text, created_at bigint, headers text, deliver_at bigint, payload_expires_at bigint,
    expunged_at bigint, trace_context text, transformations_params text, idempotency_key text)
  ON CONFLICT DO NOTHING
  RETURNING id, created_at),
  counted AS (
    INSERT INTO activity_minutes (minute, writer, accepted, succeeded, failed)
    SELECT created_at - created_at % ${MINUTE_MS}, (SELECT w FROM writer), count(*), 0, 0 FROM inserted GROUP BY 1
    ${ADD_ACTIVITY}),
  delivered AS (${insertDeliveries('$4', 'WHERE msg_id IN (SELECT id FROM inserted)')} RETURNING 1),
  woken AS (SELECT pg_notify($5, $6) FROM (SELECT count(*) AS n FROM delivered) d WHERE d.n > 0)
  SELECT id, (SELECT count(*) FROM woken) AS woken FROM inserted`);

/** Adds a list's filters on the message `m`: event types, channel, tag. */
function messageConditions(
  w: Where,
  filter: { eventTypes?: readonly string[]; channel?: string; tag?: string },
): void {
  if (filter.eventTypes && filter.eventTypes.length > 0)
    w.where.push(`m.event_type = ANY(${w.param(filter.eventTypes)}::text[])`);
  if (filter.channel !== undefined) w.where.push(`m.channels::jsonb ? ${w.param(filter.channel)}`);
  if (filter.tag !== undefined) w.where.push(`m.tags::jsonb ? ${w.param(filter.tag)}`);
}

/**
 * The statement of one page of an application's messages (`appId`: its id): on
 * messages_by_app, or with a delivery status on deliveries_by_app_status, in message-id order
 * either way. Exported for the query-plan test.
 */
export function messageListQuery(
  appId: string,
  filter: Omit<MessageFilter, 'appId'>,
  page: PageRequest,
): { sql: string; params: unknown[]; ks: Keyset } {
  const w = new Where();
  const status = filter.deliveryStatus;
  if (status === undefined) w.where.push(`m.app_id = ${w.param(appId)}`);
  else {
    // The index's predicate is repeated, so that the partial index applies to a generic plan
    // too; a message with several deliveries in the state is listed once, for the first of
    // them by endpoint id.
    w.where.push(
      `d.app_id = ${w.param(appId)} AND d.status = ${w.param(status)} AND d.status IN ('pending', 'failed')`,
      `NOT EXISTS (SELECT 1 FROM deliveries o
         WHERE o.msg_id = d.msg_id AND o.endpoint_id < d.endpoint_id AND o.status = d.status)`,
    );
  }
  messageConditions(w, filter);
  const key = status === undefined ? 'm.id' : 'd.msg_id';
  w.window(key, idWindow('msg', filter));
  const ks = keyset(page, 'descending', filter.after !== undefined && filter.before === undefined);
  const from = status === undefined ? 'messages m' : 'deliveries d JOIN messages m ON m.id = d.msg_id';
  return { sql: `SELECT m.* FROM ${from} ${w.pageSql(ks, key, page.limit)}`, params: w.params, ks };
}

/**
 * The operator's search for messages in any application: by id, by eventId, by idempotency
 * key, each on its own index. $1: the key; $2: at most this many of each of the last two, in
 * no particular order (no sort: a key many messages have reads $2 of them and stops).
 */
export const FIND_MESSAGES = `
  (SELECT 'id' AS matched, * FROM messages WHERE id = $1)
  UNION ALL
  (SELECT 'eventId', * FROM messages WHERE event_id = $1 LIMIT $2)
  UNION ALL
  (SELECT 'idempotencyKey', * FROM messages WHERE idempotency_key = $1 LIMIT $2)`;

/** The messages of a PostgreSQL store. */
export class PostgresMessages {
  private readonly ingest: GroupCommit<PendingMessage, AcceptedMessage>;

  constructor(
    private readonly conn: PostgresConnection,
    private readonly catalog: PostgresCatalog,
    maxBatch: number,
  ) {
    this.ingest = new GroupCommit((items) => this.commitMessages(items), maxBatch);
  }

  /** See `Store.onGroupCommit`. */
  onGroupCommit(listener: GroupCommitListener): () => void {
    return this.ingest.onCommit(listener);
  }

  /** Waits until every message submitted so far is committed or failed. */
  flush(): Promise<void> {
    return this.ingest.flush();
  }

  /** See `Store.acceptMessage`. */
  async acceptMessage(input: NewMessage): Promise<AcceptedMessage> {
    const now = this.conn.clock.now();
    const message = messageRecord(newId('msg', now), input, now);
    return this.ingest.submit({ message, onlyEndpointId: input.onlyEndpointId });
  }

  /**
   * Writes a batch of messages and their deliveries in one statement ({@link INGEST}). The
   * applications and their endpoints are read first, each by a statement of its own, as they
   * were inside a transaction: under READ COMMITTED each statement sees what is committed when
   * it starts, so the batch sees no other state than it did then.
   */
  private async commitMessages(batch: PendingMessage[]): Promise<ItemResult<AcceptedMessage>[]> {
    const apps = new Map<string, { id: string; endpoints: Endpoint[] } | null>();
    for (const { message } of batch) {
      if (apps.has(message.appId)) continue;
      const row = await this.catalog.appRow(message.appId);
      const endpoints = row
        ? (await this.conn.q<EndpointRow>(ENABLED_ENDPOINTS, [row.id])).rows.map((r) =>
            toEndpoint(r, this.conn.box),
          )
        : [];
      apps.set(message.appId, row ? { id: row.id, endpoints } : null);
    }
    const rows: MessageRow[] = [];
    const deliveries: NewDeliveryRecord[] = [];
    const routed = new Map<string, number>();
    const woken = new Set<string>();
    for (const { message, onlyEndpointId } of batch) {
      const app = apps.get(message.appId);
      if (!app) continue;
      const stored = { ...message, appId: app.id };
      rows.push(fromMessage(stored));
      let count = 0;
      for (const endpoint of recipients(app.endpoints, stored, onlyEndpointId)) {
        deliveries.push({
          id: newId('dlv', stored.createdAt),
          msg_id: stored.id,
          endpoint_id: endpoint.id,
          app_id: app.id,
          at: stored.createdAt,
          due_at: stored.deliverAt ?? stored.createdAt,
          listener: endpoint.listener !== null,
        });
        woken.add(endpoint.id);
        count++;
      }
      routed.set(message.id, count);
    }
    let inserted = new Set<string>();
    if (rows.length > 0) {
      const { rows: stored } = await this.conn.q<{ id: string }>(INGEST, [
        jsonRecords(rows),
        writerClass(this.conn.schema),
        firstWriter('ingest'),
        jsonRecords(deliveries),
        ...this.conn.wakeNotice([...woken]),
      ]);
      inserted = new Set(stored.map((r) => r.id));
    }
    const results = batch.map(({ message }): ItemResult<AcceptedMessage> => {
      const app = apps.get(message.appId);
      if (!app) return { ok: false, error: new NotFoundError(`application ${message.appId} not found`) };
      if (!inserted.has(message.id)) {
        return { ok: false, error: new ConflictError(`a message with eventId ${message.eventId} exists`) };
      }
      return {
        ok: true,
        value: { message: { ...message, appId: app.id }, deliveries: routed.get(message.id)! },
      };
    });
    // Other processes hear the NOTIFY; this one is woken now, without the round trip (and
    // ignores the echo), for the same endpoints (those of a duplicate too: a wake for nothing).
    if (inserted.size > 0 && woken.size > 0) this.conn.emitWake([...woken]);
    return results;
  }

  /** See `Store.getMessage`. */
  async getMessage(appId: string, idOrEventId: string): Promise<Message | null> {
    const row = (
      await this.conn.q<MessageRow>(
        `SELECT * FROM messages WHERE app_id = ${APP_BY_KEY} AND (id = $2 OR event_id = $2)
         ORDER BY id = $2 DESC LIMIT 1`,
        [appId, idOrEventId],
      )
    ).rows[0];
    return row ? toMessage(row) : null;
  }

  /** See `Store.listMessages`. */
  async listMessages(filter: MessageFilter, page: PageRequest): Promise<Page<Message>> {
    const app = await this.catalog.appRow(filter.appId);
    if (!app) throw new NotFoundError(`application ${filter.appId} not found`);
    const { sql, params, ks } = messageListQuery(app.id, filter, page);
    const { rows } = await this.conn.q<MessageRow>(sql, params);
    return pageFrom(rows.map(toMessage), page, ks, (m) => m.id);
  }

  /** See `Store.findMessages`. */
  async findMessages(key: string, limit: number): Promise<{ matched: MessageMatch; message: Message }[]> {
    const { rows } = await this.conn.q<MessageRow & { matched: MessageMatch }>(FIND_MESSAGES, [key, limit]);
    return rows.map((r) => ({ matched: r.matched, message: toMessage(r) }));
  }

  /** See `Store.getMessages`. */
  async getMessages(appId: string, ids: readonly string[]): Promise<Message[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.conn.q<MessageRow>(
      'SELECT * FROM messages WHERE app_id = $1 AND id = ANY($2::text[])',
      [appId, ids],
    );
    return rows.map(toMessage);
  }

  /** See `Store.listEndpointDeliveries`. */
  async listEndpointDeliveries(
    filter: EndpointDeliveryFilter,
    page: PageRequest,
  ): Promise<Page<{ delivery: Delivery; message: Message }>> {
    const w = new Where();
    w.where.push(`d.endpoint_id = ${w.param(filter.endpointId)}`);
    if (filter.status !== undefined) w.where.push(`d.status = ${w.param(filter.status)}`);
    messageConditions(w, filter);
    w.window('d.msg_id', idWindow('msg', filter));
    const ks = keyset(page, 'descending', filter.after !== undefined && filter.before === undefined);
    const sql = `SELECT d.*, row_to_json(m) AS m FROM deliveries d JOIN messages m ON m.id = d.msg_id
       ${w.pageSql(ks, 'd.msg_id', page.limit)}`;
    const { rows } = await this.conn.q<DeliveryRow & { m: MessageRow }>(sql, w.params);
    const items = rows.map((r) => ({ delivery: toDelivery(r), message: toMessage(r.m) }));
    return pageFrom(items, page, ks, (x) => x.message.id);
  }

  /** See `Store.listMessageDestinations`. */
  async listMessageDestinations(
    msgId: string,
    page: PageRequest,
  ): Promise<Page<{ delivery: Delivery; endpoint: Endpoint }>> {
    const ks = keyset(page, 'ascending');
    const w = new Where();
    w.where.push(`d.msg_id = ${w.param(msgId)}`);
    const sql = `SELECT d.*, row_to_json(e) AS e FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
       ${w.pageSql(ks, 'd.endpoint_id', page.limit)}`;
    const { rows } = await this.conn.q<DeliveryRow & { e: EndpointRow }>(sql, w.params);
    const items = rows.map((r) => ({ delivery: toDelivery(r), endpoint: toEndpoint(r.e, this.conn.box) }));
    return pageFrom(items, page, ks, (x) => x.delivery.endpointId);
  }
}

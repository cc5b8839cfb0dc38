/**
 * Messages on SQLite: ingest by group commit (a batch of messages and their fan-out in one
 * transaction), reading one message and listing them. Statements are prepared once; the
 * list, whose WHERE depends on the filter, keeps one statement per filter shape.
 */
import { ConflictError, NotFoundError } from '../../core/errors.js';
import { recipients } from '../../core/filter.js';
import { newId } from '../../core/ids.js';
import type { Endpoint, Message } from '../../core/types.js';
import { ActivityTally } from '../activity.js';
import { GroupCommit, type GroupCommitListener, type ItemResult } from '../group-commit.js';
import { messageRecord } from '../normalise.js';
import { idWindow, type Keyset, keyset, pageFrom } from '../paging.js';
import { fromMessage, type MessageRow, type PendingMessage, toMessage } from '../rows.js';
import type {
  AcceptedMessage,
  ClaimedDelivery,
  MessageFilter,
  MessageMatch,
  NewMessage,
  Page,
  PageRequest,
} from '../store.js';
import type { SqliteActivity } from './activity.js';
import type { SqliteCatalog } from './catalog.js';
import { messageConditions, pageSql, type SqliteConnection, type Where, windowBounds } from './connection.js';
import type { SqliteDeliveries } from './deliveries.js';

/** A delivery written leased to a standing claim, as a claim would have returned it. */
function freshDelivery(
  id: string,
  message: Message,
  endpoint: Endpoint,
  leaseExpiresAt: number,
): ClaimedDelivery {
  return {
    id,
    msgId: message.id,
    endpointId: endpoint.id,
    appId: message.appId,
    attempts: 0,
    trigger: 'scheduled',
    eventType: message.eventType,
    payload: message.payload ?? '',
    headers: message.headers,
    transformationsParams: message.transformationsParams,
    traceContext: message.traceContext,
    leaseExpiresAt,
    endpointVersion: endpoint.updatedAt,
  };
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
): { sql: string; params: Record<string, unknown>; ks: Keyset } {
  const w: Where = { where: [], params: { appId } };
  messageConditions(w, filter);
  const ks = keyset(page, 'descending', filter.after !== undefined && filter.before === undefined);
  if (filter.deliveryStatus === undefined) {
    w.where.unshift('m.app_id = @appId');
    windowBounds(w, 'm.id', idWindow('msg', filter));
    return { sql: `SELECT m.* FROM messages m ${pageSql(w, ks, 'm.id', page.limit)}`, params: w.params, ks };
  }
  // The index's predicate is repeated, so that the partial index applies; a message with
  // several deliveries in the state is listed once, for the first of them by endpoint id.
  w.where.unshift(
    `d.app_id = @appId AND d.status = @status AND d.status IN ('pending', 'failed')`,
    `NOT EXISTS (SELECT 1 FROM deliveries o
       WHERE o.msg_id = d.msg_id AND o.endpoint_id < d.endpoint_id AND o.status = d.status)`,
  );
  w.params.status = filter.deliveryStatus;
  windowBounds(w, 'd.msg_id', idWindow('msg', filter));
  // CROSS JOIN: SQLite reads deliveries first, as written.
  const sql = `SELECT m.* FROM deliveries d CROSS JOIN messages m ON m.id = d.msg_id
    ${pageSql(w, ks, 'd.msg_id', page.limit)}`;
  return { sql, params: w.params, ks };
}

/**
 * The operator's search across applications (named parameters @key, @limit), each on its
 * own index: the primary key, messages_by_event_id, messages_by_idempotency_key. No ORDER
 * BY: a key many messages have (an eventId such as "1" in every application) reads `limit`
 * of them off the index and stops, where a sort would read them all.
 */
export const SEARCH_SQL = {
  byId: 'SELECT * FROM messages WHERE id = @key',
  byEventId: 'SELECT * FROM messages WHERE event_id = @key LIMIT @limit',
  byIdempotencyKey: 'SELECT * FROM messages WHERE idempotency_key = @key LIMIT @limit',
};

function prepare({ db }: SqliteConnection) {
  return {
    insertMessage: db.prepare<[MessageRow]>(
      `INSERT INTO messages (id, app_id, event_type, event_id, channels, tags, payload, headers, deliver_at,
         payload_expires_at, expunged_at, trace_context, created_at, transformations_params, idempotency_key)
       VALUES (@id, @app_id, @event_type, @event_id, @channels, @tags, @payload, @headers, @deliver_at,
         @payload_expires_at, @expunged_at, @trace_context, @created_at, @transformations_params,
         @idempotency_key)
       ON CONFLICT DO NOTHING`,
    ),
    messagesByIds: db.prepare<[{ appId: string; ids: string }], MessageRow>(
      'SELECT * FROM messages WHERE app_id = @appId AND id IN (SELECT value FROM json_each(@ids))',
    ),
    messageAnyApp: db.prepare<[{ key: string }], MessageRow>(SEARCH_SQL.byId),
    messagesByEventId: db.prepare<[{ key: string; limit: number }], MessageRow>(SEARCH_SQL.byEventId),
    messagesByIdempotencyKey: db.prepare<[{ key: string; limit: number }], MessageRow>(
      SEARCH_SQL.byIdempotencyKey,
    ),
    messageById: db.prepare<[{ appId: string; key: string }], MessageRow>(
      `SELECT * FROM messages WHERE app_id = @appId AND (id = @key OR event_id = @key)
       ORDER BY id = @key DESC LIMIT 1`,
    ),
  };
}

/** The messages of a SQLite store. */
export class SqliteMessages {
  private readonly stmt;
  private readonly ingest: GroupCommit<PendingMessage, AcceptedMessage>;

  constructor(
    private readonly conn: SqliteConnection,
    private readonly catalog: SqliteCatalog,
    private readonly deliveries: SqliteDeliveries,
    private readonly activity: SqliteActivity,
    maxBatch: number,
  ) {
    this.stmt = prepare(conn);
    this.ingest = new GroupCommit((items) => this.commit(items), maxBatch);
  }

  acceptMessage(input: NewMessage): Promise<AcceptedMessage> {
    const now = this.conn.clock.now();
    const message = messageRecord(newId('msg', now), input, now);
    return this.ingest.submit({ message, onlyEndpointId: input.onlyEndpointId });
  }

  /** See `Store.onGroupCommit`. */
  onGroupCommit(listener: GroupCommitListener): () => void {
    return this.ingest.onCommit(listener);
  }

  /** Waits for the messages submitted so far to be committed. */
  flush(): Promise<void> {
    return this.ingest.flush();
  }

  /**
   * Writes a batch of messages and their deliveries in one transaction. Deliveries that a
   * standing claim takes are written leased and handed to the onFresh listeners after the
   * commit; the others are woken for.
   */
  private commit(batch: PendingMessage[]): ItemResult<AcceptedMessage>[] {
    const woken = new Set<string>();
    const order = this.deliveries.standing;
    let left = order?.left ?? 0;
    const fresh: ClaimedDelivery[] = [];
    const results = this.conn.immediate(() => {
      // Per application named in this batch: its id (the caller may use its uid) and endpoints.
      const apps = new Map<string, { id: string; endpoints: Endpoint[] } | null>();
      const tally = new ActivityTally();
      const out = batch.map(({ message, onlyEndpointId }): ItemResult<AcceptedMessage> => {
        let app = apps.get(message.appId);
        if (app === undefined) {
          const id = this.catalog.appId(message.appId);
          app = id === null ? null : { id, endpoints: this.catalog.enabledEndpoints(id) };
          apps.set(message.appId, app);
        }
        if (app === null)
          return { ok: false, error: new NotFoundError(`application ${message.appId} not found`) };
        message.appId = app.id;
        const { changes } = this.stmt.insertMessage.run(fromMessage(message));
        if (changes === 0) {
          return { ok: false, error: new ConflictError(`a message with eventId ${message.eventId} exists`) };
        }
        tally.accepted(message.createdAt);
        let deliveries = 0;
        // A message for later (deliverAt) waits pending, never in a standing claim.
        const deferred = message.deliverAt !== null;
        for (const endpoint of recipients(app.endpoints, message, onlyEndpointId)) {
          const id = newId('dlv', message.createdAt);
          // A listener endpoint's delivery waits for its `herald listen` stream, never a worker.
          const listener = endpoint.listener !== null;
          const leased = !deferred && !listener && order !== null && left > 0 && !order.skip.has(endpoint.id);
          const dueAt = leased ? message.createdAt + order.leaseMs : (message.deliverAt ?? message.createdAt);
          this.deliveries.insert({
            id,
            msg_id: message.id,
            endpoint_id: endpoint.id,
            app_id: message.appId,
            status: leased ? 'sending' : 'pending',
            due_at: dueAt,
            lease_owner: leased ? order.owner : null,
            created_at: message.createdAt,
            listener: listener ? 1 : 0,
          });
          deliveries++;
          if (leased) {
            fresh.push(freshDelivery(id, message, endpoint, dueAt));
            left--;
          } else {
            // A deferred one wakes the dispatcher too, so that it sets its timer for it.
            woken.add(endpoint.id);
          }
        }
        return { ok: true, value: { message, deliveries } };
      });
      this.activity.add(tally);
      return out;
    });
    if (order) order.left = left;
    if (order && fresh.length > 0) this.conn.fresh(order.owner, fresh);
    // One wake-up per committed batch, naming the endpoints that got work.
    if (woken.size > 0) this.conn.wake([...woken]);
    return results;
  }

  getMessage(appId: string, idOrEventId: string): Message | null {
    const app = this.catalog.appId(appId);
    if (app === null) return null;
    const row = this.stmt.messageById.get({ appId: app, key: idOrEventId });
    return row ? toMessage(row) : null;
  }

  listMessages(filter: MessageFilter, page: PageRequest): Page<Message> {
    const { sql, params, ks } = messageListQuery(this.catalog.mustAppId(filter.appId), filter, page);
    const rows = this.conn.cached<[Record<string, unknown>], MessageRow>(sql).all(params);
    return pageFrom(rows.map(toMessage), page, ks, (m) => m.id);
  }

  findMessages(key: string, limit: number): { matched: MessageMatch; message: Message }[] {
    const byId = this.stmt.messageAnyApp.get({ key });
    return [
      ...(byId ? [{ matched: 'id' as const, message: toMessage(byId) }] : []),
      ...this.stmt.messagesByEventId
        .all({ key, limit })
        .map((r) => ({ matched: 'eventId' as const, message: toMessage(r) })),
      ...this.stmt.messagesByIdempotencyKey
        .all({ key, limit })
        .map((r) => ({ matched: 'idempotencyKey' as const, message: toMessage(r) })),
    ];
  }

  getMessages(appId: string, ids: readonly string[]): Message[] {
    if (ids.length === 0) return [];
    return this.stmt.messagesByIds.all({ appId, ids: JSON.stringify(ids) }).map(toMessage);
  }
}

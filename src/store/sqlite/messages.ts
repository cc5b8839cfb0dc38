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
import { idWindow, keyset, pageFrom } from '../paging.js';
import { fromMessage, type MessageRow, type PendingMessage, toMessage } from '../rows.js';
import type {
  AcceptedMessage,
  ClaimedDelivery,
  MessageFilter,
  NewMessage,
  Page,
  PageRequest,
} from '../store.js';
import type { SqliteActivity } from './activity.js';
import type { SqliteCatalog } from './catalog.js';
import { pageSql, type SqliteConnection, type Where, windowBounds } from './connection.js';
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

function prepare({ db }: SqliteConnection) {
  return {
    insertMessage: db.prepare<[MessageRow]>(
      `INSERT INTO messages (id, app_id, event_type, event_id, channels, tags, payload, headers, deliver_at,
         payload_expires_at, expunged_at, trace_context, created_at, transformations_params)
       VALUES (@id, @app_id, @event_type, @event_id, @channels, @tags, @payload, @headers, @deliver_at,
         @payload_expires_at, @expunged_at, @trace_context, @created_at, @transformations_params)
       ON CONFLICT DO NOTHING`,
    ),
    messagesByIds: db.prepare<[{ appId: string; ids: string }], MessageRow>(
      'SELECT * FROM messages WHERE app_id = @appId AND id IN (SELECT value FROM json_each(@ids))',
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
    const w: Where = { where: ['app_id = @appId'], params: { appId: this.catalog.mustAppId(filter.appId) } };
    if (filter.eventTypes && filter.eventTypes.length > 0) {
      w.where.push('event_type IN (SELECT value FROM json_each(@eventTypes))');
      w.params.eventTypes = JSON.stringify(filter.eventTypes);
    }
    if (filter.channel !== undefined) {
      w.where.push('EXISTS (SELECT 1 FROM json_each(channels) WHERE value = @channel)');
      w.params.channel = filter.channel;
    }
    if (filter.tag !== undefined) {
      w.where.push('EXISTS (SELECT 1 FROM json_each(tags) WHERE value = @tag)');
      w.params.tag = filter.tag;
    }
    windowBounds(w, 'id', idWindow('msg', filter));
    const ks = keyset(page, 'descending', filter.after !== undefined && filter.before === undefined);
    const sql = `SELECT * FROM messages ${pageSql(w, ks, 'id', page.limit)}`;
    const rows = this.conn.cached<[Record<string, unknown>], MessageRow>(sql).all(w.params);
    return pageFrom(rows.map(toMessage), page, ks, (m) => m.id);
  }

  getMessages(appId: string, ids: readonly string[]): Message[] {
    if (ids.length === 0) return [];
    return this.stmt.messagesByIds.all({ appId, ids: JSON.stringify(ids) }).map(toMessage);
  }
}

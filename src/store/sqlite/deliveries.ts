/**
 * The delivery queue on SQLite: fan-out inserts, claims (and the standing claim), completions
 * with their attempts and endpoint effects, releases, resends, recovery, replay, and the
 * attempt log. Every statement is prepared once, when the store opens; the attempt list,
 * whose WHERE depends on the filter, keeps one statement per filter shape.
 */

import { type EndpointState, endpointEffects, endpointsToRead } from '../../core/effects.js';
import { NotFoundError } from '../../core/errors.js';
import { tallyFailures } from '../../core/failures.js';
import { bulkReplayMatches, passesPayloadFilter, replaySelection } from '../../core/filter.js';
import { idFloor, newId } from '../../core/ids.js';
import type { Attempt, Delivery, Endpoint, Message } from '../../core/types.js';
import { ActivityTally } from '../activity.js';
import { idRange, inWindow } from '../batches.js';
import { idWindow, keyset, pageFrom } from '../paging.js';
import { beingSent } from '../resend.js';
import {
  type AttemptRow,
  CLAIM_ENDPOINTS_MAX,
  type ClaimRow,
  type DeliveryRow,
  type EndpointRow,
  type MessageRow,
  toAttempt,
  toClaimed,
  toDelivery,
  toEndpoint,
  toMessage,
} from '../rows.js';
import type {
  AttemptFilter,
  BatchResult,
  BulkReplayFilter,
  ClaimedDelivery,
  ClaimRequest,
  ClaimWithNext,
  Completion,
  DisabledEndpoint,
  EndpointDeliveryFilter,
  ListenerClaim,
  Page,
  PageRequest,
  QueueStats,
  Release,
  StandingOrder,
  TimeWindow,
} from '../store.js';
import type { SqliteActivity } from './activity.js';
import { messageConditions, pageSql, type SqliteConnection, type Where, windowBounds } from './connection.js';
import type { SqliteFailures } from './failures.js';
import type { SqliteOperational } from './operational.js';

const CLAIM_COLUMNS = `
  SELECT d.id, d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.next_trigger,
         m.event_type, CASE WHEN m.expunged_at IS NULL THEN m.payload END AS payload, m.headers,
         m.trace_context, m.transformations_params, e.updated_at AS endpoint_version
  FROM deliveries d
  JOIN messages m ON m.id = d.msg_id
  JOIN endpoints e ON e.id = d.endpoint_id`;

/**
 * Due deliveries, oldest first: pending ones whose time has come and leased ones whose lease
 * expired. Served by the partial index `deliveries_due`. Parameters: now, limit.
 */
export const DUE_DELIVERIES_SQL = `${CLAIM_COLUMNS}
  WHERE d.status IN ('pending', 'sending') AND d.listener = 0 AND d.due_at <= ?
  ORDER BY d.due_at
  LIMIT ?`;

/** The queue's length for metrics, counted on its partial index. */
export const QUEUE_COUNTS_SQL = `SELECT status, count(*) AS n FROM deliveries INDEXED BY deliveries_due
  WHERE status IN ('pending', 'sending') AND listener = 0 GROUP BY status`;

/**
 * The due time of the oldest pending delivery due by `?`. The IN term lets SQLite use the
 * queue's partial index (it cannot tell that status = 'pending' implies it): a walk up the
 * due times to the first pending one, not a scan of the table.
 */
export const OLDEST_DUE_SQL = `SELECT MIN(due_at) AS due FROM deliveries INDEXED BY deliveries_due
  WHERE status IN ('pending', 'sending') AND listener = 0 AND status = 'pending' AND due_at <= ?`;

/**
 * The endpoints with due work, oldest first, leaving out a JSON array of endpoint ids: one
 * probe of `deliveries_endpoint_due` per endpoint, whatever the backlog. Parameters: the
 * skipped ids, now, limit.
 */
export const DUE_ENDPOINTS_SQL = `
  SELECT id FROM (
    SELECT e.id AS id,
           (SELECT MIN(d.due_at) FROM deliveries d
            WHERE d.endpoint_id = e.id AND d.status IN ('pending', 'sending') AND d.listener = 0) AS first_due
    FROM endpoints e
    WHERE e.id NOT IN (SELECT value FROM json_each(?))
  )
  WHERE first_due <= ?
  ORDER BY first_due
  LIMIT ?`;

/** Due deliveries of one endpoint, oldest first. Parameters: endpoint id, now, limit. */
export const DUE_OF_ENDPOINT_SQL = `${CLAIM_COLUMNS}
  WHERE d.endpoint_id = ? AND d.status IN ('pending', 'sending') AND d.listener = 0 AND d.due_at <= ?
  ORDER BY d.due_at
  LIMIT ?`;

/**
 * Due deliveries of one listener endpoint (`herald listen`), oldest first, on
 * `deliveries_listener_due`. Parameters: endpoint id, now, limit.
 */
export const DUE_OF_LISTENER_SQL = `${CLAIM_COLUMNS}
  WHERE d.endpoint_id = ? AND d.status IN ('pending', 'sending') AND d.listener = 1 AND d.due_at <= ?
  ORDER BY d.due_at, d.id
  LIMIT ?`;

/** A message row `m` as one JSON object, read back by `toMessage`. */
const MESSAGE_AS_JSON = `json_object('id', m.id, 'app_id', m.app_id, 'event_type', m.event_type,
    'event_id', m.event_id, 'channels', m.channels, 'tags', m.tags, 'payload', m.payload,
    'headers', m.headers, 'deliver_at', m.deliver_at, 'payload_expires_at', m.payload_expires_at,
    'expunged_at', m.expunged_at, 'created_at', m.created_at,
    'transformations_params', m.transformations_params, 'idempotency_key', m.idempotency_key)`;

/**
 * The background tasks' batches (named parameters): each reads at most @limit rows in id order
 * after the cursor @after on an index by id (deliveries_by_endpoint, messages_by_app), however
 * many rows the endpoint or application has; @before, an id the batch stays below, is null
 * for a window without an end.
 */
export const BATCH_SQL = {
  /** An endpoint's deliveries in id order, for recover (which picks the failed ones). */
  deliveriesAfter: `SELECT id, status, created_at FROM deliveries
    WHERE endpoint_id = @endpointId AND id > @after AND (@before IS NULL OR id < @before)
    ORDER BY id LIMIT @limit`,
  /** An application's messages in id order, for replay-missing. */
  messagesAfter: `SELECT * FROM messages
    WHERE app_id = @appId AND id > @after AND (@before IS NULL OR id < @before)
    ORDER BY id LIMIT @limit`,
  /** An endpoint's deliveries in id order with their message and last attempt, for bulk replay. */
  replayCandidates: `SELECT d.id, d.status, m.event_type, m.channels, m.tags, m.created_at AS msg_created_at,
      (SELECT a.id FROM attempts a WHERE a.msg_id = d.msg_id AND a.endpoint_id = d.endpoint_id
       ORDER BY a.id DESC LIMIT 1) AS last_attempt,
      (SELECT a.status_code FROM attempts a WHERE a.msg_id = d.msg_id AND a.endpoint_id = d.endpoint_id
       ORDER BY a.id DESC LIMIT 1) AS last_code
    FROM deliveries d JOIN messages m ON m.id = d.msg_id
    WHERE d.endpoint_id = @endpointId AND d.id > @after
    ORDER BY d.id LIMIT @limit`,
};

/** A new delivery: pending (due at creation, no owner), or already leased to a standing claim. */
export interface NewDeliveryRow {
  id: string;
  msg_id: string;
  endpoint_id: string;
  app_id: string;
  status: 'pending' | 'sending';
  due_at: number;
  lease_owner: string | null;
  created_at: number;
  /** 1 for a listener endpoint's delivery (handed to `herald listen`, never claimed by a dispatcher). */
  listener: 0 | 1;
}

/** Positional parameters of the delivery insert (bound only in `insert`). */
type DeliveryParams = [
  id: string,
  msgId: string,
  endpointId: string,
  appId: string,
  status: string,
  dueAt: number,
  leaseOwner: string | null,
  createdAt: number,
  listener: 0 | 1,
];

/** Positional parameters of the attempt insert (bound only in `insertAttempt`), in column order. */
type AttemptParams = [
  id: string,
  deliveryId: string,
  msgId: string,
  endpointId: string,
  appId: string,
  url: string,
  trigger: string,
  succeeded: 0 | 1,
  statusCode: number | null,
  responseBody: string,
  durationMs: number,
  errorKind: string | null,
  errorMessage: string | null,
  requestHeaders: string,
  createdAt: number,
];

/** Positional parameters of the completion update (bound only in `finish`). */
type FinishParams = [
  status: string,
  dueAt: number | null,
  counted: 0 | 1,
  attemptedAt: number | null,
  id: string,
  owner: string,
];

/** A time window [since, until) of creation times; `until` null: no end. */
interface Window {
  since: number;
  until: number | null;
}

function prepare({ db }: SqliteConnection) {
  return {
    // The statements run once per delivery bind by position, straight from the record (see
    // insert, complete): binding 15 attempt columns by name cost 1.8 us more per delivery
    // in bench/phases.ts (complete 14.0 against 12.2 us, 4 alternating runs).
    insertDelivery: db.prepare<DeliveryParams>(
      `INSERT INTO deliveries (id, msg_id, endpoint_id, app_id, status, attempts, due_at, lease_owner, created_at, listener)
       VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
    ),
    // A replay skips a delivery that a fan-out or another replay wrote since it looked.
    insertReplayed: db.prepare<
      [
        Pick<
          NewDeliveryRow,
          'id' | 'msg_id' | 'endpoint_id' | 'app_id' | 'due_at' | 'created_at' | 'listener'
        >,
      ]
    >(
      `INSERT INTO deliveries (id, msg_id, endpoint_id, app_id, status, attempts, due_at, created_at, listener)
       VALUES (@id, @msg_id, @endpoint_id, @app_id, 'pending', 0, @due_at, @created_at, @listener)
       ON CONFLICT (msg_id, endpoint_id) DO NOTHING`,
    ),
    // A resend to an endpoint the message never went to: a new delivery, due now.
    insertResent: db.prepare<[{ id: string; msgId: string; endpointId: string; now: number }]>(
      `INSERT INTO deliveries (id, msg_id, endpoint_id, app_id, status, attempts, due_at, next_trigger, created_at, listener)
       SELECT @id, m.id, e.id, m.app_id, 'pending', 0, @now, 'manual', @now, e.listener IS NOT NULL
       FROM messages m JOIN endpoints e ON e.app_id = m.app_id AND e.id = @endpointId
       WHERE m.id = @msgId
       ON CONFLICT (msg_id, endpoint_id) DO NOTHING`,
    ),
    dueDeliveries: db.prepare<[number, number], ClaimRow>(DUE_DELIVERIES_SQL),
    dueEndpoints: db.prepare<[string, number, number], { id: string }>(DUE_ENDPOINTS_SQL),
    dueOfEndpoint: db.prepare<[string, number, number], ClaimRow>(DUE_OF_ENDPOINT_SQL),
    dueOfListener: db.prepare<[string, number, number], ClaimRow>(DUE_OF_LISTENER_SQL),
    lease: db.prepare<[leaseEnd: number, owner: string, id: string]>(
      `UPDATE deliveries SET status = 'sending', due_at = ?, lease_owner = ? WHERE id = ?`,
    ),
    insertAttempt: db.prepare<AttemptParams>(
      `INSERT INTO attempts (id, delivery_id, msg_id, endpoint_id, app_id, url, trigger, succeeded,
         status_code, response_body, duration_ms, error_kind, error_message, request_headers, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // Only while the lease is still this worker's: a late worker's completion changes nothing.
    finishDelivery: db.prepare<FinishParams>(
      `UPDATE deliveries
       SET status = ?, due_at = ?, attempts = attempts + ?, last_attempt_at = COALESCE(?, last_attempt_at),
           lease_owner = NULL, next_trigger = 'scheduled'
       WHERE id = ? AND lease_owner = ? AND status = 'sending'`,
    ),
    endpointState: db.prepare<[string], { app_id: string; failing_since: number | null; disabled: number }>(
      'SELECT app_id, failing_since, disabled FROM endpoints WHERE id = ?',
    ),
    setFailingSince: db.prepare<[{ id: string; failing_since: number | null }]>(
      'UPDATE endpoints SET failing_since = @failing_since WHERE id = @id',
    ),
    disableEndpoint: db.prepare<[{ id: string; now: number; reason: string }]>(
      `UPDATE endpoints SET disabled = 1, updated_at = @now, disabled_reason = @reason, disabled_at = @now
       WHERE id = @id AND disabled = 0`,
    ),
    failPendingOfEndpoint: db.prepare<[string]>(
      `UPDATE deliveries SET status = 'failed', due_at = NULL WHERE endpoint_id = ? AND status = 'pending'`,
    ),
    release: db.prepare<[{ id: string; owner: string; due_at: number }]>(
      `UPDATE deliveries SET status = 'pending', due_at = @due_at, lease_owner = NULL
       WHERE id = @id AND lease_owner = @owner AND status = 'sending'`,
    ),
    queueCounts: db.prepare<[], { status: 'pending' | 'sending'; n: number }>(QUEUE_COUNTS_SQL),
    oldestDue: db.prepare<[number], { due: number | null }>(OLDEST_DUE_SQL),
    nextDue: db.prepare<[], { due: number | null }>(
      `SELECT MIN(due_at) AS due FROM deliveries WHERE status IN ('pending', 'sending') AND listener = 0`,
    ),
    nextDueAfter: db.prepare<[now: number, skip: string], { due: number | null }>(
      `SELECT MIN(due_at) AS due FROM deliveries
       WHERE status IN ('pending', 'sending') AND listener = 0 AND due_at > ?
         AND endpoint_id NOT IN (SELECT value FROM json_each(?))`,
    ),
    listenerSeen: db.prepare<[now: number, id: string]>(
      'UPDATE endpoints SET listener_seen_at = ? WHERE id = ? AND listener IS NOT NULL',
    ),
    delivery: db.prepare<[string, string], DeliveryRow>(
      'SELECT * FROM deliveries WHERE msg_id = ? AND endpoint_id = ?',
    ),
    deliveriesOfMessage: db.prepare<[string], DeliveryRow>(
      'SELECT * FROM deliveries WHERE msg_id = ? ORDER BY id',
    ),
    resend: db.prepare<[{ now: number; msgId: string; endpointId: string }]>(
      `UPDATE deliveries SET status = 'pending', due_at = @now, next_trigger = 'manual', lease_owner = NULL
       WHERE msg_id = @msgId AND endpoint_id = @endpointId AND (status <> 'sending' OR due_at <= @now)`,
    ),
    endpoint: db.prepare<[string], EndpointRow>('SELECT * FROM endpoints WHERE id = ?'),
    endpointsByIds: db.prepare<[string], EndpointRow>(
      'SELECT * FROM endpoints WHERE id IN (SELECT value FROM json_each(?))',
    ),
    countByStatus: db.prepare<[string], { status: Delivery['status']; n: number }>(
      'SELECT status, COUNT(*) AS n FROM deliveries WHERE endpoint_id = ? GROUP BY status',
    ),
    countByStatusIn: db.prepare<[Window & { endpointId: string }], { status: Delivery['status']; n: number }>(
      `SELECT status, COUNT(*) AS n FROM deliveries
       WHERE endpoint_id = @endpointId AND created_at >= @since AND (@until IS NULL OR created_at < @until)
       GROUP BY status`,
    ),
    // Background-task batches: each scans on an index by id from `after`, at most `limit` rows.
    // At most `limit` of the endpoint's deliveries in id order between two ids (ids sort by
    // creation time, so the window is an id range); the batch picks the failed ones.
    deliveriesAfter: db.prepare<
      [{ endpointId: string; after: string; before: string | null; limit: number }],
      { id: string; status: Delivery['status']; created_at: number }
    >(BATCH_SQL.deliveriesAfter),
    // A message whose payload is gone is not sent again (recover, bulk-replay, replay-missing).
    recoverOne: db.prepare<[{ id: string; now: number }]>(
      `UPDATE deliveries SET status = 'pending', due_at = @now, next_trigger = 'manual'
       WHERE id = @id AND status = 'failed'
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = deliveries.msg_id AND m.expunged_at IS NOT NULL)`,
    ),
    messagesAfter: db.prepare<
      [{ appId: string; after: string; before: string | null; limit: number }],
      MessageRow
    >(BATCH_SQL.messagesAfter),
    // The message of a delivery, for the endpoint's payload filter (recover, bulk replay).
    messageOfDelivery: db.prepare<[string], MessageRow>(
      'SELECT m.* FROM deliveries d JOIN messages m ON m.id = d.msg_id WHERE d.id = ?',
    ),
    hasDelivery: db.prepare<[string, string], { one: number }>(
      'SELECT 1 AS one FROM deliveries WHERE msg_id = ? AND endpoint_id = ?',
    ),
    replayCandidates: db.prepare<
      [{ endpointId: string; after: string; limit: number }],
      {
        id: string;
        status: Delivery['status'];
        event_type: string;
        channels: string | null;
        tags: string | null;
        msg_created_at: number;
        last_attempt: string | null;
        last_code: number | null;
      }
    >(BATCH_SQL.replayCandidates),
    replayOne: db.prepare<[{ id: string; now: number }]>(
      `UPDATE deliveries SET status = 'pending', due_at = @now, next_trigger = 'manual', lease_owner = NULL
       WHERE id = @id AND status <> 'sending'
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = deliveries.msg_id AND m.expunged_at IS NOT NULL)`,
    ),
    attempt: db.prepare<[string, string, string], AttemptRow>(
      'SELECT * FROM attempts WHERE app_id = ? AND msg_id = ? AND id = ?',
    ),
  };
}

/** What is left of a standing claim: deliveries of messages accepted next go to `owner`. */
export interface Standing {
  owner: string;
  leaseMs: number;
  /** How many more it takes. */
  left: number;
  /** Endpoints whose budget is full: their deliveries are left pending. */
  skip: ReadonlySet<string>;
}

/** The delivery queue and attempt log of a SQLite store. */
export class SqliteDeliveries {
  private readonly stmt;
  /** The standing claim, if any (one per store: the dispatcher of this process). */
  standing: Standing | null = null;

  constructor(
    private readonly conn: SqliteConnection,
    /** The id of the application with this id or uid, or `null` (the catalog's). */
    private readonly appId: (idOrUid: string) => string | null,
    /** The operational events' writer (made after the queue, which it writes to). */
    private readonly operational: () => SqliteOperational,
    /** The activity counters, which each batch of completions adds to. */
    private readonly activity: SqliteActivity,
    /** The failure groups, which each batch of completions with an attempt adds to. */
    private readonly failures: SqliteFailures,
  ) {
    this.stmt = prepare(conn);
  }

  /** Writes a delivery of a message being committed (in the caller's transaction). */
  insert(r: NewDeliveryRow): void {
    this.stmt.insertDelivery.run(
      r.id,
      r.msg_id,
      r.endpoint_id,
      r.app_id,
      r.status,
      r.due_at,
      r.lease_owner,
      r.created_at,
      r.listener,
    );
  }

  private insertAttempt(a: Attempt): void {
    this.stmt.insertAttempt.run(
      a.id,
      a.deliveryId,
      a.msgId,
      a.endpointId,
      a.appId,
      a.url,
      a.trigger,
      a.succeeded ? 1 : 0,
      a.statusCode,
      a.responseBody,
      Math.round(a.durationMs),
      a.errorKind,
      a.errorMessage,
      JSON.stringify(a.requestHeaders),
      a.createdAt,
    );
  }

  private finish(c: Completion): void {
    this.stmt.finishDelivery.run(
      c.next.status,
      c.next.status === 'pending' ? c.next.dueAt : null,
      c.attempt ? 1 : 0,
      c.attempt?.createdAt ?? null,
      c.deliveryId,
      c.owner,
    );
  }

  /** Fails an endpoint's pending deliveries (it was disabled; recover re-sends them). */
  failPending(endpointId: string): void {
    this.stmt.failPendingOfEndpoint.run(endpointId);
  }

  claimDue(request: ClaimRequest): ClaimedDelivery[] {
    return this.conn.immediate(() => this.lease(request));
  }

  /** See `Store.claimDueAndNext`. */
  claimDueAndNext(request: ClaimRequest): ClaimWithNext {
    return this.conn.immediate(() => {
      // Read before the claim, as PostgreSQL's one statement sees it: the claim's own leases
      // are not counted (what it takes is due at or before `now`, so not counted either), nor
      // are the skipped endpoints (their completions wake the worker).
      const skip = JSON.stringify(request.skipEndpoints);
      const nextDueAt = this.stmt.nextDueAfter.get(request.now, skip)?.due ?? null;
      const claimed = this.lease(request);
      return { claimed, nextDueAt: claimed.length < request.limit ? nextDueAt : null };
    });
  }

  /** Leases due deliveries to `request.owner`, in the caller's transaction. */
  private lease(request: ClaimRequest): ClaimedDelivery[] {
    const until = request.now + request.leaseMs;
    // The owner's standing claim was sized for its room before this claim: withdraw it here,
    // so that nothing fills it between this claim and the stand that follows (StandingClaims).
    if (this.standing?.owner === request.owner) this.standing = null;
    const rows =
      request.skipEndpoints.length === 0
        ? this.stmt.dueDeliveries.all(request.now, request.limit)
        : this.dueSkipping(request.now, request.skipEndpoints, request.limit);
    for (const row of rows) this.stmt.lease.run(until, request.owner, row.id);
    return rows.map((r) => toClaimed(r, until));
  }

  /** See `StandingClaims.claim`: the claim and the stand in one transaction. */
  claimAndStand(request: ClaimRequest): ClaimedDelivery[] {
    return this.conn.immediate(() => {
      const claimed = this.lease(request);
      this.stand(request.owner, {
        leaseMs: request.leaseMs,
        limit: request.limit - claimed.length,
        skipEndpoints: request.skipEndpoints,
      });
      return claimed;
    });
  }

  /** See `StandingClaims.stand`: one standing claim per store (the dispatcher of this process). */
  stand(owner: string, order: StandingOrder): void {
    this.standing =
      order.limit > 0 && this.conn.hasFreshListeners
        ? { owner, leaseMs: order.leaseMs, left: order.limit, skip: new Set(order.skipEndpoints) }
        : null;
  }

  /** See `StandingClaims.withdraw`. */
  withdraw(owner: string): void {
    if (this.standing?.owner === owner) this.standing = null;
  }

  /**
   * Due deliveries of the endpoints not in `skip`, endpoint by endpoint, oldest endpoint
   * first: never reads a row of a skipped endpoint.
   */
  private dueSkipping(now: number, skip: readonly string[], limit: number): ClaimRow[] {
    const rows: ClaimRow[] = [];
    for (const { id } of this.stmt.dueEndpoints.all(JSON.stringify(skip), now, CLAIM_ENDPOINTS_MAX)) {
      rows.push(...this.stmt.dueOfEndpoint.all(id, now, limit - rows.length));
      if (rows.length >= limit) break;
    }
    return rows;
  }

  /** See `Store.claimListener`: leases a listener endpoint's due deliveries and marks it seen. */
  claimListener(request: ListenerClaim): ClaimedDelivery[] {
    return this.conn.immediate(() => {
      const until = request.now + request.leaseMs;
      const rows = this.stmt.dueOfListener.all(request.endpointId, request.now, request.limit);
      for (const row of rows) this.stmt.lease.run(until, request.owner, row.id);
      this.stmt.listenerSeen.run(request.now, request.endpointId);
      return rows.map((r) => toClaimed(r, until));
    });
  }

  /**
   * See `Store.complete`. The endpoint effects come from `endpointEffects` on the state read
   * in this (serialised) transaction, and are executed in batch order: an endpoint is
   * disabled, and its pending deliveries failed, right after the completion that disables it.
   */
  complete(completions: readonly Completion[], now: number, autoDisableAfterMs: number): DisabledEndpoint[] {
    if (completions.length === 0) return [];
    const woken = new Set<string>();
    const result = this.conn.immediate(() => {
      const state = new Map<string, EndpointState>();
      for (const id of endpointsToRead(completions)) {
        const row = this.stmt.endpointState.get(id);
        if (row)
          state.set(id, { appId: row.app_id, failingSince: row.failing_since, disabled: row.disabled !== 0 });
      }
      const { endpoints, disabled } = endpointEffects(completions, state, now, autoDisableAfterMs);
      const disables = endpoints
        .flatMap((e) =>
          e.disable ? [{ after: e.disable.after, endpointId: e.endpointId, reason: e.disable.reason }] : [],
        )
        .sort((a, b) => a.after - b.after);
      let next = 0;
      const tally = new ActivityTally();
      const attempts: Attempt[] = [];
      completions.forEach((c, i) => {
        if (c.attempt) {
          this.insertAttempt(c.attempt);
          tally.attempted(c.attempt.createdAt, c.attempt.succeeded);
          attempts.push(c.attempt);
        }
        this.finish(c);
        for (let d = disables[next]; d !== undefined && d.after === i; d = disables[++next]) {
          this.stmt.disableEndpoint.run({ id: d.endpointId, now, reason: d.reason });
          this.failPending(d.endpointId);
        }
      });
      for (const e of endpoints) {
        if (e.failingSince !== undefined)
          this.stmt.setFailingSince.run({ id: e.endpointId, failing_since: e.failingSince });
      }
      this.activity.add(tally);
      this.failures.add(tallyFailures(attempts));
      this.operational().emitCompletions(completions, disabled, now, woken);
      return disabled;
    });
    if (woken.size > 0) this.conn.wake([...woken]);
    return result;
  }

  release(owner: string, releases: readonly Release[]): void {
    if (releases.length === 0) return;
    this.conn.immediate(() => {
      for (const r of releases) this.stmt.release.run({ id: r.deliveryId, owner, due_at: r.dueAt });
    });
    this.conn.wake(null);
  }

  nextDueAt(): number | null {
    return this.stmt.nextDue.get()?.due ?? null;
  }

  queueStats(now: number): QueueStats {
    const stats: QueueStats = {
      pending: 0,
      sending: 0,
      oldestDueAt: this.stmt.oldestDue.get(now)?.due ?? null,
    };
    for (const { status, n } of this.stmt.queueCounts.all()) stats[status] = n;
    return stats;
  }

  getDelivery(msgId: string, endpointId: string): Delivery | null {
    const row = this.stmt.delivery.get(msgId, endpointId);
    return row ? toDelivery(row) : null;
  }

  listDeliveries(msgId: string): Delivery[] {
    return this.stmt.deliveriesOfMessage.all(msgId).map(toDelivery);
  }

  resend(msgId: string, endpointId: string): Delivery {
    const now = this.conn.clock.now();
    const row = this.conn.immediate(() => {
      let { changes } = this.stmt.resend.run({ now, msgId, endpointId });
      if (changes === 0) {
        const existing = this.stmt.delivery.get(msgId, endpointId);
        if (existing?.status === 'sending') throw beingSent(msgId, endpointId);
        if (!existing) {
          ({ changes } = this.stmt.insertResent.run({ id: newId('dlv', now), msgId, endpointId, now }));
          if (changes === 0)
            throw new NotFoundError(`no message ${msgId} with an endpoint ${endpointId} in its application`);
        }
      }
      return { row: this.stmt.delivery.get(msgId, endpointId)!, changes };
    });
    if (row.changes > 0) this.conn.wake([endpointId]);
    return toDelivery(row.row);
  }

  listEndpointDeliveries(
    filter: EndpointDeliveryFilter,
    page: PageRequest,
  ): Page<{ delivery: Delivery; message: Message }> {
    const w: Where = { where: ['d.endpoint_id = @endpointId'], params: { endpointId: filter.endpointId } };
    if (filter.status !== undefined) {
      w.where.push('d.status = @status');
      w.params.status = filter.status;
    }
    messageConditions(w, filter);
    windowBounds(w, 'd.msg_id', idWindow('msg', filter));
    const ks = keyset(page, 'descending', filter.after !== undefined && filter.before === undefined);
    const sql = `SELECT d.*, ${MESSAGE_AS_JSON} AS m
       FROM deliveries d JOIN messages m ON m.id = d.msg_id ${pageSql(w, ks, 'd.msg_id', page.limit)}`;
    const rows = this.conn.cached<[Record<string, unknown>], DeliveryRow & { m: string }>(sql).all(w.params);
    const items = rows.map((r) => ({
      delivery: toDelivery(r),
      message: toMessage(JSON.parse(r.m) as MessageRow),
    }));
    return pageFrom(items, page, ks, (x) => x.message.id);
  }

  listMessageDestinations(
    msgId: string,
    page: PageRequest,
  ): Page<{ delivery: Delivery; endpoint: Endpoint }> {
    const ks = keyset(page, 'ascending');
    const w: Where = { where: ['d.msg_id = @msgId'], params: { msgId } };
    const sql = `SELECT d.* FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id ${pageSql(w, ks, 'd.endpoint_id', page.limit)}`;
    const rows = this.conn.cached<[Record<string, unknown>], DeliveryRow>(sql).all(w.params);
    const endpoints = new Map(
      this.stmt.endpointsByIds
        .all(JSON.stringify(rows.map((r) => r.endpoint_id)))
        .map((r) => [r.id, toEndpoint(r, this.conn.box)]),
    );
    const items = rows.map((r) => ({ delivery: toDelivery(r), endpoint: endpoints.get(r.endpoint_id)! }));
    return pageFrom(items, page, ks, (x) => x.delivery.endpointId);
  }

  countDeliveries(endpointId: string, window?: TimeWindow): Record<Delivery['status'], number> {
    const counts = { pending: 0, sending: 0, succeeded: 0, failed: 0, canceled: 0 };
    const rows = window
      ? this.stmt.countByStatusIn.all({ endpointId, ...window })
      : this.stmt.countByStatus.all(endpointId);
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }

  /** See `Store.recoverBatch`. */
  recoverBatch(endpointId: string, window: TimeWindow, after: string | null, limit: number): BatchResult {
    const now = this.conn.clock.now();
    const { start, end } = idRange('dlv', window, after);
    const result = this.conn.immediate(() => {
      const passes = this.payloadFilterOf(endpointId);
      const rows = this.stmt.deliveriesAfter.all({ endpointId, after: start, before: end, limit });
      let count = 0;
      for (const r of rows)
        if (r.status === 'failed' && inWindow(r.created_at, window) && passes(r.id))
          count += this.stmt.recoverOne.run({ id: r.id, now }).changes;
      return { count, next: rows.length < limit ? null : rows[rows.length - 1]!.id };
    });
    if (result.count > 0) this.conn.wake([endpointId]);
    return result;
  }

  /** See `Store.replayMissingBatch`. */
  replayMissingBatch(
    endpointId: string,
    window: TimeWindow,
    after: string | null,
    limit: number,
  ): BatchResult {
    const row = this.stmt.endpoint.get(endpointId);
    if (!row) throw new NotFoundError(`endpoint ${endpointId} not found`);
    const endpoint = toEndpoint(row, this.conn.box);
    const now = this.conn.clock.now();
    const { start, end } = idRange('msg', window, after);
    const result = this.conn.immediate(() => {
      const scanned = this.stmt.messagesAfter.all({
        appId: endpoint.appId,
        after: start,
        before: end,
        limit,
      });
      const missing = scanned
        .filter(
          (m) =>
            m.expunged_at === null &&
            inWindow(m.created_at, window) &&
            !this.stmt.hasDelivery.get(m.id, endpoint.id),
        )
        .map(toMessage);
      let count = 0;
      for (const m of replaySelection(endpoint, missing)) {
        count += this.stmt.insertReplayed.run({
          id: newId('dlv', now),
          msg_id: m.id,
          endpoint_id: endpoint.id,
          app_id: endpoint.appId,
          // A message for later is not sent before its time.
          due_at: Math.max(now, m.deliverAt ?? now),
          created_at: now,
          listener: endpoint.listener === null ? 0 : 1,
        }).changes;
      }
      return { count, next: scanned.length < limit ? null : scanned[scanned.length - 1]!.id };
    });
    if (result.count > 0) this.conn.wake([endpoint.id]);
    return result;
  }

  /**
   * Whether a delivery's message passes the endpoint's payload filter as it is now: always,
   * without one (then no message is read).
   */
  private payloadFilterOf(endpointId: string): (deliveryId: string) => boolean {
    const row = this.stmt.endpoint.get(endpointId);
    const endpoint = row ? toEndpoint(row, this.conn.box) : null;
    if (!endpoint?.filter) return () => true;
    return (deliveryId) => {
      const message = this.stmt.messageOfDelivery.get(deliveryId);
      return message !== undefined && passesPayloadFilter(endpoint, toMessage(message));
    };
  }

  /** See `Store.bulkReplayBatch`. */
  bulkReplayBatch(
    endpointId: string,
    filter: BulkReplayFilter,
    after: string | null,
    limit: number,
  ): BatchResult {
    const now = this.conn.clock.now();
    // A delivery is made at or after its message: none before the window's start is in it.
    const start = after ?? idFloor('dlv', filter.since);
    const result = this.conn.immediate(() => {
      const passes = this.payloadFilterOf(endpointId);
      const rows = this.stmt.replayCandidates.all({ endpointId, after: start, limit });
      let count = 0;
      for (const r of rows) {
        if (!inWindow(r.msg_created_at, filter)) continue;
        const candidate = {
          status: r.status,
          eventType: r.event_type,
          channels: r.channels === null ? null : (JSON.parse(r.channels) as string[]),
          tags: r.tags === null ? null : (JSON.parse(r.tags) as string[]),
          attempted: r.last_attempt !== null,
          lastStatusCode: r.last_code,
        };
        if (bulkReplayMatches(filter, candidate) && passes(r.id))
          count += this.stmt.replayOne.run({ id: r.id, now }).changes;
      }
      return { count, next: rows.length < limit ? null : rows[rows.length - 1]!.id };
    });
    if (result.count > 0) this.conn.wake([endpointId]);
    return result;
  }

  getAttempt(appId: string, msgId: string, attemptId: string): Attempt | null {
    const app = this.appId(appId);
    if (app === null) return null;
    const row = this.stmt.attempt.get(app, msgId, attemptId);
    return row ? toAttempt(row) : null;
  }

  listAttempts(filter: AttemptFilter, page: PageRequest): Page<Attempt> {
    const w: Where = { where: ['app_id = @appId'], params: { appId: filter.appId } };
    if (filter.msgId !== undefined) {
      w.where.push('msg_id = @msgId');
      w.params.msgId = filter.msgId;
    }
    if (filter.endpointId !== undefined) {
      w.where.push('endpoint_id = @endpointId');
      w.params.endpointId = filter.endpointId;
    }
    if (filter.succeeded !== undefined) {
      w.where.push('succeeded = @succeeded');
      w.params.succeeded = filter.succeeded ? 1 : 0;
    }
    if (filter.statusCodeClass !== undefined) {
      if (filter.statusCodeClass === 0) w.where.push('status_code IS NULL');
      else {
        w.where.push('status_code >= @codeFrom AND status_code < @codeFrom + 100');
        w.params.codeFrom = filter.statusCodeClass;
      }
    }
    // The message's fields, looked up by its key for each attempt the page passes.
    const ofMessage: string[] = [];
    if (filter.eventTypes && filter.eventTypes.length > 0) {
      ofMessage.push('m.event_type IN (SELECT value FROM json_each(@eventTypes))');
      w.params.eventTypes = JSON.stringify(filter.eventTypes);
    }
    if (filter.channel !== undefined) {
      ofMessage.push('EXISTS (SELECT 1 FROM json_each(m.channels) WHERE value = @channel)');
      w.params.channel = filter.channel;
    }
    if (filter.tag !== undefined) {
      ofMessage.push('EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = @tag)');
      w.params.tag = filter.tag;
    }
    if (ofMessage.length > 0) {
      w.where.push(
        `EXISTS (SELECT 1 FROM messages m WHERE m.id = attempts.msg_id AND ${ofMessage.join(' AND ')})`,
      );
    }
    windowBounds(w, 'id', idWindow('atmpt', filter));
    const ks = keyset(page, 'descending', filter.after !== undefined && filter.before === undefined);
    const sql = `SELECT * FROM attempts ${pageSql(w, ks, 'id', page.limit)}`;
    const rows = this.conn.cached<[Record<string, unknown>], AttemptRow>(sql).all(w.params);
    return pageFrom(rows.map(toAttempt), page, ks, (a) => a.id);
  }
}

/**
 * The delivery queue on PostgreSQL: claims (`FOR UPDATE SKIP LOCKED` under a lease),
 * completions with their attempts and endpoint effects, releases, resends, recovery, replay,
 * and the attempt log. The statements of the delivery path are constants, each headed with
 * its parameters; batches cross as JSON arrays of named records ({@link jsonRecords}).
 */

import { type EndpointState, endpointEffects, endpointsToRead } from '../../core/effects.js';
import { NotFoundError } from '../../core/errors.js';
import { tallyFailures } from '../../core/failures.js';
import { bulkReplayMatches, passesPayloadFilter, replaySelection } from '../../core/filter.js';
import { idFloor, newId } from '../../core/ids.js';
import type { Attempt, Delivery } from '../../core/types.js';
import { MINUTE_MS } from '../activity.js';
import { idRange, inWindow } from '../batches.js';
import { completionEvents } from '../operational-events.js';
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
  ListenerClaim,
  Page,
  PageRequest,
  QueueStats,
  Release,
  TimeWindow,
} from '../store.js';
import { ADD_ACTIVITY, firstWriter, takeWriter, writerClass, writerQuery } from './activity.js';
import {
  APP_BY_KEY,
  againOnDeadlock,
  jsonRecords,
  type PostgresConnection,
  prepared,
  type Queryable,
  Where,
} from './connection.js';
import type { PostgresOperational } from './operational.js';

/** An attempt as a row of {@link INSERT_ATTEMPTS}. */
function attemptRecord(a: Attempt) {
  return {
    id: a.id,
    delivery_id: a.deliveryId,
    msg_id: a.msgId,
    endpoint_id: a.endpointId,
    app_id: a.appId,
    url: a.url,
    trigger: a.trigger,
    succeeded: a.succeeded,
    status_code: a.statusCode,
    response_body: a.responseBody,
    duration_ms: Math.round(a.durationMs),
    error_kind: a.errorKind,
    error_message: a.errorMessage,
    request_headers: JSON.stringify(a.requestHeaders),
    created_at: a.createdAt,
  };
}

/** A completion as a row of {@link COMPLETE_DELIVERIES}. */
function completionRecord(x: Completion) {
  return {
    id: x.deliveryId,
    owner: x.owner,
    status: x.next.status,
    due_at: x.next.status === 'pending' ? x.next.dueAt : null,
    counted: x.attempt ? 1 : 0,
    attempted_at: x.attempt?.createdAt ?? null,
  };
}

/** A new pending delivery, a row of {@link INSERT_DELIVERIES}. */
export interface NewDeliveryRecord {
  id: string;
  msg_id: string;
  endpoint_id: string;
  app_id: string;
  /** Creation time. */
  at: number;
  /** Due time of the first attempt: the creation, or the message's `deliverAt`. */
  due_at: number;
  /** A listener endpoint's delivery: handed to `herald listen`, never claimed by a dispatcher. */
  listener: boolean;
}

/** Creates the pending deliveries of JSON array `records` ({@link NewDeliveryRecord}), `where` they pass. */
export const insertDeliveries = (records: string, where = '') => `
  INSERT INTO deliveries (id, msg_id, endpoint_id, app_id, status, attempts, due_at, created_at, listener)
  SELECT id, msg_id, endpoint_id, app_id, 'pending', 0, due_at, at, listener
  FROM json_to_recordset(${records}::json) AS d(id text, msg_id text, endpoint_id text, app_id text, at bigint,
    due_at bigint, listener boolean) ${where}`;

/** Creates pending deliveries. $1: JSON array of {@link NewDeliveryRecord}. */
export const INSERT_DELIVERIES = prepared(insertDeliveries('$1'));

/**
 * Ends the failure streaks of the endpoints of JSON array `ids` (a probe of an empty table
 * when none runs), locked in id order first, so that two batches ending the same streaks
 * cannot deadlock.
 */
const endStreaks = (ids: string) => `
  DELETE FROM failure_streaks WHERE endpoint_id IN (
    SELECT endpoint_id FROM failure_streaks WHERE endpoint_id IN (SELECT json_array_elements_text(${ids}::json))
    ORDER BY endpoint_id FOR UPDATE)`;

/** Records the attempts of JSON array `records` ({@link attemptRecord}), returning their time and outcome. */
const insertAttempts = (records: string) => `
  INSERT INTO attempts (id, delivery_id, msg_id, endpoint_id, app_id, url, trigger, succeeded, status_code,
    response_body, duration_ms, error_kind, error_message, request_headers, created_at)
  SELECT id, delivery_id, msg_id, endpoint_id, app_id, url, trigger, succeeded, status_code,
    response_body, duration_ms, error_kind, error_message, request_headers, created_at
  FROM json_to_recordset(${records}::json) AS a(id text, delivery_id text, msg_id text, endpoint_id text,
    app_id text, url text, trigger text, succeeded boolean, status_code int, response_body text, duration_ms int,
    error_kind text, error_message text, request_headers text, created_at bigint)
  RETURNING created_at, succeeded`;

/** Counts the attempts of the CTE `inserted` by outcome in their minutes' rows of `writer`. */
const countAttempts = (writer: string) => `
  INSERT INTO activity_minutes (minute, writer, accepted, succeeded, failed)
  SELECT created_at - created_at % ${MINUTE_MS}, ${writer}, 0, count(*) FILTER (WHERE succeeded),
    count(*) FILTER (WHERE NOT succeeded)
  FROM inserted GROUP BY 1
  ${ADD_ACTIVITY}`;

/**
 * Moves leased deliveries on after an attempt (or none, when `counted` is 0); a delivery
 * whose lease another worker took meanwhile is left to that worker. `records`: JSON array of
 * {@link completionRecord}; `count`: how many records it holds.
 *
 * `LIMIT count` only tells the planner the batch's size: it takes any set-returning function
 * for 100 rows, and on a table of some thousands of deliveries then prefers a hash join over
 * a sequential scan to one index probe per record (measured: 10% fewer completions per
 * second in batches of 32, against the `unnest` of typed arrays this replaced).
 */
const completeDeliveries = (records: string, count: string) => `
  UPDATE deliveries d
  SET status = u.status, due_at = u.due_at, attempts = d.attempts + u.counted,
    last_attempt_at = COALESCE(u.attempted_at, d.last_attempt_at), lease_owner = NULL, next_trigger = 'scheduled'
  FROM (SELECT * FROM json_to_recordset(${records}::json)
      AS x(id text, owner text, status text, due_at bigint, counted int, attempted_at bigint) LIMIT ${count}) u
  WHERE d.id = u.id AND d.lease_owner = u.owner AND d.status = 'sending'`;

/**
 * Records attempts, counts them by outcome in their minutes' activity rows, and ends the
 * failure streaks of the endpoints that succeeded.
 * $1: JSON array of attempt rows ({@link attemptRecord}); $2: the activity writer ({@link takeWriter});
 * $3: JSON array of the endpoint ids whose streak ends (`FailureTally.ended`).
 */
const INSERT_ATTEMPTS = prepared(`
  WITH ended AS (${endStreaks('$3')}), inserted AS (${insertAttempts('$1')})
  ${countAttempts('$2')}`);

/**
 * Adds a batch's failures to their groups (the writer's row of each), and starts the failure
 * streaks of the endpoints that have none; only a batch with a failure runs it.
 * $1: JSON array of `FailureCount`; $2: the writer ({@link takeWriter}, as the activity's);
 * $3: JSON array of `FailureTally.started`.
 */
const ADD_FAILURES = prepared(`
  WITH counted AS (
    INSERT INTO failure_groups AS f (endpoint_id, cause, writer, app_id, host, first_at, last_at, attempts,
      last_status_code)
    SELECT "endpointId", cause, $2, "appId", host, "firstAt", "lastAt", attempts, "lastStatusCode"
    FROM json_to_recordset($1::json) AS g("endpointId" text, cause text, "appId" text, host text,
      "firstAt" bigint, "lastAt" bigint, attempts int, "lastStatusCode" int)
    ON CONFLICT (endpoint_id, cause, writer) DO UPDATE SET
      app_id = excluded.app_id, host = excluded.host,
      first_at = LEAST(f.first_at, excluded.first_at), last_at = GREATEST(f.last_at, excluded.last_at),
      attempts = f.attempts + excluded.attempts,
      last_status_code = CASE WHEN excluded.last_at >= f.last_at THEN excluded.last_status_code
        ELSE f.last_status_code END)
  INSERT INTO failure_streaks (endpoint_id, since)
  SELECT "endpointId", since FROM json_to_recordset($3::json) AS s("endpointId" text, since bigint)
  ON CONFLICT (endpoint_id) DO NOTHING`);

/** See {@link completeDeliveries}. $1: JSON array of {@link completionRecord}; $2: how many. */
const COMPLETE_DELIVERIES = prepared(completeDeliveries('$1', '$2'));

/**
 * A batch of completions that changes no endpoint and raises no operational event, as one
 * statement (no transaction round trips): its attempts (all succeeded: a failure adds to a
 * failure group) recorded and counted as by {@link INSERT_ATTEMPTS}, and the deliveries moved
 * on as by {@link COMPLETE_DELIVERIES}. It takes the locks a transaction of the other batches
 * takes, in their order: its writer first (the streaks' DELETE waits for it, a one-time
 * filter), then the streaks it ends in id order; then only rows of its own (its writer's
 * activity row, its leased deliveries). No endpoint row: a batch with a success to an
 * endpoint whose failure clock runs is not one of these ({@link FAILING_ENDPOINTS} first).
 * $1: attempts (JSON); $2: the writers' lock class; $3: first writer ({@link writerQuery});
 * $4: ended streaks (JSON); $5: completions (JSON); $6: how many.
 */
const COMPLETE_SIMPLE = prepared(`
  WITH writer AS (${writerQuery('$2', '$3')}),
  ended AS (${endStreaks('$4')} AND (SELECT w FROM writer) IS NOT NULL),
  inserted AS (${insertAttempts('$1')}),
  counted AS (${countAttempts('(SELECT w FROM writer)')})
  ${completeDeliveries('$5', '$6')}`);

/**
 * Gives leased deliveries back untried, each due at its own time; only the lease holder can.
 * $1: JSON array of {id, due_at}; $2: how many records $1 holds (see {@link COMPLETE_DELIVERIES});
 * $3: the lease owner.
 */
const RELEASE_DELIVERIES = prepared(`
  UPDATE deliveries d SET status = 'pending', due_at = r.due_at, lease_owner = NULL
  FROM (SELECT * FROM json_to_recordset($1::json) AS x(id text, due_at bigint) LIMIT $2) r
  WHERE d.id = r.id AND d.lease_owner = $3 AND d.status = 'sending'`);

/** The claimed deliveries with what their attempts need. */
const CLAIMED_COLUMNS = `
  SELECT c.*, m.event_type, CASE WHEN m.expunged_at IS NULL THEN m.payload END AS payload, m.headers,
    m.trace_context, m.transformations_params, e.updated_at AS endpoint_version
  FROM claimed c JOIN messages m ON m.id = c.msg_id JOIN endpoints e ON e.id = c.endpoint_id`;

/**
 * When the next delivery is due (pending) or its lease ends (sending); null when none is. The
 * first entry of deliveries_due, read in order (`MIN(due_at)` may be planned as a scan of
 * every due delivery when the statistics say there are few).
 */
export const NEXT_DUE = prepared(
  `SELECT (SELECT due_at FROM deliveries WHERE status IN ('pending', 'sending') AND NOT listener
     ORDER BY due_at LIMIT 1) AS due`,
);

/**
 * Leases the deliveries of `due` (a query of ids) to a worker. `next` other than `none` also
 * answers, in the same statement, when the next delivery it leaves is due after $1
 * (`next_due`, read only when it took fewer than its limit $2, in order from
 * deliveries_due as {@link NEXT_DUE} is; `unskipped`: not counting the
 * skipped endpoints $5, whose completions wake the worker instead of their due times): one
 * row per delivery claimed with `next_due` beside it, or one row of nulls and `next_due` when
 * it claimed none. The statement's snapshot shows the rows it claims as they were (due at or
 * before $1), so they are not counted.
 */
const claimOf = (due: string, next: 'none' | 'any' | 'unskipped' = 'none') => {
  const claim = `
  WITH due AS (${due}), claimed AS (
    UPDATE deliveries d SET status = 'sending', due_at = $3, lease_owner = $4
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.msg_id, d.endpoint_id, d.app_id, d.attempts, d.next_trigger
  )`;
  if (next === 'none') return `${claim}${CLAIMED_COLUMNS}`;
  const unskipped = next === 'unskipped' ? 'AND NOT (endpoint_id = ANY($5::text[]))' : '';
  return `${claim}, taken AS (${CLAIMED_COLUMNS})
  SELECT taken.*, n.next_due FROM (
    SELECT CASE WHEN (SELECT count(*) FROM claimed) < $2 THEN (
      SELECT due_at FROM deliveries
      WHERE status IN ('pending', 'sending') AND NOT listener AND due_at > $1 ${unskipped}
      ORDER BY due_at LIMIT 1
    ) END AS next_due
  ) n LEFT JOIN taken ON true`;
};

/** What {@link CLAIM_DUE_NEXT} takes: the oldest due deliveries, locked. */
const DUE = `
  SELECT id FROM deliveries
  WHERE status IN ('pending', 'sending') AND NOT listener AND due_at <= $1
  ORDER BY due_at LIMIT $2
  FOR UPDATE SKIP LOCKED`;

/**
 * Leases the oldest due deliveries: pending ones whose time has come, and leased ones whose
 * lease expired, with the next due time (see {@link claimOf}). $1: now; $2: limit; $3: the
 * lease's expiry; $4: the lease owner.
 */
export const CLAIM_DUE_NEXT = prepared(claimOf(DUE, 'any'));

/**
 * Leases one listener endpoint's due deliveries (`herald listen`), oldest first.
 * $1-$4 as {@link CLAIM_DUE_NEXT}; $5: the listener endpoint.
 */
const CLAIM_LISTENER = prepared(
  claimOf(`
  SELECT id FROM deliveries
  WHERE endpoint_id = $5 AND status IN ('pending', 'sending') AND listener AND due_at <= $1
  ORDER BY due_at, id LIMIT $2
  FOR UPDATE SKIP LOCKED`),
);

/** What {@link CLAIM_DUE_SKIPPING_NEXT} takes. */
const DUE_SKIPPING = `
  SELECT x.id FROM (
    SELECT e.id, f.first_due FROM endpoints e
    CROSS JOIN LATERAL (
      SELECT due_at AS first_due FROM deliveries
      WHERE endpoint_id = e.id AND status IN ('pending', 'sending') AND NOT listener
      ORDER BY due_at LIMIT 1
    ) f
    WHERE NOT (e.id = ANY($5::text[])) AND f.first_due <= $1
    ORDER BY f.first_due LIMIT ${CLAIM_ENDPOINTS_MAX}
  ) ready
  CROSS JOIN LATERAL (
    SELECT id FROM deliveries
    WHERE endpoint_id = ready.id AND status IN ('pending', 'sending') AND NOT listener AND due_at <= $1
    ORDER BY due_at LIMIT $2
    FOR UPDATE SKIP LOCKED
  ) x
  LIMIT $2`;

/**
 * {@link CLAIM_DUE_NEXT} past saturated endpoints: endpoint by endpoint (oldest due first), so
 * that no claim reads a saturated endpoint's backlog; the next due time leaves them out. $1-$4
 * as there; $5: the endpoints to skip.
 */
export const CLAIM_DUE_SKIPPING_NEXT = prepared(claimOf(DUE_SKIPPING, 'unskipped'));

/**
 * A delivery made by a replay, unless the message has one to the endpoint already.
 * $1: id; $2: message; $3: endpoint; $4: application; $5: now; $6: due (now, or the
 * message's later `deliverAt`).
 */
const INSERT_REPLAYED = `
  INSERT INTO deliveries (id, msg_id, endpoint_id, app_id, status, attempts, due_at, created_at, listener)
  VALUES ($1, $2, $3, $4, 'pending', 0, $6, $5, $7) ON CONFLICT DO NOTHING`;

/**
 * A delivery made by a resend to an endpoint the message never went to, due now, as a
 * manual attempt. $1: id; $2: message; $3: endpoint (of the message's application); $4: now.
 */
const INSERT_RESENT = `
  INSERT INTO deliveries (id, msg_id, endpoint_id, app_id, status, attempts, due_at, next_trigger, created_at,
    listener)
  SELECT $1, m.id, e.id, m.app_id, 'pending', 0, $4, 'manual', $4, e.listener IS NOT NULL
  FROM messages m JOIN endpoints e ON e.app_id = m.app_id AND e.id = $3
  WHERE m.id = $2
  ON CONFLICT (msg_id, endpoint_id) DO NOTHING`;

/**
 * A recover batch: at most $4 of endpoint $1's deliveries with ids after $2 and below $3 (a
 * time window, see `store/batches.ts`; $3 null: no end), locked for the update of the failed
 * ones among them. Read in id order on deliveries_by_endpoint (endpoint_id, id).
 */
export const DELIVERIES_AFTER = `
  SELECT id, status, created_at FROM deliveries
  WHERE endpoint_id = $1 AND id > $2 AND ($3::text IS NULL OR id < $3::text)
  ORDER BY id LIMIT $4 FOR UPDATE`;

/**
 * Makes the deliveries $1 that are still failed due at $2, as manual attempts; not those of a
 * message whose payload is gone.
 */
const RECOVER_IDS = `
  UPDATE deliveries SET status = 'pending', due_at = $2, next_trigger = 'manual'
  WHERE id = ANY($1::text[]) AND status = 'failed'
    AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = deliveries.msg_id AND m.expunged_at IS NOT NULL)`;

/** The messages of deliveries $1, each with the delivery's id (for payload filters). */
const MESSAGES_OF_DELIVERIES = `
  SELECT d.id AS delivery_id, m.* FROM deliveries d JOIN messages m ON m.id = d.msg_id
  WHERE d.id = ANY($1::text[])`;

/**
 * A replay-missing batch: at most $4 of application $1's messages with ids after $2 and below
 * $3 ($3 null: no end), each with whether it has a delivery to endpoint $5.
 */
export const MESSAGES_AFTER = `
  SELECT m.*, EXISTS (SELECT 1 FROM deliveries d WHERE d.msg_id = m.id AND d.endpoint_id = $5) AS delivered
  FROM messages m
  WHERE m.app_id = $1 AND m.id > $2 AND ($3::text IS NULL OR m.id < $3::text)
  ORDER BY m.id LIMIT $4`;

/**
 * A bulk-replay batch: at most $3 of endpoint $1's deliveries after id $2, with their message's
 * type, channels and time and their last attempt. Read in id order on deliveries_by_endpoint.
 */
export const REPLAY_CANDIDATES = `
  SELECT d.id, d.status, m.event_type, m.channels, m.tags, m.created_at AS msg_created_at,
    last.id AS last_attempt, last.status_code AS last_code
  FROM deliveries d
  JOIN messages m ON m.id = d.msg_id
  LEFT JOIN LATERAL (
    SELECT a.id, a.status_code FROM attempts a
    WHERE a.msg_id = d.msg_id AND a.endpoint_id = d.endpoint_id ORDER BY a.id DESC LIMIT 1
  ) last ON TRUE
  WHERE d.endpoint_id = $1 AND d.id > $2
  ORDER BY d.id LIMIT $3`;

/**
 * Makes the deliveries $1 due at $2 as manual attempts, but those being sent right now and
 * those of a message whose payload is gone.
 */
const REPLAY_IDS = `
  UPDATE deliveries SET status = 'pending', due_at = $2, next_trigger = 'manual', lease_owner = NULL
  WHERE id = ANY($1::text[]) AND status <> 'sending'
    AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = deliveries.msg_id AND m.expunged_at IS NOT NULL)`;

const FAIL_PENDING = `
  UPDATE deliveries SET status = 'failed', due_at = NULL
  WHERE endpoint_id = $1 AND status = 'pending' AND NOT (id = ANY($2::text[]))`;

/** Fails the pending deliveries of a disabled endpoint but `spare`, in `on`'s transaction. */
export async function failPending(
  on: Queryable,
  endpointId: string,
  spare: readonly string[] = [],
): Promise<void> {
  await on.query(FAIL_PENDING, [endpointId, spare]);
}

/**
 * Endpoints whose failure clock runs, among $1 (ids). Read without a lock: see
 * {@link endpointStates}.
 */
const FAILING_ENDPOINTS = prepared(
  'SELECT id FROM endpoints WHERE id = ANY($1::text[]) AND failing_since IS NOT NULL',
);

/**
 * The state of endpoints $1 (ids), locked until the transaction ends, in id order so that two
 * batches lock their common endpoints in one order and cannot deadlock. `NO KEY UPDATE`, the
 * lock an UPDATE of these columns takes anyway: it leaves alone the `KEY SHARE` lock that a
 * fan-out's delivery insert takes on its endpoint (the foreign key), so ingest never waits.
 */
const LOCK_ENDPOINT_STATES = prepared(`
  SELECT id, app_id, failing_since, disabled FROM endpoints
  WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE`);

/** Sets an endpoint's failure clock. $1: the endpoint; $2: the new value (null: cleared). */
const SET_FAILING_SINCE = prepared('UPDATE endpoints SET failing_since = $2 WHERE id = $1');

/** Disables an endpoint. $1: the endpoint; $2: now (its `updated_at`, `disabled_at`); $3: the reason. */
const DISABLE_ENDPOINT = `UPDATE endpoints SET disabled = TRUE, updated_at = $2, disabled_reason = $3, disabled_at = $2
  WHERE id = $1`;

/**
 * What `endpointEffects` needs to know of the endpoints a batch touches, read in the batch's
 * transaction (several workers complete attempts of one endpoint at once, under READ
 * COMMITTED): the endpoints of a 410 or an exhaustion, locked; and those with only successes,
 * whose success changes something only when their failure clock runs. Those are probed first
 * without a lock, and locked only if the clock runs: so the common batch, all successes to
 * healthy endpoints, takes no lock on any endpoint. The probe is safe: a batch that reads a
 * stopped clock writes nothing to that endpoint, so it is as if it ran before any batch that
 * starts the clock concurrently.
 */
async function endpointStates(
  c: Queryable,
  completions: readonly Completion[],
): Promise<Map<string, EndpointState>> {
  const state = new Map<string, EndpointState>();
  const read = endpointsToRead(completions);
  if (read.length === 0) return state;
  const changing = new Set(
    completions
      .filter((x) => x.disableEndpoint || (x.next.status === 'failed' && x.next.exhausted))
      .map((x) => x.endpointId),
  );
  const succeeded = read.filter((id) => !changing.has(id));
  if (succeeded.length > 0) {
    const { rows } = await c.query<{ id: string }>(FAILING_ENDPOINTS, [succeeded]);
    for (const r of rows) changing.add(r.id);
  }
  if (changing.size === 0) return state;
  const { rows } = await c.query<{
    id: string;
    app_id: string;
    failing_since: number | null;
    disabled: boolean;
  }>(LOCK_ENDPOINT_STATES, [read.filter((id) => changing.has(id))]);
  for (const r of rows)
    state.set(r.id, { appId: r.app_id, failingSince: r.failing_since, disabled: r.disabled });
  return state;
}

/** The deliveries and attempts of a PostgreSQL store. */
export class PostgresDeliveries {
  /** `operational` writes the operational events of a batch of completions in its transaction. */
  constructor(
    private readonly conn: PostgresConnection,
    private readonly operational: PostgresOperational,
  ) {}

  /** See `Store`: the claim of {@link claimDueAndNext}, one statement for both. */
  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    return (await this.claimDueAndNext(request)).claimed;
  }

  /** See `Store.claimDueAndNext`. */
  async claimDueAndNext(request: ClaimRequest): Promise<ClaimWithNext> {
    const leaseExpiresAt = request.now + request.leaseMs;
    const params = [request.now, request.limit, leaseExpiresAt, request.owner];
    const { rows } = await this.conn.q<
      { [K in keyof ClaimRow]: ClaimRow[K] | null } & { next_due: number | null }
    >(
      request.skipEndpoints.length === 0 ? CLAIM_DUE_NEXT : CLAIM_DUE_SKIPPING_NEXT,
      request.skipEndpoints.length === 0 ? params : [...params, request.skipEndpoints],
    );
    const claimed = rows.filter((r): r is ClaimRow & { next_due: number | null } => r.id !== null);
    return {
      claimed: claimed.map((r) => toClaimed(r, leaseExpiresAt)),
      nextDueAt: rows[0]?.next_due ?? null,
    };
  }

  /** See `Store.claimListener`: leases a listener endpoint's due deliveries and marks it seen. */
  async claimListener(request: ListenerClaim): Promise<ClaimedDelivery[]> {
    const leaseExpiresAt = request.now + request.leaseMs;
    const { rows } = await this.conn.q<ClaimRow>(CLAIM_LISTENER, [
      request.now,
      request.limit,
      leaseExpiresAt,
      request.owner,
      request.endpointId,
    ]);
    await this.conn.q('UPDATE endpoints SET listener_seen_at = $1 WHERE id = $2 AND listener IS NOT NULL', [
      request.now,
      request.endpointId,
    ]);
    return rows.map((r) => toClaimed(r, leaseExpiresAt));
  }

  /**
   * See `Store.complete`. The endpoint effects are core's `endpointEffects`, run on the state
   * of the endpoints that can change, read in this transaction under a row lock
   * ({@link endpointStates}); each changed endpoint is then written once.
   */
  async complete(
    completions: readonly Completion[],
    now: number,
    autoDisableAfterMs: number,
  ): Promise<DisabledEndpoint[]> {
    if (completions.length === 0) return [];
    const tried = completions.flatMap((x) => (x.attempt ? [x.attempt] : []));
    const failures = tallyFailures(tried);
    if (
      tried.length > 0 &&
      failures.groups.length === 0 &&
      !completions.some((x) => x.disableEndpoint || (x.next.status === 'failed' && x.next.exhausted)) &&
      completionEvents(completions, []).attempts.length === 0 &&
      // A success stops a running failure clock: that batch changes an endpoint (the probe
      // is safe unlocked, see endpointStates).
      (await this.conn.q(FAILING_ENDPOINTS, [endpointsToRead(completions)])).rowCount === 0
    ) {
      await againOnDeadlock(() =>
        this.conn.q(COMPLETE_SIMPLE, [
          jsonRecords(tried.map(attemptRecord)),
          writerClass(this.conn.schema),
          firstWriter('attempts'),
          JSON.stringify(failures.ended),
          jsonRecords(completions.map(completionRecord)),
          completions.length,
        ]),
      );
      return [];
    }
    let woken: string[] = [];
    const result = await againOnDeadlock(() =>
      this.conn.tx(async (c) => {
        woken = [];
        if (tried.length > 0) {
          const writer = await takeWriter(c, this.conn.schema, 'attempts');
          await c.query(INSERT_ATTEMPTS, [
            jsonRecords(tried.map(attemptRecord)),
            writer,
            JSON.stringify(failures.ended),
          ]);
          if (failures.groups.length > 0)
            await c.query(ADD_FAILURES, [
              JSON.stringify(failures.groups),
              writer,
              JSON.stringify(failures.started),
            ]);
        }
        await c.query(COMPLETE_DELIVERIES, [
          jsonRecords(completions.map(completionRecord)),
          completions.length,
        ]);
        const state = await endpointStates(c, completions);
        if (state.size === 0) {
          woken = await this.operational.emitCompletions(c, completions, [], now);
          return [];
        }
        const { endpoints, disabled } = endpointEffects(completions, state, now, autoDisableAfterMs);
        for (const effect of endpoints) {
          if (effect.failingSince !== undefined)
            await c.query(SET_FAILING_SINCE, [effect.endpointId, effect.failingSince]);
          if (effect.disable) {
            await c.query(DISABLE_ENDPOINT, [effect.endpointId, now, effect.disable.reason]);
            // Every delivery of the batch is written already: those a later completion of the
            // batch made pending again stay pending (`spare`), as in batch order.
            await failPending(c, effect.endpointId, effect.disable.spare);
          }
        }
        woken = await this.operational.emitCompletions(c, completions, disabled, now);
        return disabled;
      }),
    );
    if (woken.length > 0) this.conn.emitWake(woken);
    return result;
  }

  /** See `Store`. */
  async release(owner: string, releases: readonly Release[]): Promise<void> {
    if (releases.length === 0) return;
    await this.conn.q(RELEASE_DELIVERIES, [
      jsonRecords(releases.map((r) => ({ id: r.deliveryId, due_at: r.dueAt }))),
      releases.length,
      owner,
    ]);
    await this.conn.wakeAll(null);
  }

  /** See `Store`. */
  async nextDueAt(): Promise<number | null> {
    const { rows } = await this.conn.q<{ due: number | null }>(NEXT_DUE);
    return rows[0]?.due ?? null;
  }

  /** See `Store`. */
  async queueStats(now: number): Promise<QueueStats> {
    const { rows } = await this.conn.q<{ pending: number; sending: number; oldest: number | null }>(
      `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
              count(*) FILTER (WHERE status = 'sending')::int AS sending,
              MIN(due_at) FILTER (WHERE status = 'pending' AND due_at <= $1) AS oldest
       FROM deliveries WHERE status IN ('pending', 'sending') AND NOT listener`,
      [now],
    );
    const row = rows[0]!;
    return { pending: row.pending, sending: row.sending, oldestDueAt: row.oldest };
  }

  /** See `Store`. */
  async getDelivery(msgId: string, endpointId: string): Promise<Delivery | null> {
    const row = (
      await this.conn.q<DeliveryRow>('SELECT * FROM deliveries WHERE msg_id = $1 AND endpoint_id = $2', [
        msgId,
        endpointId,
      ])
    ).rows[0];
    return row ? toDelivery(row) : null;
  }

  /** See `Store`. */
  async listDeliveries(msgId: string): Promise<Delivery[]> {
    return (
      await this.conn.q<DeliveryRow>('SELECT * FROM deliveries WHERE msg_id = $1 ORDER BY id', [msgId])
    ).rows.map(toDelivery);
  }

  /** See `Store`. */
  async resend(msgId: string, endpointId: string): Promise<Delivery> {
    const now = this.conn.clock.now();
    let { rowCount } = await this.conn.q(
      `UPDATE deliveries SET status = 'pending', due_at = $1, next_trigger = 'manual', lease_owner = NULL
       WHERE msg_id = $2 AND endpoint_id = $3 AND (status <> 'sending' OR due_at <= $1)`,
      [now, msgId, endpointId],
    );
    let delivery = await this.getDelivery(msgId, endpointId);
    if (!rowCount && delivery?.status === 'sending') throw beingSent(msgId, endpointId);
    if (!delivery) {
      // Never routed there: a new delivery (a racing resend may have made it: then that one).
      ({ rowCount } = await this.conn.q(INSERT_RESENT, [newId('dlv', now), msgId, endpointId, now]));
      delivery = await this.getDelivery(msgId, endpointId);
      if (!delivery)
        throw new NotFoundError(`no message ${msgId} with an endpoint ${endpointId} in its application`);
    }
    if (rowCount) await this.conn.wakeAll([endpointId]);
    return delivery;
  }

  /** See `Store`. */
  async listAttempts(filter: AttemptFilter, page: PageRequest): Promise<Page<Attempt>> {
    const w = new Where();
    w.where.push(`app_id = ${w.param(filter.appId)}`);
    if (filter.msgId !== undefined) w.where.push(`msg_id = ${w.param(filter.msgId)}`);
    if (filter.endpointId !== undefined) w.where.push(`endpoint_id = ${w.param(filter.endpointId)}`);
    if (filter.succeeded !== undefined) w.where.push(`succeeded = ${w.param(filter.succeeded)}`);
    if (filter.statusCodeClass === 0) w.where.push('status_code IS NULL');
    else if (filter.statusCodeClass !== undefined) {
      const from = w.param(filter.statusCodeClass);
      w.where.push(`status_code >= ${from}::int AND status_code < ${from}::int + 100`);
    }
    // The message's fields, looked up by its key for each attempt the page passes.
    const ofMessage: string[] = [];
    if (filter.eventTypes && filter.eventTypes.length > 0)
      ofMessage.push(`m.event_type = ANY(${w.param(filter.eventTypes)}::text[])`);
    if (filter.channel !== undefined) ofMessage.push(`m.channels::jsonb ? ${w.param(filter.channel)}`);
    if (filter.tag !== undefined) ofMessage.push(`m.tags::jsonb ? ${w.param(filter.tag)}`);
    if (ofMessage.length > 0)
      w.where.push(
        `EXISTS (SELECT 1 FROM messages m WHERE m.id = attempts.msg_id AND ${ofMessage.join(' AND ')})`,
      );
    w.window('id', idWindow('atmpt', filter));
    const ks = keyset(page, 'descending', filter.after !== undefined && filter.before === undefined);
    const sql = `SELECT * FROM attempts ${w.pageSql(ks, 'id', page.limit)}`;
    const { rows } = await this.conn.q<AttemptRow>(sql, w.params);
    return pageFrom(rows.map(toAttempt), page, ks, (a) => a.id);
  }

  /** See `Store`. */
  async getAttempt(appId: string, msgId: string, attemptId: string): Promise<Attempt | null> {
    const row = (
      await this.conn.q<AttemptRow>(
        `SELECT * FROM attempts WHERE app_id = ${APP_BY_KEY} AND msg_id = $2 AND id = $3`,
        [appId, msgId, attemptId],
      )
    ).rows[0];
    return row ? toAttempt(row) : null;
  }

  /** See `Store`. */
  async countDeliveries(
    endpointId: string,
    window?: TimeWindow,
  ): Promise<Record<Delivery['status'], number>> {
    const counts = { pending: 0, sending: 0, succeeded: 0, failed: 0, canceled: 0 };
    const { rows } = await this.conn.q<{ status: Delivery['status']; n: string }>(
      window
        ? `SELECT status, COUNT(*) AS n FROM deliveries
           WHERE endpoint_id = $1 AND created_at >= $2 AND ($3::bigint IS NULL OR created_at < $3)
           GROUP BY status`
        : 'SELECT status, COUNT(*) AS n FROM deliveries WHERE endpoint_id = $1 GROUP BY status',
      window ? [endpointId, window.since, window.until] : [endpointId],
    );
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  /** See `Store.recoverBatch`. */
  async recoverBatch(
    endpointId: string,
    window: TimeWindow,
    after: string | null,
    limit: number,
  ): Promise<BatchResult> {
    const now = this.conn.clock.now();
    const { start, end } = idRange('dlv', window, after);
    const result = await this.conn.tx(async (c) => {
      const { rows } = await c.query<{ id: string; status: Delivery['status']; created_at: string }>(
        DELIVERIES_AFTER,
        [endpointId, start, end, limit],
      );
      const failed = rows
        .filter((r) => r.status === 'failed' && inWindow(Number(r.created_at), window))
        .map((r) => r.id);
      const { rowCount } = await c.query(RECOVER_IDS, [await this.passing(c, endpointId, failed), now]);
      return { count: rowCount ?? 0, next: rows.length < limit ? null : rows[rows.length - 1]!.id };
    });
    if (result.count > 0) await this.conn.wakeAll([endpointId]);
    return result;
  }

  /** See `Store.replayMissingBatch`. */
  async replayMissingBatch(
    endpointId: string,
    window: TimeWindow,
    after: string | null,
    limit: number,
  ): Promise<BatchResult> {
    const row = (await this.conn.q<EndpointRow>('SELECT * FROM endpoints WHERE id = $1', [endpointId]))
      .rows[0];
    if (!row) throw new NotFoundError(`endpoint ${endpointId} not found`);
    const endpoint = toEndpoint(row, this.conn.box);
    const now = this.conn.clock.now();
    const { start, end } = idRange('msg', window, after);
    const result = await this.conn.tx(async (c) => {
      const scanned = (
        await c.query<MessageRow & { delivered: boolean }>(MESSAGES_AFTER, [
          endpoint.appId,
          start,
          end,
          limit,
          endpoint.id,
        ])
      ).rows;
      const missing = scanned
        .filter((m) => !m.delivered && m.expunged_at === null && inWindow(Number(m.created_at), window))
        .map(toMessage);
      let count = 0;
      for (const m of replaySelection(endpoint, missing)) {
        const { rowCount } = await c.query(INSERT_REPLAYED, [
          newId('dlv', now),
          m.id,
          endpoint.id,
          endpoint.appId,
          now,
          // A message for later is not sent before its time.
          Math.max(now, m.deliverAt ?? now),
          endpoint.listener !== null,
        ]);
        count += rowCount ?? 0;
      }
      return { count, next: scanned.length < limit ? null : scanned[scanned.length - 1]!.id };
    });
    if (result.count > 0) await this.conn.wakeAll([endpoint.id]);
    return result;
  }

  /** See `Store.bulkReplayBatch`. */
  async bulkReplayBatch(
    endpointId: string,
    filter: BulkReplayFilter,
    after: string | null,
    limit: number,
  ): Promise<BatchResult> {
    const now = this.conn.clock.now();
    // A delivery is made at or after its message: none before the window's start is in it.
    const start = after ?? idFloor('dlv', filter.since);
    const result = await this.conn.tx(async (c) => {
      const { rows } = await c.query<{
        id: string;
        status: Delivery['status'];
        event_type: string;
        channels: string | null;
        tags: string | null;
        msg_created_at: string;
        last_attempt: string | null;
        last_code: number | null;
      }>(REPLAY_CANDIDATES, [endpointId, start, limit]);
      const chosen = rows
        .filter(
          (r) =>
            inWindow(Number(r.msg_created_at), filter) &&
            bulkReplayMatches(filter, {
              status: r.status,
              eventType: r.event_type,
              channels: r.channels === null ? null : (JSON.parse(r.channels) as string[]),
              tags: r.tags === null ? null : (JSON.parse(r.tags) as string[]),
              attempted: r.last_attempt !== null,
              lastStatusCode: r.last_code,
            }),
        )
        .map((r) => r.id);
      const { rowCount } = await c.query(REPLAY_IDS, [await this.passing(c, endpointId, chosen), now]);
      return { count: rowCount ?? 0, next: rows.length < limit ? null : rows[rows.length - 1]!.id };
    });
    if (result.count > 0) await this.conn.wakeAll([endpointId]);
    return result;
  }

  /**
   * Of deliveries `ids` of the endpoint, those whose message passes its payload filter as it
   * is now: all, without one (then no message is read).
   */
  private async passing(c: Queryable, endpointId: string, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return ids;
    const row = (await c.query<EndpointRow>('SELECT * FROM endpoints WHERE id = $1', [endpointId])).rows[0];
    const endpoint = row ? toEndpoint(row, this.conn.box) : null;
    if (!endpoint?.filter) return ids;
    const { rows } = await c.query<MessageRow & { delivery_id: string }>(MESSAGES_OF_DELIVERIES, [ids]);
    const passes = new Set(
      rows.filter((m) => passesPayloadFilter(endpoint, toMessage(m))).map((m) => m.delivery_id),
    );
    return ids.filter((id) => passes.has(id));
  }
}

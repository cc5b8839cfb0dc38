/**
 * Operational events on SQLite (core/operational.ts): each becomes a message of the reserved
 * application and one pending delivery per enabled operational endpoint subscribed to its
 * type, written in the caller's transaction. The caller wakes the dispatcher after its commit
 * (a wake-up heard before the commit, by a dispatcher in another thread, would find nothing).
 */
import { newId } from '../../core/ids.js';
import {
  attemptEvent,
  endpointDisabledEvent,
  OPERATIONAL_APP_ID,
  type OperationalEvent,
  operationalMessage,
  subscribes,
} from '../../core/operational.js';
import { causedBy, currentCause } from '../cause.js';
import { completionEvents } from '../operational-events.js';
import { type EndpointRow, fromMessage, type MessageRow } from '../rows.js';
import type { Completion, DisabledEndpoint } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { NewDeliveryRow } from './deliveries.js';

function prepare({ db }: SqliteConnection) {
  return {
    subscribers: db.prepare<[string], Pick<EndpointRow, 'id' | 'filter_types'>>(
      'SELECT id, filter_types FROM endpoints WHERE app_id = ? AND disabled = 0',
    ),
    insertMessage: db.prepare<[MessageRow]>(
      `INSERT INTO messages (id, app_id, event_type, event_id, channels, tags, payload, headers, deliver_at,
         payload_expires_at, expunged_at, trace_context, created_at)
       VALUES (@id, @app_id, @event_type, @event_id, @channels, @tags, @payload, @headers, @deliver_at,
         @payload_expires_at, @expunged_at, @trace_context, @created_at)`,
    ),
    appUid: db.prepare<[string], { uid: string | null }>('SELECT uid FROM applications WHERE id = ?'),
    attemptNames: db.prepare<[string, string], { event_id: string | null; app_uid: string | null }>(
      `SELECT m.event_id, a.uid AS app_uid FROM messages m JOIN applications a ON a.id = m.app_id
       WHERE m.id = ? AND m.app_id = ?`,
    ),
    endpointNames: db.prepare<
      [string],
      { uid: string | null; failing_since: number | null; app_uid: string | null }
    >(
      `SELECT e.uid, e.failing_since, a.uid AS app_uid FROM endpoints e JOIN applications a ON a.id = e.app_id
       WHERE e.id = ?`,
    ),
    anySubscriber: db.prepare<[string], { one: number }>(
      'SELECT 1 AS one FROM endpoints WHERE app_id = ? AND disabled = 0 LIMIT 1',
    ),
  };
}

/** Writes operational events of a SQLite store. */
export class SqliteOperational {
  private readonly stmt;

  constructor(
    private readonly conn: SqliteConnection,
    /** Writes a delivery in the caller's transaction (the queue's). */
    private readonly insertDelivery: (row: NewDeliveryRow) => void,
  ) {
    this.stmt = prepare(conn);
  }

  /** An application's uid (`null`: none, or no such application), for the events' `appUid`. */
  appUid(appId: string): string | null {
    return this.stmt.appUid.get(appId)?.uid ?? null;
  }

  /**
   * Writes `events` in the caller's transaction; adds the endpoints that got deliveries to
   * `woken`, for the caller to wake after its commit. Writes nothing without a subscriber.
   */
  emit(events: readonly OperationalEvent[], now: number, woken: Set<string>): void {
    if (events.length === 0) return;
    const endpoints = this.stmt.subscribers.all(OPERATIONAL_APP_ID).map((r) => ({
      id: r.id,
      filterTypes: r.filter_types === null ? null : (JSON.parse(r.filter_types) as string[]),
    }));
    if (endpoints.length === 0) return;
    for (const event of events) {
      const to = endpoints.filter((e) => subscribes(e.filterTypes, event.type));
      if (to.length === 0) continue;
      const id = newId('msg', now);
      this.stmt.insertMessage.run(fromMessage(operationalMessage(id, event, now)));
      for (const e of to) {
        this.insertDelivery({
          id: newId('dlv', now),
          msg_id: id,
          endpoint_id: e.id,
          app_id: OPERATIONAL_APP_ID,
          // Operational endpoints are never listeners: `herald listen` makes its own in users' apps.
          listener: 0,
          status: 'pending',
          due_at: now,
          lease_owner: null,
          created_at: now,
        });
        woken.add(e.id);
      }
    }
  }

  /**
   * The events of a batch of completions (see `completionEvents`), read and written in the
   * caller's transaction after the batch's own writes. Reads nothing when no operational
   * endpoint is enabled, or when the batch causes no event.
   */
  emitCompletions(
    completions: readonly Completion[],
    disabled: readonly DisabledEndpoint[],
    now: number,
    woken: Set<string>,
  ): void {
    const wanted = completionEvents(completions, disabled);
    if (wanted.attempts.length === 0 && wanted.disabled.length === 0) return;
    if (!this.stmt.anySubscriber.get(OPERATIONAL_APP_ID)) return;
    const events: OperationalEvent[] = [];
    for (const { type, attempt, traceContext } of wanted.attempts) {
      const m = this.stmt.attemptNames.get(attempt.msgId, attempt.appId);
      events.push({
        ...attemptEvent(type, {
          appId: attempt.appId,
          appUid: m?.app_uid ?? null,
          endpointId: attempt.endpointId,
          msgId: attempt.msgId,
          msgEventId: m?.event_id ?? null,
          lastAttempt: {
            id: attempt.id,
            responseStatusCode: attempt.statusCode ?? 0,
            timestamp: attempt.createdAt,
          },
        }),
        traceContext,
      });
    }
    for (const d of wanted.disabled) {
      const e = this.stmt.endpointNames.get(d.endpointId);
      if (!e) continue;
      const names = { appId: d.appId, appUid: e.app_uid, endpointId: d.endpointId, endpointUid: e.uid };
      events.push({
        ...endpointDisabledEvent(names, 'automatic', e.failing_since ?? now, d.reason),
        traceContext: d.traceContext,
      });
    }
    this.emit(events, now, woken);
  }

  /**
   * Runs `fn` in an immediate transaction with an `emit`, and wakes what it emitted to after
   * the commit. The events it emits store the write's cause (`currentCause`) as their trace context.
   */
  transact<T>(fn: (emit: (events: readonly OperationalEvent[]) => void) => T): T {
    const woken = new Set<string>();
    const now = this.conn.clock.now();
    const cause = currentCause();
    const result = this.conn.immediate(() => fn((events) => this.emit(causedBy(events, cause), now, woken)));
    if (woken.size > 0) this.conn.wake([...woken]);
    return result;
  }
}

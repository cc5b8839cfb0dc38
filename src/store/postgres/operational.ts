/**
 * Operational events on PostgreSQL (core/operational.ts): each becomes a message of the
 * reserved application and one pending delivery per enabled operational endpoint subscribed
 * to its type, written on the caller's transaction client, with a NOTIFY that is heard only
 * once that transaction commits.
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
import { fromMessage } from '../rows.js';
import type { Completion, DisabledEndpoint } from '../store.js';
import { jsonRecords, type PostgresConnection, type Queryable } from './connection.js';
import { INSERT_DELIVERIES, type NewDeliveryRecord } from './deliveries.js';

/** Writes messages whole. $1: JSON array of message rows. */
const INSERT_MESSAGES = `
  INSERT INTO messages (id, app_id, event_type, event_id, channels, tags, payload, created_at, headers,
    deliver_at, payload_expires_at, expunged_at, trace_context)
  SELECT id, app_id, event_type, event_id, channels, tags, payload, created_at, headers,
    deliver_at, payload_expires_at, expunged_at, trace_context
  FROM json_to_recordset($1::json) AS m(id text, app_id text, event_type text, event_id text, channels text,
    tags text, payload text, created_at bigint, headers text, deliver_at bigint, payload_expires_at bigint,
    expunged_at bigint, trace_context text)`;

/** The enabled operational endpoints. $1: the reserved application. */
const SUBSCRIBERS = 'SELECT id, filter_types FROM endpoints WHERE app_id = $1 AND NOT disabled';

/** An application's uid. $1: its id. */
export const APP_UID = 'SELECT uid FROM applications WHERE id = $1';

/** Writes the operational events of a PostgreSQL store. */
export class PostgresOperational {
  constructor(private readonly conn: PostgresConnection) {}

  /** An application's uid on `c` (`null`: none), for the events' `appUid`. */
  async appUid(c: Queryable, appId: string): Promise<string | null> {
    return (await c.query<{ uid: string | null }>(APP_UID, [appId])).rows[0]?.uid ?? null;
  }

  /**
   * Writes `events` on `c`, the caller's transaction, and notifies the endpoints that got
   * deliveries (heard at its commit). Returns them, for the caller to wake this process with
   * after the commit. Writes nothing without a subscriber.
   */
  async emit(c: Queryable, events: readonly OperationalEvent[], now: number): Promise<string[]> {
    if (events.length === 0) return [];
    const { rows } = await c.query<{ id: string; filter_types: string | null }>(SUBSCRIBERS, [
      OPERATIONAL_APP_ID,
    ]);
    if (rows.length === 0) return [];
    const endpoints = rows.map((r) => ({
      id: r.id,
      filterTypes: r.filter_types === null ? null : (JSON.parse(r.filter_types) as string[]),
    }));
    const messages = [];
    const deliveries: NewDeliveryRecord[] = [];
    for (const event of events) {
      const to = endpoints.filter((e) => subscribes(e.filterTypes, event.type));
      if (to.length === 0) continue;
      const message = operationalMessage(newId('msg', now), event, now);
      messages.push(fromMessage(message));
      for (const e of to)
        deliveries.push({
          id: newId('dlv', now),
          msg_id: message.id,
          endpoint_id: e.id,
          app_id: OPERATIONAL_APP_ID,
          // Operational endpoints are never listeners: `herald listen` makes its own in users' apps.
          listener: false,
          at: now,
          due_at: now,
        });
    }
    if (deliveries.length === 0) return [];
    await c.query(INSERT_MESSAGES, [jsonRecords(messages)]);
    await c.query(INSERT_DELIVERIES, [jsonRecords(deliveries)]);
    const woken = [...new Set(deliveries.map((d) => d.endpoint_id))];
    await this.conn.notify(c, woken);
    return woken;
  }

  /**
   * Runs `fn` in a transaction with an `emit` on its client, and wakes this process for what
   * it emitted once it commits (other processes hear the NOTIFY). The events it emits store
   * the write's cause (`currentCause`) as their trace context.
   */
  async transact<T>(
    fn: (c: Queryable, emit: (events: readonly OperationalEvent[]) => Promise<void>) => Promise<T>,
  ): Promise<T> {
    const woken: string[] = [];
    const now = this.conn.clock.now();
    const cause = currentCause();
    const result = await this.conn.tx((c) =>
      fn(c, async (events) => {
        woken.push(...(await this.emit(c, causedBy(events, cause), now)));
      }),
    );
    if (woken.length > 0) this.conn.emitWake(woken);
    return result;
  }

  /** The events of a batch of completions (see `completionEvents`), written on `c`. */
  async emitCompletions(
    c: Queryable,
    completions: readonly Completion[],
    disabled: readonly DisabledEndpoint[],
    now: number,
  ): Promise<string[]> {
    const wanted = completionEvents(completions, disabled);
    if (wanted.attempts.length === 0 && wanted.disabled.length === 0) return [];
    const events: OperationalEvent[] = [];
    for (const { type, attempt, traceContext } of wanted.attempts) {
      const m = (
        await c.query<{ event_id: string | null; app_uid: string | null }>(
          `SELECT m.event_id, a.uid AS app_uid FROM messages m JOIN applications a ON a.id = m.app_id
           WHERE m.id = $1 AND m.app_id = $2`,
          [attempt.msgId, attempt.appId],
        )
      ).rows[0];
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
      const e = (
        await c.query<{ uid: string | null; failing_since: number | null; app_uid: string | null }>(
          `SELECT e.uid, e.failing_since, a.uid AS app_uid FROM endpoints e JOIN applications a ON a.id = e.app_id
           WHERE e.id = $1`,
          [d.endpointId],
        )
      ).rows[0];
      if (!e) continue;
      const names = { appId: d.appId, appUid: e.app_uid, endpointId: d.endpointId, endpointUid: e.uid };
      events.push({
        ...endpointDisabledEvent(names, 'automatic', e.failing_since ?? now, d.reason),
        traceContext: d.traceContext,
      });
    }
    return this.emit(c, events, now);
  }
}

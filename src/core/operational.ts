/**
 * Operational webhooks: events about Herald itself (an endpoint created, disabled, a message
 * failing) sent to the operator's own endpoints, in the shapes of the Svix OpenAPI document
 * (`{type, timestamp, data}`).
 *
 * They travel as ordinary messages of one reserved application, {@link OPERATIONAL_APP_ID},
 * whose endpoints are the operational endpoints: Herald's own engine delivers them, durably,
 * signed with the operational endpoint's secret, retried, logged per attempt and behind the
 * SSRF guard. Each backend writes the event's message and deliveries in the transaction of
 * the change that causes it, so a change that rolls back emits nothing and one that commits
 * cannot lose its event.
 *
 * This module is the rule, as data: which events a change or a batch of completions causes,
 * and their payloads. It does no I/O.
 */

import type { Endpoint, Message } from './types.js';

/** The reserved application that holds the operational endpoints and their messages. */
export const OPERATIONAL_APP_ID = 'app_operational_webhooks';

/** Whether an application id is the reserved one (hidden from the applications API). */
export function isOperationalApp(appId: string): boolean {
  return appId === OPERATIONAL_APP_ID;
}

/** Every operational event type, as Svix names them. */
export const OPERATIONAL_EVENT_TYPES = [
  'endpoint.created',
  'endpoint.updated',
  'endpoint.deleted',
  'endpoint.disabled',
  'endpoint.enabled',
  'message.attempt.exhausted',
  'message.attempt.failing',
  'message.attempt.recovered',
  'background_task.finished',
] as const;

/** An operational event type. */
export type OperationalEventType = (typeof OPERATIONAL_EVENT_TYPES)[number];

/** `message.attempt.failing` is sent after this many failed attempts of a delivery (Svix's 4th). */
export const FAILING_AFTER_ATTEMPTS = 4;

/** One operational event: its type and its `data` (the message payload is built from them). */
export interface OperationalEvent {
  type: OperationalEventType;
  data: Record<string, unknown>;
  /**
   * The trace context of what caused it (an attempt's span, a request's `traceparent`), stored
   * with its message so that its attempts join that trace; absent or `null`: none.
   */
  traceContext?: string | null;
}

/** The names of an endpoint that every endpoint event carries. */
export interface EndpointNames {
  appId: string;
  appUid: string | null;
  endpointId: string;
  endpointUid: string | null;
}

/** The payload of an operational event's message, as JSON text: `{type, timestamp, data}`. */
export function operationalPayload(event: OperationalEvent, now: number): string {
  return JSON.stringify({ type: event.type, timestamp: new Date(now).toISOString(), data: event.data });
}

/** The message of the reserved application that carries `event`. */
export function operationalMessage(id: string, event: OperationalEvent, now: number): Message {
  return {
    id,
    appId: OPERATIONAL_APP_ID,
    eventType: event.type,
    eventId: null,
    channels: null,
    tags: null,
    payload: operationalPayload(event, now),
    headers: null,
    deliverAt: null,
    payloadExpiresAt: null,
    traceContext: event.traceContext ?? null,
    transformationsParams: null,
    idempotencyKey: null,
    createdAt: now,
  };
}

/** `endpoint.created`, `.updated`, `.deleted` or `.enabled`. */
export function endpointEvent(
  type: 'endpoint.created' | 'endpoint.updated' | 'endpoint.deleted' | 'endpoint.enabled',
  names: EndpointNames,
): OperationalEvent {
  return { type, data: { ...names } };
}

/**
 * `endpoint.disabled`: `trigger` `manual` (through the API) or `automatic` (the store, with
 * Herald's `reason`: `gone` for a 410, `failing` for failures past the auto-disable period,
 * `idle` for a listener endpoint no `herald listen` held for `--listener-idle-days`);
 * `failSince` is when its failures began (Svix's field; the disabling time for a 410 or a
 * manual disable without failures).
 */
export function endpointDisabledEvent(
  names: EndpointNames,
  trigger: 'manual' | 'automatic',
  failSince: number,
  reason: Endpoint['disabledReason'],
): OperationalEvent {
  return {
    type: 'endpoint.disabled',
    data: { ...names, trigger, failSince: new Date(failSince).toISOString(), reason },
  };
}

/**
 * The events of a change to an endpoint made through the API: `before` `null` for a creation,
 * `after` `null` for a deletion. An update is `endpoint.updated`, and also
 * `endpoint.disabled` (trigger `manual`) or `endpoint.enabled` when it flips `disabled`. The
 * operational endpoints' own changes cause none.
 */
export function endpointChangeEvents(
  before: Endpoint | null,
  after: Endpoint | null,
  names: EndpointNames,
  now: number,
): OperationalEvent[] {
  if (isOperationalApp(names.appId)) return [];
  if (before === null) return [endpointEvent('endpoint.created', names)];
  if (after === null) return [endpointEvent('endpoint.deleted', names)];
  const events = [endpointEvent('endpoint.updated', names)];
  if (after.disabled && !before.disabled)
    events.push(endpointDisabledEvent(names, 'manual', before.failingSince ?? now, null));
  if (!after.disabled && before.disabled) events.push(endpointEvent('endpoint.enabled', names));
  return events;
}

/** What the attempt events name: the delivery's application, endpoint, message and last attempt. */
export interface AttemptNames {
  appId: string;
  appUid: string | null;
  endpointId: string;
  msgId: string;
  msgEventId: string | null;
  lastAttempt: { id: string; responseStatusCode: number; timestamp: number };
}

/** `message.attempt.failing`, `.exhausted` or `.recovered` (Svix's `MessageAttemptFailingEventData`). */
export function attemptEvent(
  type: 'message.attempt.failing' | 'message.attempt.exhausted' | 'message.attempt.recovered',
  names: AttemptNames,
): OperationalEvent {
  const { lastAttempt, ...rest } = names;
  return {
    type,
    data: {
      ...rest,
      lastAttempt: {
        id: lastAttempt.id,
        // No response (a timeout, a refused connection) is 0, as Svix reports it.
        responseStatusCode: lastAttempt.responseStatusCode,
        timestamp: new Date(lastAttempt.timestamp).toISOString(),
      },
    },
  };
}

/** `background_task.finished` (Svix's `BackgroundTaskFinishedEvent2`). */
export function backgroundTaskFinishedEvent(task: {
  id: string;
  kind: string;
  status: string;
  data: unknown;
}): OperationalEvent {
  return {
    type: 'background_task.finished',
    data: { taskId: task.id, task: task.kind, status: task.status, data: task.data },
  };
}

/** The part of a completion that {@link attemptEventKinds} reads (the store's `Completion` is one). */
export interface CompletedForEvents {
  attempt: { succeeded: boolean; appId: string } | null;
  next: { status: 'pending' | 'succeeded' | 'failed' | 'canceled'; exhausted?: boolean };
  /** Attempts of the delivery so far, this one included; absent: unknown (no failing/recovered). */
  attemptsMade?: number;
}

/**
 * The attempt events a completion causes, as Svix sends them: `failing` when the delivery's
 * {@link FAILING_AFTER_ATTEMPTS}th attempt fails, `exhausted` when its last retry fails, and
 * `recovered` when it succeeds after `failing` was sent. Deliveries of the operational
 * application cause none: an operational endpoint is never told about itself.
 */
export function attemptEventKinds(
  c: CompletedForEvents,
): Array<'message.attempt.failing' | 'message.attempt.exhausted' | 'message.attempt.recovered'> {
  // A delivery its transformation canceled neither failed nor recovered.
  if (!c.attempt || isOperationalApp(c.attempt.appId) || c.next.status === 'canceled') return [];
  const made = c.attemptsMade;
  if (c.attempt.succeeded)
    return made !== undefined && made > FAILING_AFTER_ATTEMPTS ? ['message.attempt.recovered'] : [];
  const out: Array<'message.attempt.failing' | 'message.attempt.exhausted'> = [];
  if (made === FAILING_AFTER_ATTEMPTS) out.push('message.attempt.failing');
  if (c.next.status === 'failed' && c.next.exhausted) out.push('message.attempt.exhausted');
  return out;
}

/** Whether an operational endpoint with these filter types receives an event of `type`. */
export function subscribes(filterTypes: readonly string[] | null, type: string): boolean {
  return filterTypes === null || filterTypes.length === 0 || filterTypes.includes(type);
}

/** Herald records in the Svix API's output shapes. */
import type { FastifyReply } from 'fastify';
import type {
  Application,
  Attempt,
  BackgroundTask,
  Delivery,
  Endpoint,
  EventType,
  Message,
} from '../core/types.js';
import { EXPIRED_PAYLOAD } from '../store/rows.js';

const iso = (ms: number) => new Date(ms).toISOString();

export function applicationOut(a: Application) {
  return {
    id: a.id,
    uid: a.uid,
    name: a.name,
    throttleRate: a.rateLimit,
    rateLimit: a.rateLimit,
    metadata: a.metadata,
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  };
}

/** An event type in the Svix shape; without `withContent` (Svix's lists by default) its schemas are left out. */
export function eventTypeOut(e: EventType, withContent = true) {
  return {
    name: e.name,
    description: e.description,
    archived: e.archived,
    deprecated: e.deprecated,
    featureFlag: e.featureFlag,
    schemas: withContent ? e.schemas : null,
    createdAt: iso(e.createdAt),
    updatedAt: iso(e.updatedAt),
  };
}

export function endpointOut(e: Endpoint) {
  return {
    id: e.id,
    uid: e.uid,
    url: e.url,
    description: e.description,
    filterTypes: e.filterTypes,
    channels: e.channels,
    disabled: e.disabled,
    metadata: e.metadata,
    throttleRate: e.rateLimit,
    rateLimit: e.rateLimit,
    version: 1,
    // Herald's: the API speaks seconds, the store milliseconds.
    retrySchedule: e.retrySchedule?.map((ms) => ms / 1000) ?? null,
    timeout: e.timeoutMs === null ? null : e.timeoutMs / 1000,
    disabledReason: e.disabledReason,
    disabledAt: e.disabledAt === null ? null : iso(e.disabledAt),
    createdAt: iso(e.createdAt),
    updatedAt: iso(e.updatedAt),
  };
}

/**
 * A message in the Svix shape as JSON text, with the stored payload bytes as they are and,
 * given its delivery, the delivery's status fields after. The payload is never parsed and
 * serialised again: that costs time on every read, and a stored payload nested 20,000 levels
 * deep made `JSON.stringify` throw RangeError, so the message list answered 500 for good.
 */
export function messageJson(m: Message, withContent = true, delivery?: Delivery): string {
  const str = JSON.stringify;
  // Svix answers this for a payload that is gone (expunged, or past its retention).
  const payload = withContent ? (m.payload ?? EXPIRED_PAYLOAD) : '{}';
  const deliverAt = m.deliverAt === null ? 'null' : str(iso(m.deliverAt));
  const fields = `"id":${str(m.id)},"eventType":${str(m.eventType)},"eventId":${str(m.eventId)},"channels":${str(m.channels)},"tags":${str(m.tags)},"payload":${payload},"deliverAt":${deliverAt},"timestamp":${str(iso(m.createdAt))}`;
  // The status object's text without its opening brace: its fields, then the closing one.
  return delivery ? `{${fields},${str(deliveryStatus(delivery)).slice(1)}` : `{${fields}}`;
}

/** What Svix shows for an attempt's expunged response body. */
export const EXPUNGED_RESPONSE = 'EXPUNGED';

/** The paging fields of a Svix page. */
export interface PageFields {
  iterator: string | null;
  prevIterator: string | null;
  done: boolean;
}

/** A Svix page (`{data, iterator, prevIterator, done}`) of items that are JSON text already. */
export function pageJson(items: string[], page: PageFields): string {
  const str = JSON.stringify;
  return `{"data":[${items.join(',')}],"iterator":${str(page.iterator)},"prevIterator":${str(page.prevIterator)},"done":${page.done}}`;
}

/** An empty page, for a filter that nothing can match. */
export const EMPTY_PAGE: PageFields = { iterator: null, prevIterator: null, done: true };

/**
 * Sends an answer that is JSON text already (from {@link messageJson}, {@link pageJson}) as
 * it is; the route's response schema still documents it.
 */
export function sendJson(reply: FastifyReply, text: string, status = 200): FastifyReply {
  return reply.status(status).type('application/json; charset=utf-8').send(text);
}

const STATUS = { succeeded: 0, pending: 1, failed: 2, sending: 3 } as const;
const STATUS_TEXT = { succeeded: 'success', pending: 'pending', failed: 'fail', sending: 'sending' } as const;

/** A delivery's status as Svix numbers and names it. */
export function deliveryStatus(d: Delivery) {
  return {
    status: STATUS[d.status],
    statusText: STATUS_TEXT[d.status],
    nextAttempt: d.status === 'pending' && d.dueAt !== null ? iso(d.dueAt) : null,
  };
}

/**
 * An attempt in the Svix shape, plus Herald's `errorKind` and `errorMessage` (why it failed:
 * `blocked_address`, `timeout`, `http_status`…; Svix's MessageAttemptOut has no such field,
 * and SDKs ignore fields they do not know).
 */
export function attemptOut(a: Attempt, withContent = true) {
  return {
    id: a.id,
    msgId: a.msgId,
    endpointId: a.endpointId,
    url: a.url,
    // Svix's answer without content: an empty JSON object for the body.
    response: !withContent ? '{}' : a.expungedAt ? EXPUNGED_RESPONSE : a.responseBody,
    responseStatusCode: a.statusCode ?? 0,
    responseDurationMs: Math.round(a.durationMs),
    status: a.succeeded ? 0 : 2,
    statusText: a.succeeded ? ('success' as const) : ('fail' as const),
    triggerType: a.trigger === 'manual' ? 1 : 0,
    timestamp: iso(a.createdAt),
    errorKind: a.errorKind,
    errorMessage: a.errorMessage,
  };
}

/**
 * An attempt as JSON text, with its message (`with_msg`) after its own fields: the message's
 * payload goes as its stored bytes, as {@link messageJson} sends it.
 */
export function attemptJson(a: Attempt, withContent: boolean, message?: Message): string {
  const own = JSON.stringify(attemptOut(a, withContent));
  return message ? `${own.slice(0, -1)},"msg":${messageJson(message, withContent)}}` : own;
}

/** A background task as Svix's BackgroundTaskOut (RecoverOut and ReplayOut are it without `data`). */
export function taskOut(t: BackgroundTask) {
  return { id: t.id, status: t.status, task: t.kind, data: t.data, updatedAt: iso(t.updatedAt) };
}

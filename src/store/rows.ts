/** Mapping between database rows (SQLite and PostgreSQL share column names) and Herald records. */

import { storedFilter } from '../core/payload-filter.js';
import type {
  Application,
  Attempt,
  AttemptErrorKind,
  AttemptTrigger,
  BackgroundTask,
  Delivery,
  DeliveryStatus,
  Endpoint,
  EventType,
  InboundRequest,
  InboundStatus,
  Message,
  Source,
  SourceProvider,
} from '../core/types.js';
import { type SecretBox, sealedRowId } from './secret-box.js';
import type { ClaimedDelivery, IdempotentAnswer } from './store.js';

export interface ApplicationRow {
  id: string;
  uid: string | null;
  name: string;
  rate_limit: number | null;
  metadata: string;
  created_at: number;
  updated_at: number;
}

export function toApplication(r: ApplicationRow): Application {
  return {
    id: r.id,
    uid: r.uid,
    name: r.name,
    rateLimit: r.rate_limit,
    metadata: JSON.parse(r.metadata),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function fromApplication(a: Application) {
  return {
    id: a.id,
    uid: a.uid,
    name: a.name,
    rate_limit: a.rateLimit,
    metadata: JSON.stringify(a.metadata),
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  };
}

export interface EventTypeRow {
  name: string;
  description: string;
  schemas: string | null;
  archived: number | boolean;
  deprecated: number | boolean;
  feature_flag: string | null;
  created_at: number;
  updated_at: number;
}

export function toEventType(r: EventTypeRow): EventType {
  return {
    name: r.name,
    description: r.description,
    schemas: r.schemas === null ? null : JSON.parse(r.schemas),
    archived: Boolean(r.archived),
    deprecated: Boolean(r.deprecated),
    featureFlag: r.feature_flag,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export interface EndpointRow {
  id: string;
  app_id: string;
  uid: string | null;
  url: string;
  description: string;
  filter_types: string | null;
  channels: string | null;
  secrets: string;
  headers: string;
  rate_limit: number | null;
  disabled: number | boolean;
  metadata: string;
  retry_schedule: string | null;
  timeout_ms: number | null;
  failing_since: number | null;
  disabled_reason: string | null;
  disabled_at: number | null;
  /** Written at creation only ({@link fromEndpoint}); a listener stream marks it seen. */
  listener: string | null;
  listener_seen_at: number | null;
  created_at: number;
  updated_at: number;
  filter: string | null;
  transformation_code: string | null;
  transformation_enabled: number | boolean;
}

/** Endpoints a claim that skips saturated endpoints visits at most (both stores). */
export const CLAIM_ENDPOINTS_MAX = 64;

// `undefined`: a column a row read through JSON leaves out (one written before it existed).
const jsonOrNull = (text: string | null | undefined) => (text == null ? null : JSON.parse(text));
const textOrNull = (value: unknown) => (value === null ? null : JSON.stringify(value));

/**
 * The `headers` column of an endpoint: a JSON object of name to value (the form every
 * release has written), or, once some are marked sensitive, a JSON array of `{name, value,
 * sensitive?}`. Under a main key either is sealed like the secrets, with associated data of
 * its own, so neither column's value opens in the other. Every form reads, sealed or not,
 * so rows written before need no migration.
 */
function encodeHeaders(e: Endpoint, box: SecretBox): string {
  const marked = new Set(e.sensitiveHeaders);
  const plain =
    marked.size === 0
      ? JSON.stringify(e.headers)
      : JSON.stringify(
          Object.entries(e.headers).map(([name, value]) =>
            marked.has(name) ? { name, value, sensitive: true } : { name, value },
          ),
        );
  return box.seal(plain, sealedRowId(e.id, 'headers'));
}

function decodeHeaders(
  text: string,
  id: string,
  box: SecretBox,
): Pick<Endpoint, 'headers' | 'sensitiveHeaders'> {
  const parsed: Record<string, string> | { name: string; value: string; sensitive?: true }[] = JSON.parse(
    box.open(text, sealedRowId(id, 'headers')),
  );
  if (!Array.isArray(parsed)) return { headers: parsed, sensitiveHeaders: [] };
  const headers: Record<string, string> = {};
  for (const h of parsed) headers[h.name] = h.value;
  return { headers, sensitiveHeaders: parsed.filter((h) => h.sensitive).map((h) => h.name) };
}

export function toEndpoint(r: EndpointRow, box: SecretBox): Endpoint {
  return {
    id: r.id,
    appId: r.app_id,
    uid: r.uid,
    url: r.url,
    description: r.description,
    filterTypes: jsonOrNull(r.filter_types),
    channels: jsonOrNull(r.channels),
    secrets: JSON.parse(box.open(r.secrets, r.id)),
    ...decodeHeaders(r.headers, r.id, box),
    rateLimit: r.rate_limit,
    disabled: Boolean(r.disabled),
    metadata: JSON.parse(r.metadata),
    retrySchedule: jsonOrNull(r.retry_schedule),
    timeoutMs: r.timeout_ms,
    failingSince: r.failing_since,
    filter: r.filter == null ? null : storedFilter(r.filter),
    transformationCode: r.transformation_code,
    transformationEnabled: Boolean(r.transformation_enabled),
    disabledReason: (r.disabled_reason ?? null) as Endpoint['disabledReason'],
    disabledAt: r.disabled_at ?? null,
    listener: r.listener ?? null,
    listenerSeenAt: r.listener_seen_at == null ? null : Number(r.listener_seen_at),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function fromEndpoint(e: Endpoint, box: SecretBox): EndpointRow {
  return {
    id: e.id,
    app_id: e.appId,
    uid: e.uid,
    url: e.url,
    description: e.description,
    filter_types: textOrNull(e.filterTypes),
    channels: textOrNull(e.channels),
    secrets: box.seal(JSON.stringify(e.secrets), e.id),
    headers: encodeHeaders(e, box),
    rate_limit: e.rateLimit,
    disabled: e.disabled ? 1 : 0,
    metadata: JSON.stringify(e.metadata),
    retry_schedule: textOrNull(e.retrySchedule),
    timeout_ms: e.timeoutMs,
    failing_since: e.failingSince,
    disabled_reason: e.disabledReason,
    disabled_at: e.disabledAt,
    listener: e.listener,
    listener_seen_at: e.listenerSeenAt,
    created_at: e.createdAt,
    updated_at: e.updatedAt,
    filter: textOrNull(e.filter),
    transformation_code: e.transformationCode,
    transformation_enabled: e.transformationEnabled ? 1 : 0,
  };
}

export interface MessageRow {
  id: string;
  app_id: string;
  event_type: string;
  event_id: string | null;
  channels: string | null;
  tags: string | null;
  /** Empty once expunged. */
  payload: string;
  headers: string | null;
  deliver_at: number | null;
  payload_expires_at: number | null;
  /** When the payload was expunged (by request or by its retention); `null` while kept. */
  expunged_at: number | null;
  /** Absent where a query leaves it out (it matters to claims only). */
  trace_context?: string | null;
  /** Absent where a query leaves it out. */
  idempotency_key?: string | null;
  created_at: number;
  transformations_params: string | null;
}

export function toMessage(r: MessageRow): Message {
  return {
    id: r.id,
    appId: r.app_id,
    eventType: r.event_type,
    eventId: r.event_id,
    channels: jsonOrNull(r.channels),
    tags: jsonOrNull(r.tags),
    payload: r.expunged_at === null ? r.payload : null,
    headers: jsonOrNull(r.headers),
    transformationsParams: jsonOrNull(r.transformations_params),
    deliverAt: r.deliver_at,
    payloadExpiresAt: r.payload_expires_at,
    traceContext: r.trace_context ?? null,
    idempotencyKey: r.idempotency_key ?? null,
    createdAt: r.created_at,
  };
}

/** The row of a message being accepted (its payload is there). */
export function fromMessage(m: Message): MessageRow {
  return {
    id: m.id,
    app_id: m.appId,
    event_type: m.eventType,
    event_id: m.eventId,
    channels: textOrNull(m.channels),
    tags: textOrNull(m.tags),
    payload: m.payload ?? '',
    headers: textOrNull(m.headers),
    deliver_at: m.deliverAt,
    payload_expires_at: m.payloadExpiresAt,
    expunged_at: m.payload === null ? m.createdAt : null,
    trace_context: m.traceContext,
    idempotency_key: m.idempotencyKey,
    created_at: m.createdAt,
    transformations_params: textOrNull(m.transformationsParams),
  };
}

export interface DeliveryRow {
  id: string;
  msg_id: string;
  endpoint_id: string;
  app_id: string;
  status: string;
  attempts: number;
  due_at: number | null;
  lease_owner: string | null;
  last_attempt_at: number | null;
  created_at: number;
}

export function toDelivery(r: DeliveryRow): Delivery {
  return {
    id: r.id,
    msgId: r.msg_id,
    endpointId: r.endpoint_id,
    appId: r.app_id,
    status: r.status as DeliveryStatus,
    attempts: r.attempts,
    dueAt: r.due_at,
    leaseOwner: r.lease_owner,
    lastAttemptAt: r.last_attempt_at,
    createdAt: r.created_at,
  };
}

export interface AttemptRow {
  id: string;
  delivery_id: string;
  msg_id: string;
  endpoint_id: string;
  app_id: string;
  url: string;
  trigger: string;
  succeeded: number | boolean;
  status_code: number | null;
  response_body: string;
  duration_ms: number;
  error_kind: string | null;
  error_message: string | null;
  request_headers: string;
  expunged_at: number | null;
  created_at: number;
}

export function toAttempt(r: AttemptRow): Attempt {
  return {
    id: r.id,
    deliveryId: r.delivery_id,
    msgId: r.msg_id,
    endpointId: r.endpoint_id,
    appId: r.app_id,
    url: r.url,
    trigger: r.trigger as AttemptTrigger,
    succeeded: Boolean(r.succeeded),
    statusCode: r.status_code,
    responseBody: r.response_body,
    // Left out while kept, so that an attempt reads back as it was recorded.
    ...(r.expunged_at !== null ? { expungedAt: r.expunged_at } : {}),
    durationMs: r.duration_ms,
    errorKind: r.error_kind as AttemptErrorKind | null,
    errorMessage: r.error_message,
    requestHeaders: JSON.parse(r.request_headers),
    createdAt: r.created_at,
  };
}

/** A message's payload once it is gone, as the API shows it (Svix's). */
export const EXPIRED_PAYLOAD = '{"expired":true}';

/**
 * The start of the answer kept for the idempotency key of a message's creation: the message
 * as the API writes it (`messageJson`), id first.
 */
export const answerPrefix = (msgId: string) => `{"id":${JSON.stringify(msgId)},`;

/**
 * That answer with the payload expunged: the payload's exact text after `"payload":` (as the
 * API wrote it) becomes {@link EXPIRED_PAYLOAD}; an answer without it (`with_content=false`)
 * comes back as it is. No parse: the text is spliced where the payload's bytes are.
 */
export function answerWithoutPayload(answer: string, payload: string): string {
  const field = `"payload":${payload}`;
  const at = answer.indexOf(field);
  if (at < 0) return answer;
  return `${answer.slice(0, at)}"payload":${EXPIRED_PAYLOAD}${answer.slice(at + field.length)}`;
}

/** A message waiting for its group commit, with the one endpoint it targets, if any. */
export interface PendingMessage {
  message: Message;
  onlyEndpointId: string | undefined;
}

/** A row of a claim query: the delivery, its message's content and its endpoint's version. */
export interface ClaimRow {
  id: string;
  msg_id: string;
  endpoint_id: string;
  app_id: string;
  attempts: number;
  next_trigger: string;
  event_type: string;
  /** `NULL` once the message's payload is gone. */
  payload: string | null;
  headers: string | null;
  transformations_params: string | null;
  trace_context: string | null;
  endpoint_version: number;
}

export function toClaimed(r: ClaimRow, leaseExpiresAt: number): ClaimedDelivery {
  return {
    id: r.id,
    msgId: r.msg_id,
    endpointId: r.endpoint_id,
    appId: r.app_id,
    attempts: r.attempts,
    trigger: r.next_trigger === 'manual' ? 'manual' : 'scheduled',
    eventType: r.event_type,
    payload: r.payload,
    headers: jsonOrNull(r.headers),
    transformationsParams: jsonOrNull(r.transformations_params),
    traceContext: r.trace_context,
    leaseExpiresAt,
    endpointVersion: r.endpoint_version,
  };
}

export interface SourceRow {
  id: string;
  name: string;
  provider: string;
  secrets: string;
  app_id: string;
  passthrough_headers: number | boolean;
  created_at: number;
  updated_at: number;
}

export function toSource(r: SourceRow, box: SecretBox): Source {
  return {
    id: r.id,
    name: r.name,
    provider: r.provider as SourceProvider,
    secrets: JSON.parse(box.open(r.secrets, r.id)),
    appId: r.app_id,
    passthroughHeaders: Boolean(r.passthrough_headers),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export interface InboundRow {
  id: string;
  source_id: string;
  status: string;
  reason: string | null;
  headers: string;
  body: Buffer;
  body_size: number;
  msg_id: string | null;
  created_at: number;
  body_expunged_at: number | null;
}

export function toInbound(r: InboundRow): InboundRequest {
  return {
    id: r.id,
    sourceId: r.source_id,
    status: r.status as InboundStatus,
    reason: r.reason,
    headers: JSON.parse(r.headers),
    body: Buffer.from(r.body),
    bodySize: r.body_size,
    bodyExpungedAt: r.body_expunged_at,
    msgId: r.msg_id,
    createdAt: r.created_at,
  };
}

/** Columns of the inbound request insert, in the order of {@link inboundParams}. */
export const INBOUND_COLUMNS = 'id, source_id, status, reason, headers, body, body_size, msg_id, created_at';

/** Parameters of the inbound request insert, in {@link INBOUND_COLUMNS} order. */
export function inboundParams(r: InboundRequest): unknown[] {
  return [
    r.id,
    r.sourceId,
    r.status,
    r.reason,
    JSON.stringify(r.headers),
    r.body,
    r.bodySize,
    r.msgId,
    r.createdAt,
  ];
}

/** An `idempotency_keys` row as both backends read it. */
export interface IdempotencyRow {
  scope: string;
  key: string;
  request_hash: string;
  status_code: number;
  response: string;
  created_at: number;
}

export function toIdempotentAnswer(r: IdempotencyRow): IdempotentAnswer {
  return {
    requestHash: r.request_hash,
    statusCode: r.status_code,
    response: r.response,
    createdAt: r.created_at,
  };
}

export interface TaskRow {
  id: string;
  kind: string;
  status: string;
  app_id: string | null;
  endpoint_id: string | null;
  params: string;
  cursor: string | null;
  data: string;
  runs: number;
  lease_owner: string | null;
  lease_expires_at: number | string | null;
  created_at: number | string;
  updated_at: number | string;
}

export function toTask(r: TaskRow): BackgroundTask {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status as BackgroundTask['status'],
    appId: r.app_id,
    endpointId: r.endpoint_id,
    params: JSON.parse(r.params),
    cursor: r.cursor,
    data: JSON.parse(r.data),
    runs: Number(r.runs),
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at === null ? null : Number(r.lease_expires_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

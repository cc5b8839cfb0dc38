/**
 * Turns store inputs into complete, checked records. Shared by every backend, so the same
 * input is accepted or refused the same way whatever the database.
 */
import { ValidationError } from '../core/errors.js';
import { checkSensitiveNames, headerValueProblem, keptSensitiveNames } from '../core/headers.js';
import { checkFilter } from '../core/payload-filter.js';
import {
  checkEndpointUrl,
  checkHeaders,
  checkName,
  checkNameList,
  checkRetrySchedule,
  checkSecret,
  checkTags,
  checkTimeout,
  checkUid,
  isReservedHeader,
  LIMITS,
} from '../core/rules.js';
import { generateHmacSecret } from '../core/signing.js';
import type {
  Application,
  Endpoint,
  EndpointSecret,
  Message,
  Source,
  SourceProvider,
} from '../core/types.js';
import type {
  ApplicationPatch,
  EndpointPatch,
  NewApplication,
  NewEndpoint,
  NewMessage,
  NewSource,
  SourcePatch,
} from './store.js';

function checkMetadata(field: string, metadata: Record<string, string> | undefined): Record<string, string> {
  if (metadata === undefined) return {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new ValidationError(`${field}.${k}`, 'must be a string');
  }
  return { ...metadata };
}

function checkRate(field: string, rate: number | null | undefined): number | null {
  if (rate === undefined || rate === null) return null;
  if (!Number.isInteger(rate) || rate < 1 || rate > 65_535) {
    throw new ValidationError(field, 'must be an integer from 1 to 65535');
  }
  return rate;
}

/** Applies `patch` to an application (or builds a new one from defaults). */
export function applicationRecord(
  base: Application,
  patch: ApplicationPatch | NewApplication,
  now: number,
): Application {
  const name = patch.name ?? base.name;
  if (name.length === 0) throw new ValidationError('name', 'must not be empty');
  return {
    ...base,
    name,
    uid: patch.uid === undefined ? base.uid : patch.uid === null ? null : checkUid('uid', patch.uid),
    rateLimit: patch.rateLimit === undefined ? base.rateLimit : checkRate('rateLimit', patch.rateLimit),
    metadata: patch.metadata === undefined ? base.metadata : checkMetadata('metadata', patch.metadata),
    updatedAt: now,
  };
}

/** A blank application with `id`, to be completed by {@link applicationRecord}. */
export function blankApplication(id: string, now: number): Application {
  return { id, uid: null, name: '', rateLimit: null, metadata: {}, createdAt: now, updatedAt: now };
}

/** A blank endpoint with `id` and a fresh secret, to be completed by {@link endpointRecord}. */
export function blankEndpoint(id: string, appId: string, now: number, secret?: string | null): Endpoint {
  const key = secret === undefined || secret === null ? generateHmacSecret() : checkSecret('secret', secret);
  return {
    id,
    appId,
    uid: null,
    url: '',
    description: '',
    filterTypes: null,
    channels: null,
    secrets: [{ key, expiresAt: null }],
    headers: {},
    sensitiveHeaders: [],
    rateLimit: null,
    disabled: false,
    metadata: {},
    retrySchedule: null,
    timeoutMs: null,
    failingSince: null,
    filter: null,
    transformationCode: null,
    transformationEnabled: false,
    disabledReason: null,
    disabledAt: null,
    listener: null,
    listenerSeenAt: null,
    createdAt: now,
    updatedAt: now,
  };
}

/** Applies `patch` to an endpoint, checking every changed field. */
export function endpointRecord(base: Endpoint, patch: EndpointPatch | NewEndpoint, now: number): Endpoint {
  const disabled = patch.disabled ?? base.disabled;
  const headers = patch.headers === undefined ? base.headers : checkHeaders('headers', patch.headers);
  return {
    ...base,
    url: patch.url === undefined ? base.url : checkEndpointUrl('url', patch.url),
    uid: patch.uid === undefined ? base.uid : patch.uid === null ? null : checkUid('uid', patch.uid),
    description: patch.description ?? base.description,
    filterTypes:
      patch.filterTypes === undefined
        ? base.filterTypes
        : checkNameList('filterTypes', patch.filterTypes, Number.POSITIVE_INFINITY),
    channels:
      patch.channels === undefined
        ? base.channels
        : checkNameList('channels', patch.channels, LIMITS.endpointChannelsMax, LIMITS.channelMaxLength),
    headers,
    sensitiveHeaders:
      patch.sensitiveHeaders === undefined
        ? keptSensitiveNames(base.sensitiveHeaders, headers)
        : checkSensitiveNames('sensitiveHeaders', patch.sensitiveHeaders, headers),
    rateLimit: patch.rateLimit === undefined ? base.rateLimit : checkRate('rateLimit', patch.rateLimit),
    disabled,
    metadata: patch.metadata === undefined ? base.metadata : checkMetadata('metadata', patch.metadata),
    retrySchedule:
      patch.retrySchedule === undefined
        ? base.retrySchedule
        : checkRetrySchedule('retrySchedule', patch.retrySchedule),
    timeoutMs: patch.timeoutMs === undefined ? base.timeoutMs : checkTimeout('timeoutMs', patch.timeoutMs),
    filter: patch.filter === undefined ? base.filter : checkFilter('filter', patch.filter),
    transformationCode:
      patch.transformationCode === undefined
        ? base.transformationCode
        : checkTransformationCode('code', patch.transformationCode),
    transformationEnabled: patch.transformationEnabled ?? base.transformationEnabled,
    // Enabling an endpoint again starts its failure clock afresh.
    failingSince: disabled ? base.failingSince : base.disabled ? null : base.failingSince,
    // Enabled or disabled by hand: the store's own reason, if any, no longer holds.
    ...(disabled === base.disabled ? {} : { disabledReason: null, disabledAt: null }),
    updatedAt: now,
  };
}

/**
 * Whether taking a listener endpoint up again (`herald listen` reconnecting) changes it: it is
 * enabled again, or other filter types are asked for (`undefined` keeps them). Filter types
 * compare as sets; none and `[]` are the same.
 */
export function listenerChanges(
  current: Endpoint,
  filterTypes: readonly string[] | null | undefined,
): boolean {
  if (current.disabled) return true;
  if (filterTypes === undefined) return false;
  const asSet = (names: readonly string[] | null) =>
    names === null || names.length === 0 ? null : [...new Set(names)].sort();
  return JSON.stringify(asSet(filterTypes)) !== JSON.stringify(asSet(current.filterTypes));
}

/** The secrets after a rotation: the new key, then the old ones still in their grace period. */
export function rotatedSecrets(
  secrets: readonly EndpointSecret[],
  newSecret: string,
  graceMs: number,
  now: number,
): EndpointSecret[] {
  const key = checkSecret('key', newSecret);
  if (!Number.isInteger(graceMs) || graceMs < 0)
    throw new ValidationError('graceMs', 'must be a whole number >= 0');
  const kept = secrets
    .map((s) => (s.expiresAt === null ? { key: s.key, expiresAt: now + graceMs } : s))
    .filter((s) => s.expiresAt !== null && s.expiresAt > now && s.key !== key);
  return [{ key, expiresAt: null }, ...kept];
}

/**
 * The headers a message may carry: valid names Herald does not set, values that can be sent.
 * Others are dropped, not refused: a provider's request is not the caller's to fix.
 */
function passedHeaders(headers: Record<string, string> | null | undefined): Record<string, string> | null {
  if (!headers) return null;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (
      isReservedHeader(name) ||
      !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) ||
      typeof value !== 'string' ||
      headerValueProblem(value) !== null
    )
      continue;
    out[name] = value;
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** When a new message's deliveries are due: `deliverAt` if later than now, within the limit. */
function checkDeliverAt(deliverAt: number | null | undefined, now: number): number | null {
  if (deliverAt === undefined || deliverAt === null) return null;
  if (!Number.isSafeInteger(deliverAt)) throw new ValidationError('deliverAt', 'must be a date-time');
  if (deliverAt > now + LIMITS.deliverAtMaxAheadMs) {
    throw new ValidationError(
      'deliverAt',
      `must be at most ${LIMITS.deliverAtMaxAheadMs / 3_600_000} hours in the future (it is ${new Date(deliverAt).toISOString()}, the server's time is ${new Date(now).toISOString()})`,
    );
  }
  // A time already come (clock skew, a retried request) means now, as if none was given.
  return deliverAt > now ? deliverAt : null;
}

/** When a new message's payload expires, from its retention in hours. */
function payloadExpiry(hours: number | null | undefined, now: number): number | null {
  if (hours === undefined || hours === null) return null;
  const { payloadRetentionHoursMin: min, payloadRetentionHoursMax: max } = LIMITS;
  if (!Number.isInteger(hours) || hours < min || hours > max) {
    throw new ValidationError('payloadRetentionHours', `must be a whole number from ${min} to ${max}`);
  }
  return now + hours * 3_600_000;
}

/** Characters of a transformation's code at most. */
export const TRANSFORMATION_CODE_MAX = 51_200;

function checkTransformationCode(field: string, code: string | null): string | null {
  if (code === null) return null;
  if (typeof code !== 'string') throw new ValidationError(field, 'must be a string or null');
  if (code.length > TRANSFORMATION_CODE_MAX)
    throw new ValidationError(field, `must be at most ${TRANSFORMATION_CODE_MAX} characters`);
  return code;
}

function checkTransformationsParams(
  params: Record<string, unknown> | null | undefined,
): Record<string, unknown> | null {
  if (params === undefined || params === null) return null;
  if (typeof params !== 'object' || Array.isArray(params))
    throw new ValidationError('transformationsParams', 'must be an object');
  return params;
}

/** Checks a new message's fields (the payload is JSON text checked by the caller). */
export function messageRecord(id: string, input: NewMessage, now: number): Message {
  if (typeof input.payload !== 'string') throw new ValidationError('payload', 'must be JSON text');
  return {
    id,
    appId: input.appId,
    eventType: checkName('eventType', input.eventType),
    eventId:
      input.eventId === undefined || input.eventId === null ? null : checkName('eventId', input.eventId),
    channels:
      input.channels === undefined
        ? null
        : checkNameList('channels', input.channels, LIMITS.messageChannelsMax, LIMITS.channelMaxLength),
    tags: input.tags === undefined ? null : checkTags('tags', input.tags),
    payload: input.payload,
    headers: passedHeaders(input.headers),
    transformationsParams: checkTransformationsParams(input.transformationsParams),
    deliverAt: checkDeliverAt(input.deliverAt, now),
    payloadExpiresAt: payloadExpiry(input.payloadRetentionHours, now),
    traceContext: input.traceContext ?? null,
    idempotencyKey: input.idempotencyKey ?? null,
    createdAt: now,
  };
}

/** Providers a source can verify. */
export const SOURCE_PROVIDERS: readonly SourceProvider[] = [
  'github',
  'stripe',
  'shopify',
  'slack',
  'standard-webhooks',
  'hmac',
  'none',
];

/** A source with `patch` applied, checked as a new one would be; id, provider, application and creation time stay. */
export function updatedSource(base: Source, patch: SourcePatch, now: number): Source {
  const input = {
    name: patch.name ?? base.name,
    provider: base.provider,
    secrets: patch.secrets ?? base.secrets,
    appId: base.appId,
    passthroughHeaders: patch.passthroughHeaders ?? base.passthroughHeaders,
  };
  return { ...sourceRecord(base.id, base.appId, input, now), createdAt: base.createdAt };
}

/** Checks a new source (the application is resolved by the store). */
export function sourceRecord(id: string, appId: string, input: NewSource, now: number): Source {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 256)
    throw new ValidationError('name', 'must be 1 to 256 characters');
  if (!SOURCE_PROVIDERS.includes(input.provider)) {
    throw new ValidationError('provider', `must be one of ${SOURCE_PROVIDERS.join(', ')}`);
  }
  const secrets = input.secrets;
  if (input.provider !== 'none' && secrets.length === 0) {
    throw new ValidationError('secrets', `a ${input.provider} source needs at least one secret`);
  }
  if (secrets.length > 5) throw new ValidationError('secrets', 'may hold at most 5 secrets');
  secrets.forEach((secret, i) => {
    if (typeof secret !== 'string' || secret.length === 0 || secret.length > 256) {
      throw new ValidationError(`secrets[${i}]`, 'must be 1 to 256 characters');
    }
  });
  return {
    id,
    name,
    provider: input.provider,
    secrets: [...secrets],
    appId,
    passthroughHeaders: input.passthroughHeaders ?? false,
    createdAt: now,
    updatedAt: now,
  };
}

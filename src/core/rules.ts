/**
 * Rules for user-supplied values, enforced wherever they enter Herald (API and store), so a
 * stored endpoint is always one the dispatcher can use.
 */
import { ValidationError } from './errors.js';
import { headerValueProblem } from './headers.js';
import { ID_PREFIX } from './ids.js';
import { HMAC_SECRET_PREFIX, parseSecret } from './signing.js';

/** User-facing limits. Each is documented in the README. */
export const LIMITS = {
  urlMaxLength: 4096,
  headerCountMax: 32,
  headerNameMaxLength: 128,
  headerValueMaxLength: 4096,
  timeoutMinMs: 1_000,
  timeoutMaxMs: 30_000,
  retryScheduleMaxLength: 20,
  retryDelayMinMs: 1_000,
  retryDelayMaxMs: 7 * 24 * 3_600_000,
  nameMaxLength: 256,
  channelMaxLength: 128,
  messageChannelsMax: 5,
  endpointChannelsMax: 10,
  /** Tags of a message at most, and the length of each (Svix's). */
  messageTagsMax: 5,
  tagMaxLength: 128,
  /** How far ahead `deliverAt` may be (Svix's 24 h). */
  deliverAtMaxAheadMs: 24 * 3_600_000,
  /** `payloadRetentionHours` bounds (Svix's: 1 h to 90 days). */
  payloadRetentionHoursMin: 1,
  payloadRetentionHoursMax: 2160,
  /** `payloadRetentionPeriod` bounds, in days (Svix's). */
  payloadRetentionDaysMin: 1,
  payloadRetentionDaysMax: 90,
} as const;

/** What a tag may hold (Svix's pattern): letters, digits and - _ . / \\ #. */
export const TAG_PATTERN = /^[a-zA-Z0-9\-_./\\#]+$/;

const NAME_PATTERN = /^[a-zA-Z0-9\-_.]+$/;
// RFC 9110 token characters.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'user-agent',
  // undici refuses it on every request: Herald sends the body at once, never waiting for 100.
  'expect',
]);
const RESERVED_PREFIXES = ['content-', 'webhook-', 'svix-'];

/** Checks an identifier-like value (event type, uid, eventId, channel). */
export function checkName(field: string, value: string, maxLength: number = LIMITS.nameMaxLength): string {
  if (value.length === 0 || value.length > maxLength) {
    throw new ValidationError(field, `must be 1 to ${maxLength} characters`);
  }
  if (!NAME_PATTERN.test(value))
    throw new ValidationError(field, 'may contain only letters, digits, - _ and .');
  return value;
}

/** Checks a message's tags: at most {@link LIMITS.messageTagsMax}, each a {@link TAG_PATTERN} of 1 to 128. */
export function checkTags(field: string, values: readonly string[] | null): string[] | null {
  if (values === null || values.length === 0) return null;
  if (values.length > LIMITS.messageTagsMax) {
    throw new ValidationError(field, `may hold at most ${LIMITS.messageTagsMax} tags`);
  }
  values.forEach((v, i) => {
    if (typeof v !== 'string' || v.length === 0 || v.length > LIMITS.tagMaxLength) {
      throw new ValidationError(`${field}[${i}]`, `must be 1 to ${LIMITS.tagMaxLength} characters`);
    }
    if (!TAG_PATTERN.test(v)) {
      throw new ValidationError(`${field}[${i}]`, 'may contain only letters, digits and - _ . / \\ #');
    }
  });
  return [...new Set(values)];
}

/** `app_`, `ep_`, … : the start of every id Herald makes. */
const ID_SHAPE = new RegExp(`^(${Object.values(ID_PREFIX).join('|')})_`);

/** Whether `value` starts like an id Herald makes, so that it can only ever name by id. */
export function isIdShaped(value: string): boolean {
  return ID_SHAPE.test(value);
}

/**
 * Checks a uid: a name that cannot be taken for an id. Lookups accept either, so a uid of the
 * form `app_…` could shadow another tenant's application; every id prefix is refused.
 */
export function checkUid(field: string, value: string): string {
  checkName(field, value);
  if (isIdShaped(value)) {
    throw new ValidationError(
      field,
      `must not start with an id prefix (${Object.values(ID_PREFIX).join('_, ')}_)`,
    );
  }
  return value;
}

/**
 * Checks a new event type's name: a name, and not starting with `-`, which would make the
 * iterator of a page ending at it read as a previous-page iterator (`-X`: Svix's lists).
 */
export function checkEventTypeName(field: string, value: string): string {
  checkName(field, value);
  if (value.startsWith('-'))
    throw new ValidationError(field, "must not start with '-', which marks a previous-page iterator");
  return value;
}

/** Checks a list of names; `null` or an empty list means "no filter". */
export function checkNameList(
  field: string,
  values: readonly string[] | null,
  max: number,
  itemMax?: number,
) {
  if (values === null || values.length === 0) return null;
  if (values.length > max) throw new ValidationError(field, `may hold at most ${max} items`);
  values.forEach((v, i) => {
    checkName(`${field}[${i}]`, v, itemMax);
  });
  return [...new Set(values)];
}

/**
 * Checks an endpoint URL: absolute http(s), no credentials, a port other than 0, within the
 * length limit.
 * Returns it as given; address checks (SSRF) happen at connect time on the resolved address.
 */
export function checkEndpointUrl(field: string, value: string): string {
  if (value.length === 0 || value.length > LIMITS.urlMaxLength) {
    throw new ValidationError(field, `must be 1 to ${LIMITS.urlMaxLength} characters`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new ValidationError(field, 'is not a valid absolute URL', { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ValidationError(field, 'must use http or https');
  }
  if (url.username !== '' || url.password !== '') {
    throw new ValidationError(field, 'must not carry credentials; send them as a custom header');
  }
  if (url.hostname === '') throw new ValidationError(field, 'must name a host');
  // Any port from 1 to 65535 is allowed: the SSRF guard judges addresses, not ports.
  if (url.port === '0') throw new ValidationError(field, 'port must be 1 to 65535');
  return value;
}

/** Whether Herald or the connection sets this header, so nobody else may. */
export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return HOP_BY_HOP.has(lower) || RESERVED_PREFIXES.some((p) => lower.startsWith(p));
}

/** Checks custom endpoint headers: valid names and values, none Herald sets itself. */
export function checkHeaders(field: string, headers: Record<string, string>): Record<string, string> {
  const entries = Object.entries(headers);
  if (entries.length > LIMITS.headerCountMax) {
    throw new ValidationError(field, `may hold at most ${LIMITS.headerCountMax} headers`);
  }
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    const where = `${field}.${name}`;
    if (name.length === 0 || name.length > LIMITS.headerNameMaxLength || !HEADER_NAME.test(name)) {
      throw new ValidationError(where, 'is not a valid header name');
    }
    const lower = name.toLowerCase();
    if (lower === 'expect') {
      throw new ValidationError(where, 'is not supported: Herald never waits for 100 Continue');
    }
    if (isReservedHeader(lower)) {
      throw new ValidationError(where, 'is set by Herald or by the connection and cannot be overridden');
    }
    if (typeof value !== 'string' || value.length > LIMITS.headerValueMaxLength) {
      throw new ValidationError(
        where,
        `value must be a string of at most ${LIMITS.headerValueMaxLength} characters`,
      );
    }
    const problem = headerValueProblem(value);
    if (problem) throw new ValidationError(where, `value ${problem}`);
    if (Object.keys(out).some((k) => k.toLowerCase() === lower)) {
      throw new ValidationError(where, 'is given twice');
    }
    out[name] = value;
  }
  return out;
}

/** Checks a request timeout in milliseconds. */
export function checkTimeout(field: string, ms: number | null): number | null {
  if (ms === null) return null;
  if (!Number.isInteger(ms) || ms < LIMITS.timeoutMinMs || ms > LIMITS.timeoutMaxMs) {
    throw new ValidationError(
      field,
      `must be an integer from ${LIMITS.timeoutMinMs} to ${LIMITS.timeoutMaxMs} ms`,
    );
  }
  return ms;
}

/** Checks a retry schedule (delays in ms after the first try). */
export function checkRetrySchedule(field: string, schedule: readonly number[] | null): number[] | null {
  if (schedule === null) return null;
  if (schedule.length > LIMITS.retryScheduleMaxLength) {
    throw new ValidationError(field, `may hold at most ${LIMITS.retryScheduleMaxLength} delays`);
  }
  schedule.forEach((d, i) => {
    if (!Number.isInteger(d) || d < LIMITS.retryDelayMinMs || d > LIMITS.retryDelayMaxMs) {
      throw new ValidationError(
        `${field}[${i}]`,
        `must be an integer from ${LIMITS.retryDelayMinMs} to ${LIMITS.retryDelayMaxMs} ms`,
      );
    }
  });
  return [...schedule];
}

/**
 * Normalises and checks an endpoint secret. A bare base64 string (as the Svix API allows)
 * gets the `whsec_` prefix.
 */
export function checkSecret(field: string, secret: string): string {
  const normalised =
    secret.startsWith(HMAC_SECRET_PREFIX) || secret.startsWith('whsk_')
      ? secret
      : HMAC_SECRET_PREFIX + secret;
  parseSecret(normalised, field);
  return normalised;
}

/** Checks that a payload is JSON text; returns it unchanged, so its exact bytes are what is signed. */
export function checkPayload(field: string, payload: string, maxBytes: number): string {
  if (Buffer.byteLength(payload) > maxBytes) throw new ValidationError(field, `exceeds ${maxBytes} bytes`);
  try {
    JSON.parse(payload);
  } catch (cause) {
    throw new ValidationError(field, 'is not valid JSON', { cause });
  }
  return payload;
}

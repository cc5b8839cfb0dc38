/**
 * Request and response schemas of the HTTP API, in the shapes of the Svix API v1 (camelCase,
 * `{data, iterator, prevIterator, done}` pages). They validate every request and produce the
 * OpenAPI document served at `/openapi.json`.
 */
import Type, { type TSchema } from 'typebox';
import { LIMITS, TAG_PATTERN } from '../core/rules.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const NAME = '^[a-zA-Z0-9\\-_.]+$';
const Name = (maxLength: number = LIMITS.nameMaxLength) =>
  Type.String({ minLength: 1, maxLength, pattern: NAME });
const Metadata = Type.Record(Type.String(), Type.String());
const Timestamp = Type.String({ format: 'date-time' });
/** A message tag (Svix's pattern: letters, digits and - _ . / \\ #, up to 128). */
const Tag = Type.String({ minLength: 1, maxLength: LIMITS.tagMaxLength, pattern: TAG_PATTERN.source });
const NameList = (maxItems?: number, itemMax?: number) =>
  Nullable(Type.Array(Name(itemMax), { minItems: 1, uniqueItems: true, ...(maxItems ? { maxItems } : {}) }));

/** The schema keyword that marks a field {@link NotInHerald}; `server.ts` teaches it to ajv. */
export const UNSUPPORTED_KEYWORD = 'x-herald-unsupported';

/** The value of {@link UNSUPPORTED_KEYWORD}: what to do instead, and the values that pass. */
export interface Unsupported {
  instead: string;
  accepts: readonly unknown[];
}

/**
 * A Svix field Herald does not honour. It is named, rather than left to the closed object's
 * "not a known field", so that the 422 says Herald does not support it and what to do
 * instead. `accepts` are the values that ask for what Herald does anyway (`version: 1`).
 */
const NotInHerald = <T = unknown>(instead: string, accepts: readonly unknown[] = []) =>
  Type.Optional(
    Type.Unsafe<T>({
      [UNSUPPORTED_KEYWORD]: { instead, accepts } satisfies Unsupported,
      description: `Svix field not supported by Herald${accepts.length ? ` beyond ${accepts.map((v) => JSON.stringify(v)).join(' or ')}` : ''} (422): ${instead}.`,
    }),
  );
const NO_FEATURE_FLAGS = 'Herald has no feature flags';

/** An id or uid in a path. */
const PathId = Type.String({ minLength: 1, maxLength: 256 });
/** Path parameters of routes under an application. */
export const AppParams = Type.Object({ app_id: PathId });
/** Path parameters of routes under an endpoint. */
export const EndpointParams = Type.Object({ app_id: PathId, endpoint_id: PathId });
/** Path parameters of routes under a message. */
export const MsgParams = Type.Object({ app_id: PathId, msg_id: PathId });
/** Path parameters of routes under a message's delivery to an endpoint. */
export const MsgEndpointParams = Type.Object({ app_id: PathId, msg_id: PathId, endpoint_id: PathId });

/** Error body of every 4xx/5xx except validation. */
export const HttpError = Type.Object({ code: Type.String(), detail: Type.String() }, { $id: 'HttpErrorOut' });

/** Body of a 422. */
export const ValidationErrorBody = Type.Object(
  {
    detail: Type.Array(
      Type.Object({ loc: Type.Array(Type.String()), msg: Type.String(), type: Type.String() }),
    ),
  },
  { $id: 'HTTPValidationError' },
);

/** Query string of list routes; numbers arrive as strings and are checked by pattern. */
export const ListQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$', description: '1 to 250, default 50' })),
  iterator: Type.Optional(Type.String({ maxLength: 256 })),
  order: Type.Optional(Type.Union([Type.Literal('ascending'), Type.Literal('descending')])),
});

/** A page of `item`. */
export const Page = (item: TSchema) =>
  Type.Object({
    data: Type.Array(item),
    iterator: Nullable(Type.String()),
    prevIterator: Nullable(Type.String()),
    done: Type.Boolean(),
  });

export const ApplicationIn = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  uid: Type.Optional(Nullable(Name())),
  throttleRate: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 65_535 }))),
  rateLimit: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 65_535 }))),
  metadata: Type.Optional(Metadata),
});

export const ApplicationPatch = Type.Partial(ApplicationIn);

export const ApplicationOut = Type.Object({
  id: Type.String(),
  uid: Nullable(Type.String()),
  name: Type.String(),
  throttleRate: Nullable(Type.Integer()),
  rateLimit: Nullable(Type.Integer()),
  metadata: Metadata,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/**
 * One version of an event type's JSON Schema. Its `examples` are what send-example sends as
 * a message payload, so each is an object, as every message payload is.
 */
const EventTypeVersionSchema = Type.Object(
  { examples: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }))) },
  { additionalProperties: true },
);

export const EventTypeIn = Type.Object({
  name: Name(),
  description: Type.String({ maxLength: 4096 }),
  archived: Type.Optional(Type.Boolean()),
  deprecated: NotInHerald<boolean>('archive it instead (DELETE /api/v1/event-type/{name})', [false]),
  schemas: Type.Optional(Nullable(Type.Record(Type.String(), EventTypeVersionSchema))),
  featureFlag: NotInHerald(NO_FEATURE_FLAGS, [null]),
  featureFlags: NotInHerald(NO_FEATURE_FLAGS, [null]),
  groupName: NotInHerald('Herald does not group event types', [null]),
});

export const EventTypeUpdate = Type.Omit(EventTypeIn, ['name']);
export const EventTypePatch = Type.Partial(EventTypeUpdate);

export const EventTypeOut = Type.Object({
  name: Type.String(),
  description: Type.String(),
  archived: Type.Boolean(),
  deprecated: Type.Boolean(),
  schemas: Nullable(Type.Record(Type.String(), Type.Unknown())),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

const endpointFields = {
  url: Type.String({ minLength: 1, maxLength: LIMITS.urlMaxLength }),
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  uid: Type.Optional(Nullable(Name())),
  filterTypes: Type.Optional(NameList()),
  channels: Type.Optional(NameList(LIMITS.endpointChannelsMax, LIMITS.channelMaxLength)),
  disabled: Type.Optional(Type.Boolean()),
  metadata: Type.Optional(Metadata),
  throttleRate: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 65_535 }))),
  rateLimit: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 65_535 }))),
  version: NotInHerald<number | null>('every endpoint of Herald is version 1', [1, null]),
  retrySchedule: Type.Optional(
    Nullable(
      Type.Array(
        Type.Integer({ minimum: LIMITS.retryDelayMinMs / 1000, maximum: LIMITS.retryDelayMaxMs / 1000 }),
        {
          maxItems: LIMITS.retryScheduleMaxLength,
          description: `Herald: seconds to wait before each retry after the first try, each ±20 % jitter (up to ${LIMITS.retryScheduleMaxLength} delays of 1 s to 7 days); [] retries nothing; null or left out, the server's schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).`,
        },
      ),
    ),
  ),
  timeout: Type.Optional(
    Nullable(
      Type.Integer({
        minimum: LIMITS.timeoutMinMs / 1000,
        maximum: LIMITS.timeoutMaxMs / 1000,
        description: `Herald: seconds an attempt may take, status line and body (${LIMITS.timeoutMinMs / 1000} to ${LIMITS.timeoutMaxMs / 1000}); null or left out, the server's (15 s).`,
      }),
    ),
  ),
};

/** Custom headers, name to value; every value is sent as it is, one byte per character. */
const CustomHeaders = Type.Record(Type.String(), Type.String(), {
  description:
    'Values may hold tab, space, visible ASCII and U+0080 to U+00FF, not beginning or ending with a space or tab.',
});
/** Herald's own field: header names whose values `GET …/headers` does not show again. */
const SensitiveNames = Type.Optional(
  Type.Array(Type.String({ minLength: 1, maxLength: LIMITS.headerNameMaxLength }), {
    maxItems: LIMITS.headerCountMax,
    description:
      'Names among `headers` to mark sensitive (Herald). Credential-named headers (Authorization, Cookie, X-Api-Key, any name with auth, token, secret, password, session, credential, signature or hmac in it) are sensitive unmarked.',
  }),
);

export const EndpointIn = Type.Object({
  ...endpointFields,
  secret: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
  headers: Type.Optional(Nullable(CustomHeaders)),
  sensitiveHeaders: SensitiveNames,
});

export const EndpointUpdate = Type.Object(endpointFields);
export const EndpointPatch = Type.Object({
  ...Type.Partial(EndpointUpdate).properties,
  secret: NotInHerald(
    'rotate it with POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate, which keeps the old one valid for a grace period',
  ),
});

export const EndpointOut = Type.Object({
  id: Type.String(),
  uid: Nullable(Type.String()),
  url: Type.String(),
  description: Type.String(),
  filterTypes: Nullable(Type.Array(Type.String())),
  channels: Nullable(Type.Array(Type.String())),
  disabled: Type.Boolean(),
  metadata: Metadata,
  throttleRate: Nullable(Type.Integer()),
  rateLimit: Nullable(Type.Integer()),
  version: Type.Integer(),
  retrySchedule: Nullable(
    Type.Array(Type.Number(), {
      description: "Herald: seconds before each retry; null when the endpoint uses the server's schedule",
    }),
  ),
  timeout: Nullable(
    Type.Number({ description: "Herald: seconds an attempt may take; null when it is the server's" }),
  ),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

export const EndpointSecretOut = Type.Object({ key: Type.String() });
export const EndpointSecretRotateIn = Type.Object({
  key: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
  gracePeriodSeconds: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 7 * 86_400 }))),
});
export const EndpointHeadersIn = Type.Object({ headers: CustomHeaders, sensitive: SensitiveNames });
export const EndpointHeadersPatchIn = Type.Object({
  headers: Type.Record(Type.String(), Nullable(Type.String()), {
    description: 'A null value removes the header (and its sensitive mark).',
  }),
  sensitive: SensitiveNames,
  deleteHeaders: NotInHerald('give each header to delete a null value in headers'),
});
export const EndpointHeadersOut = Type.Object({
  headers: Type.Record(Type.String(), Type.String()),
  sensitive: Type.Array(Type.String(), {
    description: 'Names of the sensitive headers, whose values are not returned.',
  }),
});
export const EndpointStats = Type.Object({
  success: Type.Integer(),
  pending: Type.Integer(),
  sending: Type.Integer(),
  fail: Type.Integer(),
  canceled: Type.Integer(),
});

/** The application a message creates when its path names none (the fields Herald honours there). */
const InlineApplicationIn = Type.Object({
  ...ApplicationIn.properties,
  throttleRate: NotInHerald('set it on the application afterwards with PATCH /api/v1/app/{app_id}', [null]),
  rateLimit: NotInHerald('set it on the application afterwards with PATCH /api/v1/app/{app_id}', [null]),
});

export const MessageIn = Type.Object({
  eventType: Name(),
  eventId: Type.Optional(Nullable(Name())),
  channels: Type.Optional(NameList(LIMITS.messageChannelsMax, LIMITS.channelMaxLength)),
  payload: Type.Object({}, { additionalProperties: true }),
  application: Type.Optional(Nullable(InlineApplicationIn)),
  payloadRetentionPeriod: Type.Optional(
    Nullable(
      Type.Integer({
        minimum: LIMITS.payloadRetentionDaysMin,
        maximum: LIMITS.payloadRetentionDaysMax,
        description:
          'Days to keep the payload, then it is expunged (the message stays). Herald: left out or null, the payload is kept as long as the message. Not with payloadRetentionHours.',
      }),
    ),
  ),
  payloadRetentionHours: Type.Optional(
    Nullable(
      Type.Integer({
        minimum: LIMITS.payloadRetentionHoursMin,
        maximum: LIMITS.payloadRetentionHoursMax,
        description: 'Hours to keep the payload, then it is expunged. Not with payloadRetentionPeriod.',
      }),
    ),
  ),
  deliverAt: Type.Optional(
    Nullable(
      Type.String({
        format: 'date-time',
        description: `When the deliveries become due: at most ${LIMITS.deliverAtMaxAheadMs / 3_600_000} hours ahead (422 past that); a time already past sends now. The message is listed at once.`,
      }),
    ),
  ),
  tags: Type.Optional(
    Nullable(
      Type.Array(Tag, {
        maxItems: LIMITS.messageTagsMax,
        uniqueItems: true,
        description: 'Free-form labels that message and attempt lists filter by (?tag=); they route nothing.',
      }),
    ),
  ),
  transformationsParams: NotInHerald('Herald has no transformations', [null]),
});

export const MessageOut = Type.Object({
  id: Type.String(),
  eventType: Type.String(),
  eventId: Nullable(Type.String()),
  channels: Nullable(Type.Array(Type.String())),
  tags: Nullable(Type.Array(Type.String())),
  payload: Type.Object(
    {},
    {
      additionalProperties: true,
      description: 'The payload; {"expired": true} once expunged or past its retention (as Svix)',
    },
  ),
  deliverAt: Nullable(Timestamp),
  timestamp: Timestamp,
});

/** Svix's pre-check: would a message of this type and channels reach any enabled endpoint? */
export const MessagePrecheckIn = Type.Object({
  eventType: Name(),
  channels: Type.Optional(NameList(LIMITS.messageChannelsMax, LIMITS.channelMaxLength)),
});
export const MessagePrecheckOut = Type.Object({ active: Type.Boolean() });

/** Svix message status codes: 0 success, 1 pending, 2 fail, 3 sending. */
export const MessageStatus = Type.Integer({ minimum: 0, maximum: 3 });
const StatusText = Type.Union([
  Type.Literal('success'),
  Type.Literal('pending'),
  Type.Literal('fail'),
  Type.Literal('sending'),
]);

export const MessageAttemptOut = Type.Object({
  id: Type.String(),
  msgId: Type.String(),
  endpointId: Type.String(),
  url: Type.String(),
  response: Type.String(),
  responseStatusCode: Type.Integer(),
  responseDurationMs: Type.Integer(),
  status: MessageStatus,
  statusText: StatusText,
  triggerType: Type.Integer({ minimum: 0, maximum: 1 }),
  timestamp: Timestamp,
  errorKind: Nullable(
    Type.String({
      description:
        'Herald: why the attempt failed (http_status, timeout, connection_refused, connection_reset, invalid_response, dns, tls, blocked_address, invalid_url, network, payload_expired: nothing sent, the payload was gone); null when it succeeded',
    }),
  ),
  errorMessage: Nullable(
    Type.String({
      description:
        'Herald: what went wrong, in words (for blocked_address, how to allow the address); null when nothing did',
    }),
  ),
});

export const MessageEndpointOut = Type.Object({
  ...EndpointOut.properties,
  status: MessageStatus,
  statusText: StatusText,
  nextAttempt: Nullable(Timestamp),
});

export const EndpointMessageOut = Type.Object({
  ...MessageOut.properties,
  status: MessageStatus,
  statusText: StatusText,
  nextAttempt: Nullable(Timestamp),
});

export const AttemptQuery = Type.Object({
  ...ListQuery.properties,
  status: Type.Optional(Type.String({ pattern: '^[0-3]$' })),
  status_code_class: Type.Optional(Type.String({ pattern: '^(0|100|200|300|400|500)$' })),
  event_types: Type.Optional(Type.Union([Name(), Type.Array(Name())])),
  endpoint_id: Type.Optional(Type.String({ maxLength: 256 })),
  before: Type.Optional(Timestamp),
  after: Type.Optional(Timestamp),
  with_content: Type.Optional(Type.String()),
  channel: Type.Optional(Name(LIMITS.channelMaxLength)),
  tag: Type.Optional(Tag),
});

export const MessageQuery = Type.Object({
  ...ListQuery.properties,
  event_types: Type.Optional(Type.Union([Name(), Type.Array(Name())])),
  channel: Type.Optional(Name(LIMITS.channelMaxLength)),
  tag: Type.Optional(Tag),
  before: Type.Optional(Timestamp),
  after: Type.Optional(Timestamp),
  with_content: Type.Optional(Type.String()),
});

/** Svix's request for a portal token; Herald's application tokens take none of its options. */
export const AppPortalAccessIn = Type.Object({
  application: NotInHerald('create the application first (POST /api/v1/app)', [null]),
  capabilities: NotInHerald('an application token has full access to its application', [null]),
  readOnly: NotInHerald<boolean>('an application token has full access to its application', [false]),
  expiry: NotInHerald('application tokens do not expire', [null]),
  featureFlags: NotInHerald(NO_FEATURE_FLAGS, [null]),
  sessionId: NotInHerald('Herald has no portal sessions', [null]),
});
export const AppPortalAccessOut = Type.Object({ token: Type.String(), url: Type.String() });

export const RecoverIn = Type.Object({ since: Timestamp, until: Type.Optional(Nullable(Timestamp)) });
export const BackgroundTaskOut = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('finished'), Type.Literal('failed')]),
  task: Type.String(),
  updatedAt: Timestamp,
});
export const EventExampleIn = Type.Object({
  eventType: Name(),
  exampleIndex: NotInHerald<number>("Herald sends the first example of the event type's newest schema", [0]),
});

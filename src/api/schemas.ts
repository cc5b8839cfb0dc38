/**
 * Request and response schemas of the HTTP API, in the shapes of the Svix API v1 (camelCase,
 * `{data, iterator, prevIterator, done}` pages). They validate every request and produce the
 * OpenAPI document served at `/openapi.json`.
 */
import Type, { type TSchema } from 'typebox';
import { LIMITS } from '../core/rules.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const NAME = '^[a-zA-Z0-9\\-_.]+$';
const Name = (maxLength: number = LIMITS.nameMaxLength) =>
  Type.String({ minLength: 1, maxLength, pattern: NAME });
const Metadata = Type.Record(Type.String(), Type.String());
const Timestamp = Type.String({ format: 'date-time' });
const NameList = (maxItems?: number, itemMax?: number) =>
  Nullable(Type.Array(Name(itemMax), { minItems: 1, uniqueItems: true, ...(maxItems ? { maxItems } : {}) }));

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
  deprecated: Type.Optional(Type.Boolean()),
  schemas: Type.Optional(Nullable(Type.Record(Type.String(), EventTypeVersionSchema))),
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
  version: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
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
export const EndpointPatch = Type.Partial(EndpointUpdate);

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

export const MessageIn = Type.Object({
  eventType: Name(),
  eventId: Type.Optional(Nullable(Name())),
  channels: Type.Optional(NameList(LIMITS.messageChannelsMax, LIMITS.channelMaxLength)),
  payload: Type.Object({}, { additionalProperties: true }),
  payloadRetentionPeriod: Type.Optional(Type.Integer({ minimum: 1 })),
  application: Type.Optional(Nullable(ApplicationIn)),
});

export const MessageOut = Type.Object({
  id: Type.String(),
  eventType: Type.String(),
  eventId: Nullable(Type.String()),
  channels: Nullable(Type.Array(Type.String())),
  payload: Type.Object({}, { additionalProperties: true }),
  timestamp: Timestamp,
});

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
        'Herald: why the attempt failed (http_status, timeout, connection_refused, connection_reset, invalid_response, dns, tls, blocked_address, invalid_url, network); null when it succeeded',
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
});

export const MessageQuery = Type.Object({
  ...ListQuery.properties,
  event_types: Type.Optional(Type.Union([Name(), Type.Array(Name())])),
  channel: Type.Optional(Name(LIMITS.channelMaxLength)),
  before: Type.Optional(Timestamp),
  after: Type.Optional(Timestamp),
  with_content: Type.Optional(Type.String()),
});

export const AppPortalAccessOut = Type.Object({ token: Type.String(), url: Type.String() });

export const RecoverIn = Type.Object({ since: Timestamp, until: Type.Optional(Nullable(Timestamp)) });
export const BackgroundTaskOut = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('finished'), Type.Literal('failed')]),
  task: Type.String(),
  updatedAt: Timestamp,
});
export const EventExampleIn = Type.Object({ eventType: Name() });

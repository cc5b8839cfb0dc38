/**
 * Request and response schemas of the HTTP API, in the shapes of the Svix API v1 (camelCase,
 * `{data, iterator, prevIterator, done}` pages). They validate every request and produce the
 * OpenAPI document served at `/openapi.json`.
 */
import Type, { type TSchema } from 'typebox';
import { OPERATIONAL_EVENT_TYPES } from '../core/operational.js';
import { LIMITS, TAG_PATTERN } from '../core/rules.js';
import { CAPABILITIES } from './capabilities.js';

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

/**
 * Query strings of list routes. Numbers and booleans arrive as strings and are checked by
 * pattern; each object is closed, so a parameter Herald does not know gets 422 naming it
 * rather than being ignored.
 */
const Closed = { additionalProperties: false } as const;
const Flag = (description: string) =>
  Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')], { description }));
/** Svix's `-` iterators: `X` continues after X, `-X` (a page's `prevIterator`) is the page before X. */
const Iterator = Type.Optional(
  Type.String({
    maxLength: 257,
    description: "a page's iterator continues after it; its prevIterator (- and a key) gives the page before",
  }),
);
const pageFields = {
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$', description: '1 to 250, default 50' })),
  iterator: Iterator,
};
/** Paging of a list that has no `order`: messages and attempts are newest first, destinations by endpoint id. */
export const PageQuery = Type.Object(pageFields, Closed);
/** Paging of a list that can be read either way. */
export const ListQuery = Type.Object(
  {
    ...pageFields,
    order: Type.Optional(Type.Union([Type.Literal('ascending'), Type.Literal('descending')])),
  },
  Closed,
);

/** `event_types` as the svix SDK sends it (comma-separated), or repeated. */
const EventTypesParam = Type.Optional(
  Type.Union([Type.String({ maxLength: 65_536 }), Type.Array(Type.String({ maxLength: 65_536 }))], {
    description: 'event type names, comma-separated or repeated',
  }),
);
const timeWindow = {
  before: Type.Optional(Timestamp),
  after: Type.Optional(
    Type.String({
      format: 'date-time',
      description:
        'without before or an iterator, the page is the oldest after this time; prevIterator pages forward',
    }),
  ),
};
const Channel = Type.Optional(Name(LIMITS.channelMaxLength));
/** Only messages carrying this tag. */
const MessageTag = Type.Optional(Tag);
const WithContent = Flag('default true; false leaves payloads (and attempt response bodies) out');
const ExpandedStatuses = NotInHerald<string>(
  'Herald always reports the expanded statuses (3, sending, apart from 1, pending)',
  ['true'],
);

/** `GET /event-type`: ordered by name, archived ones and schemas left out unless asked for. */
export const EventTypeListQuery = Type.Object(
  {
    ...ListQuery.properties,
    include_archived: Flag('default false'),
    with_content: Flag('default false; without it, schemas are left out (null)'),
  },
  Closed,
);

/** `GET /app`: the Svix Cloud filters the SDK can send are refused unless they ask for nothing. */
export const ApplicationListQuery = Type.Object(
  {
    ...ListQuery.properties,
    name: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'Herald: only applications whose name contains this text (any case)',
      }),
    ),
    exclude_apps_with_no_endpoints: NotInHerald<string>('Herald does not filter applications', ['false']),
    exclude_apps_with_disabled_endpoints: NotInHerald<string>('Herald does not filter applications', [
      'false',
    ]),
    exclude_apps_with_svix_play_endpoints: NotInHerald<string>('Herald has no Svix Play endpoints', [
      'false',
    ]),
  },
  Closed,
);

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
  schemas: Type.Optional(
    Nullable(
      Type.Record(Type.String(), EventTypeVersionSchema, {
        description:
          'Herald: each version must be a JSON Schema of the draft its $schema names (draft 7 when none), ' +
          'and each of its examples valid against it; else 422 naming schemas.<version> or ' +
          'schemas.<version>.examples.<i>.',
      }),
    ),
  ),
  featureFlag: Type.Optional(
    Nullable(
      Type.String({
        maxLength: 256,
        pattern: NAME,
        description:
          'Herald: an event type with a feature flag is hidden from application tokens, which carry no flags; admin tokens see it.',
      }),
    ),
  ),
  featureFlags: NotInHerald('give one featureFlag', [null]),
  groupName: NotInHerald('Herald does not group event types', [null]),
});

export const EventTypeUpdate = Type.Omit(EventTypeIn, ['name']);
export const EventTypePatch = Type.Partial(EventTypeUpdate);

export const EventTypeOut = Type.Object({
  name: Type.String(),
  description: Type.String(),
  archived: Type.Boolean(),
  deprecated: Type.Boolean(),
  featureFlag: Nullable(Type.String()),
  schemas: Nullable(Type.Record(Type.String(), Type.Unknown())),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/** Herald's payload filter of an endpoint (checked further by `core/payload-filter.ts`). */
const PayloadFilter = Nullable(
  Type.Record(Type.String(), Type.Unknown(), {
    description:
      'Herald: a MongoDB-style query over payload, eventType, channels and tags ({"payload.amount": {"$gt": 1000}}); only matching messages make deliveries to this endpoint. Operators: $eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists, $regex (with $options), $and, $or, $not. null or left out: no filter.',
  }),
);

const endpointFields = {
  url: Type.String({ minLength: 1, maxLength: LIMITS.urlMaxLength }),
  description: Type.Optional(Type.String({ maxLength: 4096 })),
  uid: Type.Optional(Nullable(Name())),
  filterTypes: Type.Optional(NameList()),
  eventTypes: Type.Optional(
    Nullable(
      Type.Array(Name(), {
        minItems: 1,
        uniqueItems: true,
        description: 'The name the OpenAPI document gives filterTypes; given both, they must be equal.',
      }),
    ),
  ),
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
  filter: Type.Optional(PayloadFilter),
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
  filter: PayloadFilter,
  timeout: Nullable(
    Type.Number({ description: "Herald: seconds an attempt may take; null when it is the server's" }),
  ),
  disabledReason: Nullable(
    Type.Union([Type.Literal('gone'), Type.Literal('failing'), Type.Literal('idle')], {
      description:
        "Herald: why Herald disabled the endpoint by itself: 'gone' (it answered 410 Gone), 'failing' (its deliveries failed with no success for the auto-disable period, 5 days by default) or 'idle' (a `herald listen` endpoint that no client held for --listener-idle-days, 7 by default); null when it is enabled or was disabled through the API",
    }),
  ),
  disabledAt: Nullable(
    Type.String({
      format: 'date-time',
      description: 'Herald: when Herald disabled the endpoint by itself; null with disabledReason',
    }),
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
          'Days to keep the payload, then it is expunged (the message stays). Left out or null: the server default, --retention-days (default 90; 0 keeps it as long as the message). Not with payloadRetentionHours.',
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
  transformationsParams: Type.Optional(
    Nullable(
      Type.Record(Type.String(), Type.Unknown(), {
        description: "Handed to each endpoint's transformation as webhook.transformationsParams.",
      }),
    ),
  ),
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
  msg: Type.Optional(MessageOut),
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

const attemptFields = {
  ...pageFields,
  status: Type.Optional(Type.String({ pattern: '^[0-3]$' })),
  status_code_class: Type.Optional(Type.String({ pattern: '^(0|100|200|300|400|500)$' })),
  event_types: EventTypesParam,
  channel: Channel,
  tag: MessageTag,
  ...timeWindow,
  with_content: WithContent,
  with_msg: Flag("default false; true embeds each attempt's message as msg"),
  expanded_statuses: ExpandedStatuses,
};
/** `GET …/msg/{msg_id}/attempt/{attempt_id}`: the svix SDK sends `expanded_statuses=true`. */
export const AttemptGetQuery = Type.Object({ expanded_statuses: ExpandedStatuses }, Closed);
/** `GET …/attempt/endpoint/{endpoint_id}`. */
export const AttemptByEndpointQuery = Type.Object(attemptFields, Closed);
/** `GET …/attempt/msg/{msg_id}`: `endpoint_id` takes an id or a uid. */
export const AttemptByMsgQuery = Type.Object(
  { ...attemptFields, endpoint_id: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) },
  Closed,
);

/** `GET …/msg`. */
export const MessageQuery = Type.Object(
  {
    ...pageFields,
    event_types: EventTypesParam,
    channel: Channel,
    tag: MessageTag,
    ...timeWindow,
    with_content: WithContent,
    status: Type.Optional(
      Type.String({
        pattern: '^[0-3]$',
        description:
          "Herald: only messages with a delivery in this state to any endpoint: 1 pending or 2 failed (0 and 3 answer 422: filter one endpoint's messages for those)",
      }),
    ),
  },
  Closed,
);

/** `GET …/endpoint/{endpoint_id}/msg`: the messages sent to an endpoint. */
export const EndpointMessageQuery = Type.Object(
  {
    ...MessageQuery.properties,
    status: Type.Optional(Type.String({ pattern: '^[0-3]$' })),
    expanded_statuses: ExpandedStatuses,
  },
  Closed,
);

/** Longest life of an application token, and its default: 7 days, as Svix's portal tokens. */
export const APP_TOKEN_MAX_SECONDS = 7 * 86_400;
/** Shortest life asked for with `expiry`: an hour, as Svix allows. */
export const APP_TOKEN_MIN_SECONDS = 3_600;
const SessionId = (description?: string) =>
  Type.String({ minLength: 1, maxLength: 256, ...(description ? { description } : {}) });

/** Svix's request for a portal token (an application token). */
export const AppPortalAccessIn = Type.Object({
  application: Type.Optional(
    Nullable(
      Type.Object(ApplicationIn.properties, {
        description:
          "Creates the application when the path's id or uid names none (its uid defaults to the path's); ignored when it exists.",
      }),
    ),
  ),
  capabilities: Type.Optional(
    Nullable(
      Type.Array(Type.Union(CAPABILITIES.map((c) => Type.Literal(c))), {
        minItems: 1,
        uniqueItems: true,
        description:
          'What the token may do in its application; ViewBase (reading, endpoint secrets aside) is required. Left out or null, everything.',
      }),
    ),
  ),
  readOnly: Type.Optional(
    Nullable(Type.Boolean({ description: 'The token may only read: every other method answers 403.' })),
  ),
  expiry: Type.Optional(
    Nullable(
      Type.Integer({
        minimum: APP_TOKEN_MIN_SECONDS,
        maximum: APP_TOKEN_MAX_SECONDS,
        description: `Seconds the token works for, ${APP_TOKEN_MIN_SECONDS} (an hour) to ${APP_TOKEN_MAX_SECONDS} (7 days); default 7 days.`,
      }),
    ),
  ),
  // Svix's own examples send `featureFlags: []`.
  featureFlags: NotInHerald(NO_FEATURE_FLAGS, [null, []]),
  sessionId: Type.Optional(
    Nullable(
      SessionId('A session the token belongs to, so that expire-all can end it by naming it in sessionIds.'),
    ),
  ),
});
/** The answer of dashboard-access, which Svix keeps for older clients: the same as app-portal-access. */
export const DashboardAccessOut = Type.Object({ token: Type.String(), url: Type.String() });
/** Svix's request to end an application's tokens. */
export const ApplicationTokenExpireIn = Type.Object({
  expiry: Type.Optional(
    Nullable(
      Type.Integer({
        minimum: 0,
        maximum: APP_TOKEN_MAX_SECONDS,
        description: 'Seconds the tokens keep working (a grace period); default 0, at once.',
      }),
    ),
  ),
  sessionIds: Type.Optional(
    Type.Array(SessionId(), {
      maxItems: 100,
      description: 'Only the tokens made with these sessionIds; left out, every token of the application.',
    }),
  ),
});
export const AppPortalAccessOut = Type.Object({ token: Type.String(), url: Type.String() });

/** How far back a recover may reach, as Svix allows. */
export const RECOVER_MAX_DAYS = 14;
export const RecoverIn = Type.Object({
  since: Type.String({
    format: 'date-time',
    description: `At most ${RECOVER_MAX_DAYS} days ago (422 beyond).`,
  }),
  until: Type.Optional(Nullable(Timestamp)),
});
export const ReplayIn = Type.Object({ since: Timestamp, until: Type.Optional(Nullable(Timestamp)) });

/** Svix's kinds of background task; Herald runs the endpoint ones. */
export const TASK_KINDS = [
  'endpoint.replay',
  'endpoint.recover',
  'application.stats',
  'message.broadcast',
  'sdk.generate',
  'event-type.aggregate',
  'application.purge_content',
  'endpoint.bulk-replay',
] as const;
const TaskStatus = Type.Union([Type.Literal('running'), Type.Literal('finished'), Type.Literal('failed')]);
const TaskFields = {
  id: Type.String({ description: 'qtask_…' }),
  status: TaskStatus,
  task: Type.String(),
  updatedAt: Timestamp,
};
/** The answer of a POST that starts a task (Svix's RecoverOut and ReplayOut): at once, `running`. */
export const RecoverOut = Type.Object(TaskFields);
export const ReplayOut = Type.Object(TaskFields);
export const ExpungeAllContentsOut = Type.Object(TaskFields);
export const BackgroundTaskOut = Type.Object({
  ...TaskFields,
  data: Type.Object(
    {},
    {
      additionalProperties: true,
      description:
        'Herald: `deliveries`, how many deliveries the task made due again (recover, bulk-replay) or created (replay-missing) so far, with its `since` and `until`; `messagesPurged`, how many messages an application.purge_content has expunged so far; `error` when it failed.',
    },
  ),
});
export const BackgroundTaskQuery = Type.Object({
  ...ListQuery.properties,
  status: Type.Optional(TaskStatus),
  task: Type.Optional(Type.Union(TASK_KINDS.map((k) => Type.Literal(k)))),
});
export const BulkReplayIn = Type.Object({
  since: Timestamp,
  until: Type.Optional(Nullable(Timestamp)),
  eventTypes: Type.Optional(NameList()),
  channel: Type.Optional(Nullable(Name(LIMITS.channelMaxLength))),
  status: Type.Optional(
    Nullable(
      Type.Integer({
        minimum: 0,
        maximum: 3,
        description: "The delivery's state: 0 success, 1 pending, 2 fail, 3 sending",
      }),
    ),
  ),
  statusCodeClass: Type.Optional(
    Nullable(
      Type.Union(
        [0, 100, 200, 300, 400, 500].map((c) => Type.Literal(c)),
        {
          description: "The class of the delivery's last attempt's status code (0: no response)",
        },
      ),
    ),
  ),
  tag: Type.Optional(Nullable(Tag)),
});

/** One event type read from an OpenAPI document's `webhooks` (Svix's EventTypeFromOpenApi). */
const EventTypeFromOpenApi = Type.Object({
  name: Type.String(),
  description: Type.String(),
  deprecated: Type.Boolean(),
  featureFlag: Nullable(Type.String()),
  schemas: Nullable(Type.Record(Type.String(), Type.Unknown())),
});
export const EventTypeImportOpenApiIn = Type.Object({
  spec: Type.Optional(
    Nullable(
      Type.Object(
        {},
        {
          additionalProperties: true,
          description: 'An OpenAPI 3.1 document whose `webhooks` are the event types',
        },
      ),
    ),
  ),
  specRaw: Type.Optional(
    Nullable(Type.String({ description: 'The same document as JSON text (Herald reads no YAML)' })),
  ),
  replaceAll: Type.Optional(
    Type.Boolean({ description: 'Archive the event types the document does not name' }),
  ),
  dryRun: Type.Optional(Type.Boolean({ description: 'Change nothing; answer what would change' })),
});
export const EventTypeImportOpenApiOut = Type.Object({
  data: Type.Object({
    modified: Type.Array(Type.String(), {
      description: 'Names of the event types created, changed or archived',
    }),
    // Svix's wire name is snake_case here: its SDKs read `to_modify`.
    to_modify: Nullable(
      Type.Array(EventTypeFromOpenApi, {
        description: 'On a dry run: the event types that would be created or changed',
      }),
    ),
  }),
});
export const EventExampleIn = Type.Object({
  eventType: Name(),
  exampleIndex: NotInHerald<number>("Herald sends the first example of the event type's newest schema", [0]),
});

/** Path parameters of an operational webhook endpoint's routes. */
export const OperationalEndpointParams = Type.Object({ endpoint_id: PathId });

const operationalEndpointFields = {
  url: endpointFields.url,
  description: endpointFields.description,
  uid: endpointFields.uid,
  filterTypes: Type.Optional(
    Nullable(
      Type.Array(Type.Union(OPERATIONAL_EVENT_TYPES.map((t) => Type.Literal(t))), {
        uniqueItems: true,
        description: 'The operational events it receives; null, left out or [] for every one.',
      }),
    ),
  ),
  disabled: endpointFields.disabled,
  metadata: endpointFields.metadata,
  throttleRate: endpointFields.throttleRate,
  rateLimit: endpointFields.rateLimit,
};

export const OperationalEndpointIn = Type.Object({
  ...operationalEndpointFields,
  secret: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 200 }))),
});
export const OperationalEndpointUpdate = Type.Object(operationalEndpointFields);

export const OperationalEndpointOut = Type.Object({
  id: Type.String(),
  uid: Nullable(Type.String()),
  url: Type.String(),
  description: Type.String(),
  filterTypes: Nullable(Type.Array(Type.String())),
  disabled: Type.Boolean(),
  metadata: Metadata,
  throttleRate: Nullable(Type.Integer()),
  rateLimit: Nullable(Type.Integer()),
  disabledReason: EndpointOut.properties.disabledReason,
  disabledAt: EndpointOut.properties.disabledAt,
  createdAt: Timestamp,
  updatedAt: Timestamp,
});

/** Svix's EndpointTransformationIn / EndpointTransformationPatch: the code and whether it runs. */
export const EndpointTransformationIn = Type.Object({
  code: Type.Optional(
    Nullable(
      Type.String({
        maxLength: 51_200,
        description:
          'JavaScript defining function handler(webhook) that returns the webhook changed (payload, url, method POST or PUT, headers, cancel). null removes it.',
      }),
    ),
  ),
  enabled: Type.Optional(Type.Boolean()),
  variables: NotInHerald('give values through MessageIn.transformationsParams', [null]),
});

/** Svix's EndpointTransformationOut. */
export const EndpointTransformationOut = Type.Object({
  code: Nullable(Type.String()),
  enabled: Type.Boolean(),
  updatedAt: Nullable(Timestamp),
});

/** Herald's `POST …/transformation/test`: code (or the saved code) run on a webhook given. */
export const TransformationTestIn = Type.Object({
  code: Type.Optional(
    Type.String({ maxLength: 51_200, description: "Left out: the endpoint's saved code." }),
  ),
  eventType: Type.Optional(Type.String({ maxLength: 256 })),
  payload: Type.Unknown({ description: 'The payload the handler gets as webhook.payload.' }),
  transformationsParams: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
});

/** What `POST …/transformation/test` answers: the changed webhook, or the error. */
export const TransformationTestOut = Type.Object({
  ok: Type.Boolean(),
  webhook: Nullable(
    Type.Object({
      payload: Type.Unknown(),
      url: Type.String(),
      method: Type.String(),
      headers: Type.Record(Type.String(), Type.String()),
      cancel: Type.Boolean(),
    }),
  ),
  error: Nullable(Type.String()),
  line: Nullable(Type.Integer()),
});

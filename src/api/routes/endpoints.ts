import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { checkSensitiveNames, headersOut, keptSensitiveNames } from '../../core/headers.js';
import { findTooDeep, JSON_DEPTH_LIMIT } from '../../core/json-depth.js';
import { generateHmacSecret } from '../../core/signing.js';
import type { Delivery, Endpoint, EventType } from '../../core/types.js';
import type { BulkReplayFilter, EndpointPatch, NewEndpoint } from '../../store/store.js';
import { type EndpointTaskParams, endpointTaskData } from '../../tasks/endpoint-tasks.js';
import { traceIngest } from '../../tracing/tracing.js';
import {
  appOf,
  endpointOf,
  pageRequest,
  queryError,
  type RouteContext,
  requireEnabled,
  timeParam,
} from '../context.js';
import {
  AppParams,
  BulkReplayIn,
  EndpointHeadersIn,
  EndpointHeadersOut,
  EndpointHeadersPatchIn,
  EndpointIn,
  EndpointOut,
  EndpointParams,
  EndpointPatch as EndpointPatchSchema,
  EndpointSecretOut,
  EndpointSecretRotateIn,
  EndpointStats,
  EndpointUpdate,
  EventExampleIn,
  ListQuery,
  MessageOut,
  Page,
  RECOVER_MAX_DAYS,
  RecoverIn,
  RecoverOut,
  ReplayIn,
  ReplayOut,
} from '../schemas.js';
import { endpointOut, messageJson, sendJson, taskOut } from '../serialize.js';

/** Svix keeps a rotated-out secret valid for 24 hours unless told otherwise. */
const DEFAULT_GRACE_SECONDS = 86_400;

interface EndpointBody {
  url?: string;
  description?: string;
  uid?: string | null;
  filterTypes?: string[] | null;
  eventTypes?: string[] | null;
  channels?: string[] | null;
  disabled?: boolean;
  metadata?: Record<string, string>;
  throttleRate?: number | null;
  rateLimit?: number | null;
  /** Seconds. */
  retrySchedule?: number[] | null;
  /** Seconds. */
  timeout?: number | null;
  filter?: Record<string, unknown> | null;
}

/** Whether two lists (or nulls) hold the same names, in any order. */
function sameList(a: string[] | null, b: string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Svix's message status codes to delivery states: 0 success, 1 pending, 2 fail, 3 sending. */
const DELIVERY_STATUS_OF: Record<number, Delivery['status']> = {
  0: 'succeeded',
  1: 'pending',
  2: 'failed',
  3: 'sending',
};

/** API fields to store fields; absent fields stay absent. */
function endpointInput(body: EndpointBody): EndpointPatch {
  const out: EndpointPatch = {};
  if (body.url !== undefined) out.url = body.url;
  if (body.description !== undefined) out.description = body.description;
  if (body.uid !== undefined) out.uid = body.uid;
  if (body.filterTypes !== undefined) out.filterTypes = body.filterTypes;
  if (body.eventTypes !== undefined) {
    // The OpenAPI document's name for filterTypes (the SDKs send filterTypes).
    if (body.filterTypes !== undefined && !sameList(body.filterTypes, body.eventTypes))
      throw new ValidationError('eventTypes', 'differs from filterTypes; give one of them');
    out.filterTypes = body.eventTypes;
  }
  if (body.channels !== undefined) out.channels = body.channels;
  if (body.disabled !== undefined) out.disabled = body.disabled;
  if (body.metadata !== undefined) out.metadata = body.metadata;
  if (body.throttleRate !== undefined || body.rateLimit !== undefined)
    out.rateLimit = body.throttleRate ?? body.rateLimit ?? null;
  // Herald's own fields are in seconds, as the README's limits are; the store keeps ms.
  if (body.retrySchedule !== undefined) out.retrySchedule = body.retrySchedule?.map((s) => s * 1000) ?? null;
  if (body.timeout !== undefined) out.timeoutMs = body.timeout === null ? null : body.timeout * 1000;
  if (body.filter !== undefined) out.filter = body.filter;
  return out;
}

/** `/api/v1/app/{app_id}/endpoint`: endpoints, their secrets and headers. */
export const endpointRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, ctx) => {
  const { store } = ctx;
  const tags = ['Endpoint'];

  /**
   * Logs an endpoint's change between enabled and disabled. Re-enabling answers, in the
   * `herald-failed-deliveries` header, how many of its deliveries are failed (those the
   * disable failed among them): `POST …/recover` with `since` its `createdAt` sends all of
   * them again. EndpointOut stays as Svix has it.
   */
  const stateChange = async (
    request: FastifyRequest,
    reply: FastifyReply,
    before: Endpoint,
    after: Endpoint,
  ) => {
    if (before.disabled === after.disabled) return;
    const scope = { appId: after.appId, endpointId: after.id };
    if (after.disabled) {
      request.log.info(scope, 'endpoint disabled through the API; the deliveries waiting for it failed');
      return;
    }
    const { failed } = await store.countDeliveries(after.id);
    reply.header('herald-failed-deliveries', String(failed));
    request.log.info({ ...scope, failedDeliveries: failed }, 'endpoint enabled through the API');
  };

  app.get(
    '/app/:app_id/endpoint',
    { schema: { tags, params: AppParams, querystring: ListQuery, response: { 200: Page(EndpointOut) } } },
    async (request) => {
      const owner = await appOf(ctx, request, request.params.app_id);
      const page = await store.listEndpoints(owner.id, pageRequest(request.query));
      return { ...page, data: page.data.map(endpointOut) };
    },
  );

  app.post(
    '/app/:app_id/endpoint',
    { schema: { tags, params: AppParams, body: EndpointIn, response: { 201: EndpointOut } } },
    async (request, reply) => {
      const owner = await appOf(ctx, request, request.params.app_id);
      const input: NewEndpoint = { ...endpointInput(request.body), url: request.body.url };
      if (request.body.secret) input.secret = request.body.secret;
      if (request.body.headers) input.headers = request.body.headers;
      if (request.body.sensitiveHeaders) input.sensitiveHeaders = request.body.sensitiveHeaders;
      return reply.status(201).send(endpointOut(await store.createEndpoint(owner.id, input)));
    },
  );

  app.get(
    '/app/:app_id/endpoint/:endpoint_id',
    { schema: { tags, params: EndpointParams, response: { 200: EndpointOut } } },
    async (request) =>
      endpointOut(
        (await endpointOf(ctx, request, request.params.app_id, request.params.endpoint_id)).endpoint,
      ),
  );

  app.put(
    '/app/:app_id/endpoint/:endpoint_id',
    {
      schema: {
        tags,
        params: EndpointParams,
        body: EndpointUpdate,
        response: { 200: EndpointOut, 201: EndpointOut },
      },
    },
    async (request, reply) => {
      const owner = await appOf(ctx, request, request.params.app_id);
      const existing = await store.getEndpoint(owner.id, request.params.endpoint_id);
      if (!existing) {
        const created = await store.createEndpoint(owner.id, {
          ...endpointInput(request.body),
          url: request.body.url,
          uid: request.body.uid ?? request.params.endpoint_id,
        });
        return reply.status(201).send(endpointOut(created));
      }
      // PUT replaces: fields left out go back to their defaults (so it enables a disabled one).
      const replaced = await store.updateEndpoint(owner.id, existing.id, {
        description: '',
        uid: null,
        filterTypes: null,
        channels: null,
        disabled: false,
        metadata: {},
        rateLimit: null,
        retrySchedule: null,
        timeoutMs: null,
        ...endpointInput(request.body),
      });
      await stateChange(request, reply, existing, replaced);
      return endpointOut(replaced);
    },
  );

  app.patch(
    '/app/:app_id/endpoint/:endpoint_id',
    { schema: { tags, params: EndpointParams, body: EndpointPatchSchema, response: { 200: EndpointOut } } },
    async (request, reply) => {
      const { app: owner, endpoint } = await endpointOf(
        ctx,
        request,
        request.params.app_id,
        request.params.endpoint_id,
      );
      const updated = await store.updateEndpoint(owner.id, endpoint.id, endpointInput(request.body));
      await stateChange(request, reply, endpoint, updated);
      return endpointOut(updated);
    },
  );

  app.delete(
    '/app/:app_id/endpoint/:endpoint_id',
    { schema: { tags, params: EndpointParams } },
    async (request, reply) => {
      const { app: owner, endpoint } = await endpointOf(
        ctx,
        request,
        request.params.app_id,
        request.params.endpoint_id,
      );
      await store.deleteEndpoint(owner.id, endpoint.id);
      return reply.status(204).send();
    },
  );

  app.get(
    '/app/:app_id/endpoint/:endpoint_id/secret',
    { schema: { tags, params: EndpointParams, response: { 200: EndpointSecretOut } } },
    async (request) => {
      const { endpoint } = await endpointOf(ctx, request, request.params.app_id, request.params.endpoint_id);
      return { key: endpoint.secrets[0]!.key };
    },
  );

  app.post(
    '/app/:app_id/endpoint/:endpoint_id/secret/rotate',
    { schema: { tags, params: EndpointParams, body: Type.Optional(EndpointSecretRotateIn) } },
    async (request, reply) => {
      const { app: owner, endpoint } = await endpointOf(
        ctx,
        request,
        request.params.app_id,
        request.params.endpoint_id,
      );
      const key = request.body?.key ?? generateHmacSecret();
      const graceSeconds = request.body?.gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
      await store.rotateEndpointSecret(owner.id, endpoint.id, key, graceSeconds * 1000);
      return reply.status(204).send();
    },
  );

  app.get(
    '/app/:app_id/endpoint/:endpoint_id/headers',
    { schema: { tags, params: EndpointParams, response: { 200: EndpointHeadersOut } } },
    async (request) => {
      const { endpoint } = await endpointOf(ctx, request, request.params.app_id, request.params.endpoint_id);
      return headersOut(endpoint.headers, endpoint.sensitiveHeaders);
    },
  );

  app.put(
    '/app/:app_id/endpoint/:endpoint_id/headers',
    { schema: { tags, params: EndpointParams, body: EndpointHeadersIn } },
    async (request, reply) => {
      const { app: owner, endpoint } = await endpointOf(
        ctx,
        request,
        request.params.app_id,
        request.params.endpoint_id,
      );
      // Without `sensitive`, the marks of headers kept stay: a client that knows nothing of
      // them (a Svix SDK) does not unmark. With it, the marks are exactly those.
      const { headers, sensitive } = request.body;
      await store.updateEndpoint(owner.id, endpoint.id, {
        headers,
        ...(sensitive ? { sensitiveHeaders: checkSensitiveNames('sensitive', sensitive, headers) } : {}),
      });
      return reply.status(204).send();
    },
  );

  app.patch(
    '/app/:app_id/endpoint/:endpoint_id/headers',
    { schema: { tags, params: EndpointParams, body: EndpointHeadersPatchIn } },
    async (request, reply) => {
      const { app: owner, endpoint } = await endpointOf(
        ctx,
        request,
        request.params.app_id,
        request.params.endpoint_id,
      );
      const headers = { ...endpoint.headers };
      for (const [name, value] of Object.entries(request.body.headers)) {
        // A null value removes the header, whatever the case of its name.
        for (const existing of Object.keys(headers))
          if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
        if (value !== null) headers[name] = value;
      }
      // A PATCH only adds marks: unmarking a kept header would show a value nobody re-sent.
      const marks = request.body.sensitive && [
        ...keptSensitiveNames(endpoint.sensitiveHeaders, headers),
        ...checkSensitiveNames('sensitive', request.body.sensitive, headers),
      ];
      await store.updateEndpoint(owner.id, endpoint.id, {
        headers,
        ...(marks ? { sensitiveHeaders: marks } : {}),
      });
      return reply.status(204).send();
    },
  );

  app.get(
    '/app/:app_id/endpoint/:endpoint_id/stats',
    {
      schema: {
        tags,
        params: EndpointParams,
        querystring: Type.Object({
          since: Type.Optional(
            Type.String({ format: 'date-time', description: 'Only deliveries created at or after it' }),
          ),
          until: Type.Optional(
            Type.String({ format: 'date-time', description: 'Only deliveries created before it' }),
          ),
        }),
        response: { 200: EndpointStats },
      },
    },
    async (request) => {
      const { endpoint } = await endpointOf(ctx, request, request.params.app_id, request.params.endpoint_id);
      const since = timeParam('since', request.query.since);
      const until = timeParam('until', request.query.until);
      if (since !== undefined && until !== undefined && until < since)
        throw queryError('until', 'must not be before since');
      const window =
        since === undefined && until === undefined ? undefined : { since: since ?? 0, until: until ?? null };
      const c = await store.countDeliveries(endpoint.id, window);
      return { success: c.succeeded, pending: c.pending, sending: c.sending, fail: c.failed, canceled: 0 };
    },
  );

  /**
   * Starts an endpoint's background task and answers at once (202, `running`); the task
   * runner does the work in batches. Follow it with GET /api/v1/background-task/{id}.
   */
  const startTask = async (
    request: FastifyRequest,
    reply: FastifyReply,
    params: { app_id: string; endpoint_id: string },
    kind: string,
    what: string,
    taskParams: EndpointTaskParams,
    check: () => void = () => undefined,
  ) => {
    const { app: owner, endpoint } = await endpointOf(ctx, request, params.app_id, params.endpoint_id);
    requireEnabled(owner, endpoint, what);
    // The route's own check comes after tenancy (403/404) and the disabled endpoint (409), so a
    // caller learns those first, as for every endpoint route.
    check();
    const task = await ctx.tasks.submit({
      kind,
      appId: owner.id,
      endpointId: endpoint.id,
      params: taskParams,
      data: endpointTaskData(taskParams),
    });
    request.log.info({ appId: owner.id, endpointId: endpoint.id, taskId: task.id }, `${kind} started`);
    const { data: _data, ...out } = taskOut(task);
    return reply.status(202).send(out);
  };

  /** `since` and `until` of a task's body, in ms; `until` before `since` is refused. */
  const windowOf = (body: { since: string; until?: string | null }) => {
    const since = timeParam('since', body.since)!;
    const until = timeParam('until', body.until ?? undefined) ?? null;
    if (until !== null && until < since) throw new ValidationError('until', 'must not be before since');
    return { since, until };
  };

  app.post(
    '/app/:app_id/endpoint/:endpoint_id/recover',
    { schema: { tags, params: EndpointParams, body: RecoverIn, response: { 202: RecoverOut } } },
    async (request, reply) => {
      const window = windowOf(request.body);
      // Svix recovers at most 14 days back; so does Herald, by the same clock as the store's times.
      const oldest = ctx.clock.now() - RECOVER_MAX_DAYS * 86_400_000;
      return startTask(request, reply, request.params, 'endpoint.recover', 'a recover', window, () => {
        if (window.since < oldest)
          throw new ValidationError(
            'since',
            `must be at most ${RECOVER_MAX_DAYS} days ago (not before ${new Date(oldest).toISOString()})`,
          );
      });
    },
  );

  app.post(
    '/app/:app_id/endpoint/:endpoint_id/replay-missing',
    { schema: { tags, params: EndpointParams, body: ReplayIn, response: { 202: ReplayOut } } },
    async (request, reply) =>
      startTask(
        request,
        reply,
        request.params,
        'endpoint.replay',
        'a replay-missing',
        windowOf(request.body),
      ),
  );

  app.post(
    '/app/:app_id/endpoint/:endpoint_id/bulk-replay',
    { schema: { tags, params: EndpointParams, body: BulkReplayIn, response: { 202: ReplayOut } } },
    async (request, reply) => {
      const { eventTypes, channel, tag, status, statusCodeClass } = request.body;
      const filter: BulkReplayFilter = {
        ...windowOf(request.body),
        ...(eventTypes ? { eventTypes } : {}),
        ...(channel ? { channel } : {}),
        ...(tag ? { tag } : {}),
        ...(status !== undefined && status !== null ? { status: DELIVERY_STATUS_OF[status]! } : {}),
        ...(statusCodeClass !== undefined && statusCodeClass !== null ? { statusCodeClass } : {}),
      };
      return startTask(request, reply, request.params, 'endpoint.bulk-replay', 'a bulk-replay', {
        ...filter,
      });
    },
  );

  app.post(
    '/app/:app_id/endpoint/:endpoint_id/send-example',
    { schema: { tags, params: EndpointParams, body: EventExampleIn, response: { 200: MessageOut } } },
    async (request, reply) => {
      const { app: owner, endpoint } = await endpointOf(
        ctx,
        request,
        request.params.app_id,
        request.params.endpoint_id,
      );
      requireEnabled(owner, endpoint, 'an example');
      const eventType = await store.getEventType(request.body.eventType);
      if (!eventType) throw new NotFoundError(`event type ${request.body.eventType} not found`);
      const payload = exampleOf(eventType);
      // An ingest as a message created through POST …/msg is: its context is stored with it.
      const message = await traceIngest(
        request.headers,
        {
          'herald.app_id': owner.id,
          'herald.event_type': eventType.name,
          'herald.endpoint_id': endpoint.id,
          'herald.example': true,
        },
        async (traceContext) =>
          (
            await store.acceptMessage({
              appId: owner.id,
              eventType: eventType.name,
              payload,
              onlyEndpointId: endpoint.id,
              ...(traceContext !== null ? { traceContext } : {}),
            })
          ).message,
      );
      return sendJson(reply, messageJson(message));
    },
  );
};

/**
 * The example payload of an event type, as JSON text: the first `examples` entry of its
 * newest schema version, or `{"type": <name>}` when its schemas give none. An event type is
 * refused examples that are not objects; one stored before that (a string example went out
 * as `"abc"` and was shown as `{"0":"a",…}`) or nested too deeply is refused here (422).
 */
function exampleOf({ name, schemas }: EventType): string {
  const version = Object.keys(schemas ?? {})
    .sort()
    .at(-1);
  if (version === undefined) return JSON.stringify({ type: name });
  const examples = (schemas?.[version] as { examples?: unknown } | null | undefined)?.examples;
  const where = `the examples of event type ${name} (schemas.${version}.examples)`;
  if (examples === undefined || (Array.isArray(examples) && examples.length === 0))
    return JSON.stringify({ type: name });
  const first: unknown = Array.isArray(examples) ? examples[0] : undefined;
  if (first === null || typeof first !== 'object' || Array.isArray(first))
    throw new ValidationError('eventType', `${where} are not JSON objects; a message payload must be one`);
  const payload = JSON.stringify(first);
  if (findTooDeep(payload, JSON_DEPTH_LIMIT))
    throw new ValidationError('eventType', `${where} nest deeper than ${JSON_DEPTH_LIMIT} levels`);
  return payload;
}

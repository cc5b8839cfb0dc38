import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { checkSensitiveNames, headersOut, keptSensitiveNames } from '../../core/headers.js';
import { newId } from '../../core/ids.js';
import { findTooDeep, JSON_DEPTH_LIMIT } from '../../core/json-depth.js';
import { generateHmacSecret } from '../../core/signing.js';
import type { Endpoint, EventType } from '../../core/types.js';
import type { EndpointPatch, NewEndpoint } from '../../store/store.js';
import { appOf, endpointOf, pageRequest, type RouteContext, requireEnabled, timeParam } from '../context.js';
import {
  AppParams,
  BackgroundTaskOut,
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
  RecoverIn,
} from '../schemas.js';
import { endpointOut, messageJson, sendJson } from '../serialize.js';

/** Svix keeps a rotated-out secret valid for 24 hours unless told otherwise. */
const DEFAULT_GRACE_SECONDS = 86_400;

interface EndpointBody {
  url?: string;
  description?: string;
  uid?: string | null;
  filterTypes?: string[] | null;
  channels?: string[] | null;
  disabled?: boolean;
  metadata?: Record<string, string>;
  throttleRate?: number | null;
  rateLimit?: number | null;
  /** Seconds. */
  retrySchedule?: number[] | null;
  /** Seconds. */
  timeout?: number | null;
}

/** API fields to store fields; absent fields stay absent. */
function endpointInput(body: EndpointBody): EndpointPatch {
  const out: EndpointPatch = {};
  if (body.url !== undefined) out.url = body.url;
  if (body.description !== undefined) out.description = body.description;
  if (body.uid !== undefined) out.uid = body.uid;
  if (body.filterTypes !== undefined) out.filterTypes = body.filterTypes;
  if (body.channels !== undefined) out.channels = body.channels;
  if (body.disabled !== undefined) out.disabled = body.disabled;
  if (body.metadata !== undefined) out.metadata = body.metadata;
  if (body.throttleRate !== undefined || body.rateLimit !== undefined)
    out.rateLimit = body.throttleRate ?? body.rateLimit ?? null;
  // Herald's own fields are in seconds, as the README's limits are; the store keeps ms.
  if (body.retrySchedule !== undefined) out.retrySchedule = body.retrySchedule?.map((s) => s * 1000) ?? null;
  if (body.timeout !== undefined) out.timeoutMs = body.timeout === null ? null : body.timeout * 1000;
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
    { schema: { tags, params: EndpointParams, response: { 200: EndpointStats } } },
    async (request) => {
      const { endpoint } = await endpointOf(ctx, request, request.params.app_id, request.params.endpoint_id);
      const c = await store.countDeliveries(endpoint.id);
      return { success: c.succeeded, pending: c.pending, sending: c.sending, fail: c.failed, canceled: 0 };
    },
  );

  /** Both background tasks run to completion before answering; the task id is for reference. */
  const task = (kind: string) => ({
    id: `qtask_${newId('msg').slice(4)}`,
    status: 'finished' as const,
    task: kind,
    updatedAt: new Date().toISOString(),
  });

  // Both tasks take [since, until) and run to completion before answering.
  const backgroundTasks = [
    [
      'recover',
      'endpoint.recover',
      (id: string, since: number, until: number | null) => store.recover(id, since, until),
    ],
    [
      'replay-missing',
      'endpoint.replay',
      (id: string, since: number, until: number | null) => store.replayMissing(id, since, until),
    ],
  ] as const;
  for (const [path, kind, run] of backgroundTasks) {
    app.post(
      `/app/:app_id/endpoint/:endpoint_id/${path}`,
      { schema: { tags, params: EndpointParams, body: RecoverIn, response: { 202: BackgroundTaskOut } } },
      async (request, reply) => {
        const { app: owner, endpoint } = await endpointOf(
          ctx,
          request,
          request.params.app_id,
          request.params.endpoint_id,
        );
        requireEnabled(owner, endpoint, `a ${path}`);
        const since = timeParam('since', request.body.since)!;
        const until = timeParam('until', request.body.until ?? undefined) ?? null;
        const count = await run(endpoint.id, since, until);
        request.log.info({ appId: owner.id, endpointId: endpoint.id, count }, `${kind} done`);
        // Herald's: how many deliveries were made due again (recover) or created (replay-missing).
        return reply.status(202).header('herald-deliveries', String(count)).send(task(kind));
      },
    );
  }

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
      const { message } = await store.acceptMessage({
        appId: owner.id,
        eventType: eventType.name,
        payload: exampleOf(eventType),
        onlyEndpointId: endpoint.id,
      });
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

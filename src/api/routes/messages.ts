import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import Type, { type Static } from 'typebox';
import { NotFoundError, PayloadGoneError, ValidationError } from '../../core/errors.js';
import { matches } from '../../core/filter.js';
import type { Application, DeliveryStatus } from '../../core/types.js';
import type { SearchableDeliveryStatus } from '../../store/store.js';
import { traceIngest, traceRequest } from '../../tracing/tracing.js';
import { requireAdmin, requireApp } from '../auth.js';
import {
  appOf,
  endpointOf,
  eventTypesParam,
  flagParam,
  pageRequest,
  type RouteContext,
  requireEnabled,
  timeParam,
} from '../context.js';
import { PayloadTooLargeError, QueryError } from '../errors.js';
import {
  AppParams,
  AttemptByEndpointQuery,
  AttemptByMsgQuery,
  AttemptGetQuery,
  EndpointMessageOut,
  EndpointMessageQuery,
  EndpointParams,
  MessageAttemptOut,
  MessageEndpointOut,
  MessageIn,
  MessageOut,
  MessagePrecheckIn,
  MessagePrecheckOut,
  MessageQuery,
  MsgEndpointParams,
  MsgParams,
  Page,
  PageQuery,
} from '../schemas.js';
import {
  attemptJson,
  attemptOut,
  deliveryStatus,
  EMPTY_PAGE,
  endpointOut,
  messageJson,
  pageJson,
  sendJson,
} from '../serialize.js';

const WithContent = Type.Object({ with_content: Type.Optional(Type.String()) });

/** Hours of payload retention asked for: `payloadRetentionHours`, or `payloadRetentionPeriod` in days. */
function retentionHours(body: Static<typeof MessageIn>): number | null {
  const { payloadRetentionHours: hours, payloadRetentionPeriod: days } = body;
  if (hours != null && days != null) {
    throw new ValidationError(
      'payloadRetentionHours',
      'give payloadRetentionHours or payloadRetentionPeriod, not both',
    );
  }
  return hours ?? (days == null ? null : days * 24);
}

/** Svix's status codes as delivery states: 0 success, 1 pending, 2 fail, 3 sending. */
const STATUS_OF_CODE: readonly DeliveryStatus[] = ['succeeded', 'pending', 'failed', 'sending'];

/**
 * Herald's `status` of the message list: messages with a delivery in that state to any
 * endpoint. Only pending (1) and failed (2) have an index across endpoints; success (0) and
 * sending (3) are filtered per endpoint (`GET …/endpoint/{endpoint_id}/msg?status=`).
 */
function messageStatusParam(status: string | undefined): SearchableDeliveryStatus | undefined {
  if (status === undefined) return undefined;
  if (status === '1') return 'pending';
  if (status === '2') return 'failed';
  throw new QueryError(
    'status',
    "only 1 (pending) and 2 (failed) filter the messages of every endpoint; for 0 (success) or 3 (sending), list one endpoint's messages: GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/msg?status=",
  );
}

/** The filters a list's query shares with the message list: event types, channel, tag, time window. */
function messageFilter(q: {
  event_types?: string | string[];
  channel?: string;
  tag?: string;
  before?: string;
  after?: string;
}) {
  const eventTypes = eventTypesParam(q.event_types);
  const before = timeParam('before', q.before);
  const after = timeParam('after', q.after);
  return {
    ...(eventTypes ? { eventTypes } : {}),
    ...(q.channel !== undefined ? { channel: q.channel } : {}),
    ...(q.tag !== undefined ? { tag: q.tag } : {}),
    ...(before !== undefined ? { before } : {}),
    ...(after !== undefined ? { after } : {}),
  };
}

/** Messages, their deliveries and attempts. */
export const messageRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, ctx) => {
  const { store } = ctx;

  const mustGetMessage = async (owner: Application, idOrEventId: string) => {
    const message = await store.getMessage(owner.id, idOrEventId);
    if (!message) throw new NotFoundError(`message ${idOrEventId} not found`);
    return message;
  };

  app.post(
    '/app/:app_id/msg',
    {
      schema: {
        tags: ['Message'],
        params: AppParams,
        body: MessageIn,
        querystring: WithContent,
        response: { 202: MessageOut },
      },
    },
    async (request, reply) => {
      const { body } = request;
      const { principal } = request;
      // In the ingest's span when tracing is on; its context is stored with the message.
      const message = await traceIngest(
        request.headers,
        { 'herald.app_id': request.params.app_id, 'herald.event_type': body.eventType },
        async (traceContext) => {
          // Serialised once; these exact bytes are stored, signed and sent.
          const payload = JSON.stringify(body.payload);
          if (Buffer.byteLength(payload) > ctx.maxPayloadBytes) {
            throw new PayloadTooLargeError(`payload is larger than ${ctx.maxPayloadBytes} bytes`);
          }
          // The hot path needs no lookup here: with the admin token the store resolves the id or
          // uid as it commits (404 if unknown). An application token's path is resolved first and
          // checked against the token, whatever it names.
          let appId = request.params.app_id;
          if (body.application || principal.appId !== null) {
            let owner = await store.getApplication(appId);
            if (!owner && body.application) {
              // Svix creates the application inline when the path's id is unknown.
              requireAdmin(principal);
              owner = await store.createApplication({
                name: body.application.name,
                uid: body.application.uid ?? appId,
                metadata: body.application.metadata ?? {},
              });
            }
            if (owner) requireApp(principal, owner);
            else owner = await appOf(ctx, request, appId);
            appId = owner.id;
          }
          const payloadRetentionHours = retentionHours(body);
          const accepted = await store.acceptMessage({
            appId,
            eventType: body.eventType,
            eventId: body.eventId ?? null,
            ...(body.channels ? { channels: body.channels } : {}),
            ...(body.tags ? { tags: body.tags } : {}),
            // The schema checked the date-time format; the store checks how far ahead it is.
            ...(body.deliverAt ? { deliverAt: timeParam('deliverAt', body.deliverAt) } : {}),
            ...(payloadRetentionHours !== null ? { payloadRetentionHours } : {}),
            ...(traceContext !== null ? { traceContext } : {}),
            ...(body.transformationsParams ? { transformationsParams: body.transformationsParams } : {}),
            // Kept with the message for the operator's search (GET /api/v1/search).
            ...(request.idempotency ? { idempotencyKey: request.idempotency.key } : {}),
            payload,
          });
          return accepted.message;
        },
      );
      // The stored payload goes back as its exact bytes, as on every read of a message.
      return sendJson(
        reply as FastifyReply,
        messageJson(message, request.query.with_content !== 'false'),
        202,
      );
    },
  );

  app.get(
    '/app/:app_id/msg',
    {
      schema: {
        tags: ['Message'],
        params: AppParams,
        querystring: MessageQuery,
        response: { 200: Page(MessageOut) },
      },
    },
    async (request, reply) => {
      const owner = await appOf(ctx, request, request.params.app_id);
      const q = request.query;
      const deliveryStatus = messageStatusParam(q.status);
      const page = await store.listMessages(
        { appId: owner.id, ...messageFilter(q), ...(deliveryStatus ? { deliveryStatus } : {}) },
        pageRequest(q),
      );
      const withContent = flagParam(q.with_content, true);
      return sendJson(
        reply as FastifyReply,
        pageJson(
          page.data.map((m) => messageJson(m, withContent)),
          page,
        ),
      );
    },
  );

  app.get(
    '/app/:app_id/msg/:msg_id',
    {
      schema: {
        tags: ['Message'],
        params: MsgParams,
        querystring: WithContent,
        response: { 200: MessageOut },
      },
    },
    async (request, reply) => {
      const owner = await appOf(ctx, request, request.params.app_id);
      const message = await mustGetMessage(owner, request.params.msg_id);
      return sendJson(reply as FastifyReply, messageJson(message, request.query.with_content !== 'false'));
    },
  );

  const attemptList = async (
    reply: FastifyReply,
    owner: Application,
    q: Static<typeof AttemptByMsgQuery>,
    scope: { msgId: string; endpointId?: string } | { endpointId: string },
  ) => {
    const status = q.status === undefined ? undefined : Number(q.status);
    const withContent = flagParam(q.with_content, true);
    const page = pageRequest(q);
    const ofMessage = messageFilter(q);
    // Attempts are only ever a success or a failure; pending and sending match none.
    if (status === 1 || status === 3) return sendJson(reply, pageJson([], EMPTY_PAGE));
    const attempts = await store.listAttempts(
      {
        appId: owner.id,
        ...scope,
        ...ofMessage,
        ...(status !== undefined ? { succeeded: status === 0 } : {}),
        ...(q.status_code_class !== undefined ? { statusCodeClass: Number(q.status_code_class) } : {}),
      },
      page,
    );
    const messages = flagParam(q.with_msg, false)
      ? new Map(
          (await store.getMessages(owner.id, [...new Set(attempts.data.map((a) => a.msgId))])).map((m) => [
            m.id,
            m,
          ]),
        )
      : null;
    const items = attempts.data.map((a) => attemptJson(a, withContent, messages?.get(a.msgId)));
    return sendJson(reply, pageJson(items, attempts));
  };

  app.get(
    '/app/:app_id/attempt/endpoint/:endpoint_id',
    {
      schema: {
        tags: ['Message Attempt'],
        params: EndpointParams,
        querystring: AttemptByEndpointQuery,
        response: { 200: Page(MessageAttemptOut) },
      },
    },
    async (request, reply) => {
      const { app: owner, endpoint } = await endpointOf(
        ctx,
        request,
        request.params.app_id,
        request.params.endpoint_id,
      );
      return attemptList(reply as FastifyReply, owner, request.query, { endpointId: endpoint.id });
    },
  );

  app.get(
    '/app/:app_id/attempt/msg/:msg_id',
    {
      schema: {
        tags: ['Message Attempt'],
        params: MsgParams,
        querystring: AttemptByMsgQuery,
        response: { 200: Page(MessageAttemptOut) },
      },
    },
    async (request, reply) => {
      const owner = await appOf(ctx, request, request.params.app_id);
      const message = await mustGetMessage(owner, request.params.msg_id);
      const named = request.query.endpoint_id;
      // An endpoint by id or uid, as in a path; one of another application is not found.
      const endpoint = named === undefined ? null : await store.getEndpoint(owner.id, named);
      if (named !== undefined && !endpoint) throw new NotFoundError(`endpoint ${named} not found`);
      return attemptList(reply as FastifyReply, owner, request.query, {
        msgId: message.id,
        ...(endpoint ? { endpointId: endpoint.id } : {}),
      });
    },
  );

  app.get(
    '/app/:app_id/msg/:msg_id/attempt/:attempt_id',
    {
      schema: {
        tags: ['Message Attempt'],
        params: Type.Object({
          ...MsgParams.properties,
          attempt_id: Type.String({ minLength: 1, maxLength: 256 }),
        }),
        querystring: AttemptGetQuery,
        response: { 200: MessageAttemptOut },
      },
    },
    async (request) => {
      const owner = await appOf(ctx, request, request.params.app_id);
      const message = await mustGetMessage(owner, request.params.msg_id);
      const attempt = await store.getAttempt(owner.id, message.id, request.params.attempt_id);
      if (!attempt) throw new NotFoundError(`attempt ${request.params.attempt_id} not found`);
      return attemptOut(attempt);
    },
  );

  app.get(
    '/app/:app_id/msg/:msg_id/endpoint',
    {
      schema: {
        tags: ['Message Attempt'],
        params: MsgParams,
        querystring: PageQuery,
        response: { 200: Page(MessageEndpointOut) },
      },
    },
    async (request) => {
      const owner = await appOf(ctx, request, request.params.app_id);
      const message = await mustGetMessage(owner, request.params.msg_id);
      const page = await store.listMessageDestinations(message.id, pageRequest(request.query));
      const data = page.data.map(({ delivery, endpoint }) => ({
        ...endpointOut(endpoint),
        ...deliveryStatus(delivery),
      }));
      return { ...page, data };
    },
  );

  app.get(
    '/app/:app_id/endpoint/:endpoint_id/msg',
    {
      schema: {
        tags: ['Message Attempt'],
        params: EndpointParams,
        querystring: EndpointMessageQuery,
        response: { 200: Page(EndpointMessageOut) },
      },
    },
    async (request, reply) => {
      const { endpoint } = await endpointOf(ctx, request, request.params.app_id, request.params.endpoint_id);
      const q = request.query;
      const page = await store.listEndpointDeliveries(
        {
          endpointId: endpoint.id,
          ...messageFilter(q),
          ...(q.status !== undefined ? { status: STATUS_OF_CODE[Number(q.status)]! } : {}),
        },
        pageRequest(q),
      );
      const withContent = flagParam(q.with_content, true);
      return sendJson(
        reply as FastifyReply,
        pageJson(
          page.data.map(({ delivery, message }) => messageJson(message, withContent, delivery)),
          page,
        ),
      );
    },
  );

  app.post(
    '/app/:app_id/msg/:msg_id/endpoint/:endpoint_id/resend',
    {
      schema: {
        tags: ['Message Attempt'],
        params: MsgEndpointParams,
      },
    },
    async (request, reply) => {
      const { app: owner, endpoint } = await endpointOf(
        ctx,
        request,
        request.params.app_id,
        request.params.endpoint_id,
      );
      const message = await mustGetMessage(owner, request.params.msg_id);
      requireEnabled(owner, endpoint, 'a resend');
      if (message.payload === null) {
        throw new PayloadGoneError(
          `message ${message.id} cannot be resent: its payload is gone (expunged, or past its retention)`,
        );
      }
      // Any enabled endpoint of the application, even one the message never went to. The
      // attempt is a child of the message's ingest; this request's span links to that trace.
      await traceRequest(
        'herald.message.resend',
        request.headers,
        { 'herald.app_id': owner.id, 'herald.msg_id': message.id, 'herald.endpoint_id': endpoint.id },
        [message.traceContext],
        () => store.resend(message.id, endpoint.id),
      );
      return reply.status(202).send({});
    },
  );

  app.post(
    '/app/:app_id/msg/precheck/active',
    {
      schema: {
        tags: ['Message'],
        params: AppParams,
        body: MessagePrecheckIn,
        response: { 200: MessagePrecheckOut },
      },
    },
    async (request) => {
      const owner = await appOf(ctx, request, request.params.app_id);
      const { eventType } = request.body;
      const channels = request.body.channels ?? null;
      // An enabled endpoint that a message of this type and channels would be delivered to.
      let iterator: string | null = null;
      do {
        const page = await store.listEndpoints(owner.id, { limit: 250, iterator });
        if (page.data.some((e) => matches(e, eventType, channels))) return { active: true };
        iterator = page.done ? null : page.iterator;
      } while (iterator !== null);
      return { active: false };
    },
  );
};

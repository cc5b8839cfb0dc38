import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import type { InboundRequest, Source } from '../../core/types.js';
import { REJECTED_BODY_KEPT_BYTES } from '../../inbound/gateway.js';
import { replayInbound } from '../../inbound/replay.js';
import { SOURCE_PROVIDERS } from '../../store/normalise.js';
import { requireAdmin } from '../auth.js';
import { pageRequest, type RouteContext } from '../context.js';
import { refuseReservedAppId } from '../reserved.js';
import { ListQuery, MessageOut, Page } from '../schemas.js';
import { messageJson, sendJson } from '../serialize.js';

const SourceParams = Type.Object({ source_id: Type.String({ minLength: 1, maxLength: 256 }) });
const RequestParams = Type.Object({
  ...SourceParams.properties,
  request_id: Type.String({ minLength: 1, maxLength: 256 }),
});
const SourceIn = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  provider: Type.Union(SOURCE_PROVIDERS.map((p) => Type.Literal(p))),
  secrets: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 5 })),
  appId: Type.String({ minLength: 1, maxLength: 256 }),
  passthroughHeaders: Type.Optional(Type.Boolean()),
});
/**
 * What a PATCH may change. The id (so the ingest URL), provider and application stay; they
 * are named here only to be refused, rather than dropped without a word.
 */
const SourcePatchIn = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  secrets: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 5 })),
  passthroughHeaders: Type.Optional(Type.Boolean()),
  provider: Type.Optional(Type.Unknown()),
  appId: Type.Optional(Type.Unknown()),
});
const SourceOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  provider: Type.String(),
  appId: Type.String(),
  passthroughHeaders: Type.Boolean(),
  ingestUrl: Type.String(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
const InboundOut = Type.Object({
  id: Type.String(),
  status: Type.String({
    description: 'accepted, duplicate, rejected, or replayed (a row written by a replay of a request)',
  }),
  reason: Type.Union([Type.String(), Type.Null()], {
    description: 'why it was rejected; of a replayed row, the id of the request it replays',
  }),
  msgId: Type.Union([Type.String(), Type.Null()], {
    description: 'the message it became (accepted, replayed), or the earlier one (duplicate)',
  }),
  headers: Type.Record(Type.String(), Type.String()),
  body: Type.String({
    description: `the body as UTF-8 text; only its first ${REJECTED_BODY_KEPT_BYTES} bytes when bodyTruncated`,
  }),
  bodyTruncated: Type.Boolean({ description: 'true when body holds only the start (a rejected request)' }),
  bodySize: Type.Integer({ minimum: 0, description: 'size in bytes of the body as received' }),
  bodyExpunged: Type.Boolean({
    description:
      'true when retention expunged the body (--inbound-body-days): body is empty, the rest is kept',
  }),
  timestamp: Type.String(),
});
const ReplayOut = Type.Object({
  message: MessageOut,
  /** The `replayed` row this replay logged. */
  request: InboundOut,
});

/** A logged request as the API shows it. */
function inboundOut(r: InboundRequest) {
  return {
    id: r.id,
    status: r.status,
    reason: r.reason,
    msgId: r.msgId,
    headers: r.headers,
    body: r.body.toString('utf8'),
    bodyTruncated: r.bodyExpungedAt === null && r.body.length < r.bodySize,
    bodySize: r.bodySize,
    bodyExpunged: r.bodyExpungedAt !== null,
    timestamp: new Date(r.createdAt).toISOString(),
  };
}

/** `/api/v1/source`: inbound sources (admin only) and the requests they received. */
export const sourceRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, ctx) => {
  const { store } = ctx;
  const tags = ['Source'];
  const out = (s: Source) => ({
    id: s.id,
    name: s.name,
    provider: s.provider,
    appId: s.appId,
    passthroughHeaders: s.passthroughHeaders,
    ingestUrl: `${ctx.publicUrl()}/in/${s.id}`,
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
  });
  const mustGet = async (id: string) => {
    const source = await store.getSource(id);
    if (!source) throw new NotFoundError(`source ${id} not found`);
    return source;
  };

  app.addHook('onRequest', async (request) => requireAdmin(request.principal));

  app.post(
    '/source',
    { schema: { tags, body: SourceIn, response: { 201: SourceOut } } },
    async (request, reply) => {
      const { name, provider, secrets, appId, passthroughHeaders } = request.body;
      refuseReservedAppId(appId);
      const created = await store.createSource({
        name,
        provider,
        secrets: secrets ?? [],
        appId,
        passthroughHeaders: passthroughHeaders ?? false,
      });
      return reply.status(201).send(out(created));
    },
  );

  app.get(
    '/source',
    { schema: { tags, querystring: ListQuery, response: { 200: Page(SourceOut) } } },
    async (request) => {
      const page = await store.listSources(pageRequest(request.query));
      return { ...page, data: page.data.map(out) };
    },
  );

  app.get(
    '/source/:source_id',
    { schema: { tags, params: SourceParams, response: { 200: SourceOut } } },
    async (request) => out(await mustGet(request.params.source_id)),
  );

  // Rotating a provider's secret keeps the ingest URL the provider already calls.
  app.patch(
    '/source/:source_id',
    { schema: { tags, params: SourceParams, body: SourcePatchIn, response: { 200: SourceOut } } },
    async (request) => {
      const { name, secrets, passthroughHeaders } = request.body;
      for (const field of ['provider', 'appId'] as const) {
        if (request.body[field] !== undefined)
          throw new ValidationError(field, 'cannot be changed; create a new source instead');
      }
      return out(
        await store.updateSource(request.params.source_id, {
          ...(name !== undefined ? { name } : {}),
          ...(secrets !== undefined ? { secrets } : {}),
          ...(passthroughHeaders !== undefined ? { passthroughHeaders } : {}),
        }),
      );
    },
  );

  app.delete('/source/:source_id', { schema: { tags, params: SourceParams } }, async (request, reply) => {
    await store.deleteSource((await mustGet(request.params.source_id)).id);
    return reply.status(204).send();
  });

  app.get(
    '/source/:source_id/request',
    { schema: { tags, params: SourceParams, querystring: ListQuery, response: { 200: Page(InboundOut) } } },
    async (request) => {
      const source = await mustGet(request.params.source_id);
      const page = await store.listInbound(source.id, pageRequest(request.query));
      return { ...page, data: page.data.map(inboundOut) };
    },
  );

  // Forwards a request the log kept whole again, as a new message (Hookdeck's retry of a
  // request). Idempotency-Key is honoured as on any POST, so a client's retry of this call
  // does not replay twice.
  app.post(
    '/source/:source_id/request/:request_id/replay',
    {
      schema: {
        tags,
        summary: 'Replay a received request',
        description:
          'Forwards an accepted, duplicate or replayed request again as a new message of the ' +
          "source's application (no eventId, so the provider's deduplication does not stop it), " +
          'and logs a replayed row whose reason is the id replayed. 409 for a rejected request.',
        params: RequestParams,
        response: { 202: ReplayOut },
      },
    },
    async (request, reply) => {
      const { message, request: row } = await replayInbound(
        store,
        request.params.source_id,
        request.params.request_id,
        request.headers,
      );
      // The payload goes back as its stored bytes, as on every read of a message.
      const text = `{"message":${messageJson(message)},"request":${JSON.stringify(inboundOut(row))}}`;
      return sendJson(reply as FastifyReply, text, 202);
    },
  );
};

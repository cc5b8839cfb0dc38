/**
 * `/api/v1/operational-webhook/endpoint`: the operator's endpoints for operational events
 * (core/operational.ts), exactly as the svix SDK's `operationalWebhookEndpoint` calls them.
 * They are endpoints of the reserved application, so the engine delivers to them as to any
 * other; these routes are their only door, admin token only.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { NotFoundError } from '../../core/errors.js';
import { checkSensitiveNames, headersOut, keptSensitiveNames } from '../../core/headers.js';
import { OPERATIONAL_APP_ID } from '../../core/operational.js';
import { generateHmacSecret } from '../../core/signing.js';
import type { Endpoint } from '../../core/types.js';
import type { EndpointPatch, NewEndpoint } from '../../store/store.js';
import { requireAdmin } from '../auth.js';
import { pageRequest, type RouteContext } from '../context.js';
import {
  EndpointHeadersIn,
  EndpointHeadersOut,
  EndpointHeadersPatchIn,
  EndpointSecretOut,
  EndpointSecretRotateIn,
  ListQuery,
  OperationalEndpointIn,
  OperationalEndpointOut,
  OperationalEndpointParams,
  OperationalEndpointUpdate,
  Page,
} from '../schemas.js';

/** Svix keeps a rotated-out secret valid for 24 hours unless told otherwise. */
const DEFAULT_GRACE_SECONDS = 86_400;

interface OperationalBody {
  url: string;
  description?: string;
  uid?: string | null;
  filterTypes?: string[] | null;
  disabled?: boolean;
  metadata?: Record<string, string>;
  throttleRate?: number | null;
  rateLimit?: number | null;
}

/** An operational endpoint in Svix's `OperationalWebhookEndpointOut` shape, and Herald's disable fields. */
export function operationalEndpointOut(e: Endpoint) {
  return {
    id: e.id,
    uid: e.uid,
    url: e.url,
    description: e.description,
    filterTypes: e.filterTypes,
    disabled: e.disabled,
    metadata: e.metadata,
    throttleRate: e.rateLimit,
    rateLimit: e.rateLimit,
    disabledReason: e.disabledReason,
    disabledAt: e.disabledAt === null ? null : new Date(e.disabledAt).toISOString(),
    createdAt: new Date(e.createdAt).toISOString(),
    updatedAt: new Date(e.updatedAt).toISOString(),
  };
}

/** The API's fields as the store's; `filterTypes` `[]` is every event, as null is. */
function input(body: OperationalBody): EndpointPatch {
  return {
    url: body.url,
    description: body.description ?? '',
    uid: body.uid ?? null,
    filterTypes: body.filterTypes && body.filterTypes.length > 0 ? body.filterTypes : null,
    disabled: body.disabled ?? false,
    metadata: body.metadata ?? {},
    rateLimit: body.throttleRate ?? body.rateLimit ?? null,
  };
}

/** See the module comment. */
export const operationalWebhookRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { store }) => {
  const tags = ['Operational Webhook Endpoint'];
  app.addHook('onRequest', async (request) => requireAdmin(request.principal));

  const mustGet = async (idOrUid: string): Promise<Endpoint> => {
    const endpoint = await store.getEndpoint(OPERATIONAL_APP_ID, idOrUid);
    if (!endpoint) throw new NotFoundError(`operational webhook endpoint ${idOrUid} not found`);
    return endpoint;
  };

  app.get(
    '/operational-webhook/endpoint',
    { schema: { tags, querystring: ListQuery, response: { 200: Page(OperationalEndpointOut) } } },
    async (request) => {
      const page = await store.listEndpoints(OPERATIONAL_APP_ID, pageRequest(request.query));
      return { ...page, data: page.data.map(operationalEndpointOut) };
    },
  );

  app.post(
    '/operational-webhook/endpoint',
    { schema: { tags, body: OperationalEndpointIn, response: { 201: OperationalEndpointOut } } },
    async (request, reply) => {
      const created: NewEndpoint = { ...input(request.body), url: request.body.url };
      if (request.body.secret) created.secret = request.body.secret;
      const endpoint = await store.createEndpoint(OPERATIONAL_APP_ID, created);
      request.log.info({ endpointId: endpoint.id }, 'operational webhook endpoint created');
      return reply.status(201).send(operationalEndpointOut(endpoint));
    },
  );

  app.get(
    '/operational-webhook/endpoint/:endpoint_id',
    { schema: { tags, params: OperationalEndpointParams, response: { 200: OperationalEndpointOut } } },
    async (request) => operationalEndpointOut(await mustGet(request.params.endpoint_id)),
  );

  app.put(
    '/operational-webhook/endpoint/:endpoint_id',
    {
      schema: {
        tags,
        params: OperationalEndpointParams,
        body: OperationalEndpointUpdate,
        response: { 200: OperationalEndpointOut },
      },
    },
    async (request) => {
      const existing = await mustGet(request.params.endpoint_id);
      // PUT replaces: fields left out go back to their defaults (so it enables a disabled one).
      const updated = await store.updateEndpoint(OPERATIONAL_APP_ID, existing.id, input(request.body));
      return operationalEndpointOut(updated);
    },
  );

  app.delete(
    '/operational-webhook/endpoint/:endpoint_id',
    { schema: { tags, params: OperationalEndpointParams } },
    async (request, reply) => {
      const existing = await mustGet(request.params.endpoint_id);
      await store.deleteEndpoint(OPERATIONAL_APP_ID, existing.id);
      return reply.status(204).send();
    },
  );

  app.get(
    '/operational-webhook/endpoint/:endpoint_id/secret',
    { schema: { tags, params: OperationalEndpointParams, response: { 200: EndpointSecretOut } } },
    async (request) => ({ key: (await mustGet(request.params.endpoint_id)).secrets[0]!.key }),
  );

  app.post(
    '/operational-webhook/endpoint/:endpoint_id/secret/rotate',
    { schema: { tags, params: OperationalEndpointParams, body: Type.Optional(EndpointSecretRotateIn) } },
    async (request, reply) => {
      const existing = await mustGet(request.params.endpoint_id);
      const key = request.body?.key ?? generateHmacSecret();
      const graceSeconds = request.body?.gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
      await store.rotateEndpointSecret(OPERATIONAL_APP_ID, existing.id, key, graceSeconds * 1000);
      return reply.status(204).send();
    },
  );

  app.get(
    '/operational-webhook/endpoint/:endpoint_id/headers',
    { schema: { tags, params: OperationalEndpointParams, response: { 200: EndpointHeadersOut } } },
    async (request) => {
      const endpoint = await mustGet(request.params.endpoint_id);
      return headersOut(endpoint.headers, endpoint.sensitiveHeaders);
    },
  );

  app.put(
    '/operational-webhook/endpoint/:endpoint_id/headers',
    { schema: { tags, params: OperationalEndpointParams, body: EndpointHeadersIn } },
    async (request, reply) => {
      const endpoint = await mustGet(request.params.endpoint_id);
      const { headers, sensitive } = request.body;
      await store.updateEndpoint(OPERATIONAL_APP_ID, endpoint.id, {
        headers,
        ...(sensitive ? { sensitiveHeaders: checkSensitiveNames('sensitive', sensitive, headers) } : {}),
      });
      return reply.status(204).send();
    },
  );

  app.patch(
    '/operational-webhook/endpoint/:endpoint_id/headers',
    { schema: { tags, params: OperationalEndpointParams, body: EndpointHeadersPatchIn } },
    async (request, reply) => {
      const endpoint = await mustGet(request.params.endpoint_id);
      const headers = { ...endpoint.headers };
      for (const [name, value] of Object.entries(request.body.headers)) {
        // A null value removes the header, whatever the case of its name.
        for (const existing of Object.keys(headers))
          if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
        if (value !== null) headers[name] = value;
      }
      const marks = request.body.sensitive && [
        ...keptSensitiveNames(endpoint.sensitiveHeaders, headers),
        ...checkSensitiveNames('sensitive', request.body.sensitive, headers),
      ];
      await store.updateEndpoint(OPERATIONAL_APP_ID, endpoint.id, {
        headers,
        ...(marks ? { sensitiveHeaders: marks } : {}),
      });
      return reply.status(204).send();
    },
  );
};

/**
 * `GET /api/v1/search?q=` (a Herald extension): the operator's one search box across every
 * application. Whatever is pasted is looked up as an application id or uid, a message id,
 * eventId or the Idempotency-Key it was created with, and an endpoint id or URL (exact, or a
 * prefix such as `https://host/`; without a scheme, under `https://` and `http://` too). Each
 * lookup is one index search, however many messages there are. Admin token only.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import { isOperationalApp } from '../../core/operational.js';
import type { Endpoint } from '../../core/types.js';
import { requireAdmin } from '../auth.js';
import type { RouteContext } from '../context.js';
import { QueryError } from '../errors.js';
import { ApplicationOut, EndpointOut, MessageOut } from '../schemas.js';
import { applicationOut, endpointOut, messageJson, sendJson } from '../serialize.js';

/** Matches of each kind answered, unless `limit` says otherwise. */
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

const SearchQuery = Type.Object(
  {
    q: Type.String({
      minLength: 1,
      maxLength: 4096,
      description:
        'an application id or uid, a message id, eventId or idempotency key, an endpoint id, URL or URL prefix',
    }),
    limit: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,3}$',
        description: `at most this many messages by eventId, by idempotency key, and endpoints by URL: 1 to ${MAX_LIMIT}, default ${DEFAULT_LIMIT}`,
      }),
    ),
  },
  { additionalProperties: false },
);

const AppRef = Type.Object({
  id: Type.String(),
  uid: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
});

const SearchOut = Type.Object(
  {
    applications: Type.Array(
      Type.Object({
        matched: Type.Union([Type.Literal('id'), Type.Literal('uid')]),
        application: ApplicationOut,
      }),
    ),
    messages: Type.Array(
      Type.Object({
        matched: Type.Union([Type.Literal('id'), Type.Literal('eventId'), Type.Literal('idempotencyKey')]),
        app: AppRef,
        message: MessageOut,
      }),
      { description: 'without their payloads ({}); by id, then eventId, then idempotency key' },
    ),
    endpoints: Type.Array(
      Type.Object({
        matched: Type.Union([Type.Literal('id'), Type.Literal('url'), Type.Literal('urlPrefix')]),
        app: AppRef,
        endpoint: EndpointOut,
      }),
      { description: 'by URL' },
    ),
    done: Type.Boolean({ description: 'false when a kind reached `limit`: there may be more of it' }),
  },
  { $id: 'SearchOut' },
);

/** The URL prefixes `q` stands for: itself, and under both schemes when it has none. */
function urlPrefixes(q: string): string[] {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(q) ? [q] : [q, `https://${q}`, `http://${q}`];
}

/** The search route; see the module comment. */
export const searchRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { store }) => {
  app.get(
    '/search',
    {
      schema: {
        tags: ['Search'],
        summary: 'Search every application by id, eventId, idempotency key or endpoint URL (the dashboard)',
        description:
          'One query across every application: an application by id or uid; messages by id, eventId or the Idempotency-Key they were created with; endpoints by id, exact URL or URL prefix (without a scheme, under https:// and http:// too). Each lookup is one index search. Admin token only.',
        querystring: SearchQuery,
        response: { 200: SearchOut },
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      const q = request.query.q;
      const limit = request.query.limit === undefined ? DEFAULT_LIMIT : Number(request.query.limit);
      if (limit < 1 || limit > MAX_LIMIT) throw new QueryError('limit', `must be from 1 to ${MAX_LIMIT}`);

      // The lookups at once: on PostgreSQL each is a round trip, on a connection of the pool.
      // One more than `limit` of each kind is asked for, to tell whether there are more.
      const prefixes = urlPrefixes(q);
      const [application, found, byId, ...byUrls] = await Promise.all([
        store.getApplication(q),
        store.findMessages(q, limit + 1),
        store.findEndpoint(q),
        ...prefixes.map((prefix) => store.findEndpointsByUrl(prefix, limit + 1)),
      ]);
      let done = true;
      const messages = (['id', 'eventId', 'idempotencyKey'] as const).flatMap((kind) => {
        const all = found.filter((m) => m.matched === kind && !isOperationalApp(m.message.appId));
        if (all.length > limit) done = false;
        return all.slice(0, limit);
      });
      const endpoints = new Map<string, { matched: 'id' | 'url' | 'urlPrefix'; endpoint: Endpoint }>();
      const add = (matched: 'id' | 'url' | 'urlPrefix', e: Endpoint) => {
        if (!endpoints.has(e.id) && !isOperationalApp(e.appId)) endpoints.set(e.id, { matched, endpoint: e });
      };
      if (byId) add('id', byId);
      byUrls.forEach((byUrl, i) => {
        if (byUrl.length > limit) done = false;
        for (const e of byUrl.slice(0, limit)) add(e.url === prefixes[i] ? 'url' : 'urlPrefix', e);
      });

      // The application of each match, for the operator to see whose it is.
      const appIds = [
        ...new Set([
          ...messages.map((m) => m.message.appId),
          ...[...endpoints.values()].map((e) => e.endpoint.appId),
        ]),
      ];
      const apps = new Map(
        (await Promise.all(appIds.map((id) => store.getApplication(id)))).map((a, i) => [appIds[i]!, a]),
      );
      const ref = (id: string) => {
        const a = apps.get(id);
        return JSON.stringify(a ? { id: a.id, uid: a.uid, name: a.name } : { id, uid: null, name: id });
      };

      const str = JSON.stringify;
      const applications =
        application && !isOperationalApp(application.id)
          ? [str({ matched: application.id === q ? 'id' : 'uid', application: applicationOut(application) })]
          : [];
      const messageItems = messages.map(
        (m) =>
          `{"matched":${str(m.matched)},"app":${ref(m.message.appId)},"message":${messageJson(m.message, false)}}`,
      );
      const endpointItems = [...endpoints.values()].map(
        (e) =>
          `{"matched":${str(e.matched)},"app":${ref(e.endpoint.appId)},"endpoint":${str(endpointOut(e.endpoint))}}`,
      );
      return sendJson(
        reply as FastifyReply,
        `{"applications":[${applications.join(',')}],"messages":[${messageItems.join(',')}],"endpoints":[${endpointItems.join(',')}],"done":${done}}`,
      );
    },
  );
};

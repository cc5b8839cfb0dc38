import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { NotFoundError } from '../../core/errors.js';
import { requireAdmin } from '../auth.js';
import { flagParam, pageRequest, type RouteContext } from '../context.js';
import {
  EventTypeIn,
  EventTypeListQuery,
  EventTypeOut,
  EventTypePatch,
  EventTypeUpdate,
  Page,
} from '../schemas.js';
import { eventTypeOut } from '../serialize.js';

const NameParams = Type.Object({ event_type_name: Type.String({ minLength: 1, maxLength: 256 }) });

/** `/api/v1/event-type`: event types. Application tokens may read them. */
export const eventTypeRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { store }) => {
  const mustGet = async (name: string) => {
    const found = await store.getEventType(name);
    if (!found) throw new NotFoundError(`event type ${name} not found`);
    return found;
  };

  app.get(
    '/event-type',
    {
      schema: {
        tags: ['Event Type'],
        querystring: EventTypeListQuery,
        response: { 200: Page(EventTypeOut) },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await store.listEventTypes(pageRequest(q), {
        includeArchived: flagParam(q.include_archived, false),
      });
      const withContent = flagParam(q.with_content, false);
      return { ...page, data: page.data.map((e) => eventTypeOut(e, withContent)) };
    },
  );

  app.post(
    '/event-type',
    { schema: { tags: ['Event Type'], body: EventTypeIn, response: { 201: EventTypeOut } } },
    async (request, reply) => {
      requireAdmin(request.principal);
      const { name, description, archived, schemas } = request.body;
      const created = await store.upsertEventType({
        name,
        description,
        archived: archived ?? false,
        schemas: schemas ?? null,
      });
      return reply.status(201).send(eventTypeOut(created));
    },
  );

  app.get(
    '/event-type/:event_type_name',
    { schema: { tags: ['Event Type'], params: NameParams, response: { 200: EventTypeOut } } },
    async (request) => eventTypeOut(await mustGet(request.params.event_type_name)),
  );

  app.put(
    '/event-type/:event_type_name',
    {
      schema: {
        tags: ['Event Type'],
        params: NameParams,
        body: EventTypeUpdate,
        response: { 200: EventTypeOut, 201: EventTypeOut },
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      const existed = await store.getEventType(request.params.event_type_name);
      const { description, archived, schemas } = request.body;
      const saved = await store.upsertEventType({
        name: request.params.event_type_name,
        description,
        archived: archived ?? false,
        schemas: schemas ?? null,
      });
      return reply.status(existed ? 200 : 201).send(eventTypeOut(saved));
    },
  );

  app.patch(
    '/event-type/:event_type_name',
    {
      schema: {
        tags: ['Event Type'],
        params: NameParams,
        body: EventTypePatch,
        response: { 200: EventTypeOut },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const current = await mustGet(request.params.event_type_name);
      const { description, archived, schemas } = request.body;
      return eventTypeOut(
        await store.upsertEventType({
          name: current.name,
          description: description ?? current.description,
          archived: archived ?? current.archived,
          schemas: schemas === undefined ? current.schemas : schemas,
        }),
      );
    },
  );

  app.delete(
    '/event-type/:event_type_name',
    {
      schema: {
        tags: ['Event Type'],
        params: NameParams,
        querystring: Type.Object({ expunge: Type.Optional(Type.String()) }),
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      const current = await mustGet(request.params.event_type_name);
      // Svix archives by default and deletes with ?expunge=true.
      if (request.query.expunge === 'true') await store.deleteEventType(current.name);
      else await store.upsertEventType({ ...current, archived: true });
      return reply.status(204).send();
    },
  );
};

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { NotFoundError, ValidationError } from '../../core/errors.js';
import { checkEventTypeSchemas } from '../../core/event-schemas.js';
import { eventTypesFromOpenApi, type ImportedEventType, parseSpecRaw } from '../../core/openapi-import.js';
import { checkEventTypeName } from '../../core/rules.js';
import type { EventType } from '../../core/types.js';
import { requireAdmin } from '../auth.js';
import { flagParam, pageRequest, type RouteContext } from '../context.js';
import {
  EventTypeImportOpenApiIn,
  EventTypeImportOpenApiOut,
  EventTypeIn,
  EventTypeListQuery,
  EventTypeOut,
  EventTypePatch,
  EventTypeUpdate,
  Page,
} from '../schemas.js';
import { eventTypeOut } from '../serialize.js';

const NameParams = Type.Object({ event_type_name: Type.String({ minLength: 1, maxLength: 256 }) });

/**
 * Whether the caller sees an event type: an application token carries no feature flags, so an
 * event type behind one is hidden from it (as from a Svix portal token without the flag).
 */
const visible = (request: FastifyRequest, e: EventType) =>
  request.principal.appId === null || e.featureFlag === null;

/** Whether importing `next` would change the stored `current` (or create it). */
function changes(current: EventType | undefined, next: ImportedEventType): boolean {
  if (!current || current.archived) return true;
  return (
    current.description !== next.description ||
    current.deprecated !== next.deprecated ||
    current.featureFlag !== next.featureFlag ||
    JSON.stringify(current.schemas) !== JSON.stringify(next.schemas)
  );
}

/** `/api/v1/event-type`: event types. Application tokens may read them. */
export const eventTypeRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { store }) => {
  const mustGet = async (request: FastifyRequest, name: string) => {
    const found = await store.getEventType(name);
    if (!found || !visible(request, found)) throw new NotFoundError(`event type ${name} not found`);
    return found;
  };

  /** Every stored event type, archived ones included, page by page. */
  const allEventTypes = async () => {
    const all: EventType[] = [];
    let iterator: string | null = null;
    for (;;) {
      const page = await store.listEventTypes({ limit: 250, iterator });
      all.push(...page.data);
      if (page.done) return all;
      iterator = page.iterator;
    }
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
      // An application token does not see feature-flagged types (see `visible`): its pages
      // can come back short of the limit when some are flagged; `done` stays exact.
      const data = page.data.filter((e) => visible(request, e)).map((e) => eventTypeOut(e, withContent));
      return { ...page, data };
    },
  );

  app.post(
    '/event-type',
    { schema: { tags: ['Event Type'], body: EventTypeIn, response: { 201: EventTypeOut } } },
    async (request, reply) => {
      requireAdmin(request.principal);
      const { name, description, archived, deprecated, featureFlag, schemas } = request.body;
      checkEventTypeName('name', name);
      checkEventTypeSchemas('schemas', schemas);
      // A live name is a 409; an archived one is revived with these fields (Svix's create).
      const created = await store.createEventType({
        name,
        description,
        archived: archived ?? false,
        deprecated: deprecated ?? false,
        featureFlag: featureFlag ?? null,
        schemas: schemas ?? null,
      });
      return reply.status(201).send(eventTypeOut(created));
    },
  );

  app.post(
    '/event-type/import/openapi',
    {
      schema: {
        tags: ['Event Type'],
        body: EventTypeImportOpenApiIn,
        response: { 200: EventTypeImportOpenApiOut },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const { spec, specRaw, replaceAll, dryRun } = request.body;
      const given = [spec, specRaw].filter((v) => v !== undefined && v !== null);
      if (given.length !== 1)
        throw new ValidationError(given.length ? 'specRaw' : 'spec', 'give exactly one of spec and specRaw');
      const imported =
        typeof specRaw === 'string'
          ? eventTypesFromOpenApi(parseSpecRaw(specRaw), 'specRaw')
          : eventTypesFromOpenApi(spec, 'spec');
      const stored = new Map((await allEventTypes()).map((e) => [e.name, e]));
      const toModify = imported.filter((e) => changes(stored.get(e.name), e));
      const named = new Set(imported.map((e) => e.name));
      const toArchive = replaceAll
        ? [...stored.values()].filter((e) => !e.archived && !named.has(e.name))
        : [];
      const modified = [...toModify.map((e) => e.name), ...toArchive.map((e) => e.name)];
      if (dryRun) return { data: { modified, to_modify: toModify } };
      for (const e of toModify) await store.upsertEventType({ ...e, archived: false });
      for (const e of toArchive) await store.upsertEventType({ ...e, archived: true });
      return { data: { modified, to_modify: null } };
    },
  );

  app.get(
    '/event-type/:event_type_name',
    { schema: { tags: ['Event Type'], params: NameParams, response: { 200: EventTypeOut } } },
    async (request) => eventTypeOut(await mustGet(request, request.params.event_type_name)),
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
      if (!existed) checkEventTypeName('event_type_name', request.params.event_type_name);
      const { description, archived, deprecated, featureFlag, schemas } = request.body;
      checkEventTypeSchemas('schemas', schemas);
      const saved = await store.upsertEventType({
        name: request.params.event_type_name,
        description,
        archived: archived ?? false,
        deprecated: deprecated ?? false,
        featureFlag: featureFlag ?? null,
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
      const current = await mustGet(request, request.params.event_type_name);
      const { description, archived, deprecated, featureFlag, schemas } = request.body;
      checkEventTypeSchemas('schemas', schemas);
      return eventTypeOut(
        await store.upsertEventType({
          name: current.name,
          description: description ?? current.description,
          archived: archived ?? current.archived,
          deprecated: deprecated ?? current.deprecated,
          featureFlag: featureFlag === undefined ? current.featureFlag : featureFlag,
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
      const current = await mustGet(request, request.params.event_type_name);
      // Svix archives by default and deletes with ?expunge=true.
      if (request.query.expunge === 'true') await store.deleteEventType(current.name);
      else await store.upsertEventType({ ...current, archived: true });
      return reply.status(204).send();
    },
  );
};

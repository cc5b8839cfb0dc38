import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { requireAdmin } from '../auth.js';
import { appOf, pageLimit, type RouteContext } from '../context.js';
import { ApplicationIn, ApplicationOut, ApplicationPatch, AppParams, ListQuery, Page } from '../schemas.js';
import { applicationOut } from '../serialize.js';

/** `/api/v1/app`: applications. */
export const applicationRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, ctx) => {
  const { store } = ctx;
  const input = (body: {
    name?: string;
    uid?: string | null;
    throttleRate?: number | null;
    rateLimit?: number | null;
    metadata?: Record<string, string>;
  }) => ({
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.uid !== undefined ? { uid: body.uid } : {}),
    ...(body.throttleRate !== undefined || body.rateLimit !== undefined
      ? { rateLimit: body.throttleRate ?? body.rateLimit ?? null }
      : {}),
    ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
  });

  app.get(
    '/app',
    { schema: { tags: ['Application'], querystring: ListQuery, response: { 200: Page(ApplicationOut) } } },
    async (request) => {
      requireAdmin(request.principal);
      const page = await store.listApplications({
        limit: pageLimit(request.query.limit),
        iterator: request.query.iterator ?? null,
      });
      return { ...page, data: page.data.map(applicationOut), prevIterator: null };
    },
  );

  app.post(
    '/app',
    {
      schema: {
        tags: ['Application'],
        body: ApplicationIn,
        querystring: Type.Object({ get_if_exists: Type.Optional(Type.String()) }),
        response: { 200: ApplicationOut, 201: ApplicationOut },
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      const { uid } = request.body;
      if (request.query.get_if_exists === 'true' && uid) {
        const existing = await store.getApplication(uid);
        if (existing) return reply.status(200).send(applicationOut(existing));
      }
      const created = await store.createApplication({ name: request.body.name, ...input(request.body) });
      return reply.status(201).send(applicationOut(created));
    },
  );

  app.get(
    '/app/:app_id',
    { schema: { tags: ['Application'], params: AppParams, response: { 200: ApplicationOut } } },
    async (request) => applicationOut(await appOf(ctx, request, request.params.app_id)),
  );

  app.put(
    '/app/:app_id',
    {
      schema: {
        tags: ['Application'],
        params: AppParams,
        body: ApplicationIn,
        response: { 200: ApplicationOut, 201: ApplicationOut },
      },
    },
    async (request, reply) => {
      const existing = await store.getApplication(request.params.app_id);
      if (!existing) {
        requireAdmin(request.principal);
        // Upsert: the path names the new application's uid.
        const created = await store.createApplication({
          uid: request.params.app_id,
          ...input(request.body),
          name: request.body.name,
        });
        return reply.status(201).send(applicationOut(created));
      }
      await appOf(ctx, request, existing.id);
      const body = request.body;
      const updated = await store.updateApplication(existing.id, {
        name: body.name,
        uid: body.uid ?? null,
        rateLimit: body.throttleRate ?? body.rateLimit ?? null,
        metadata: body.metadata ?? {},
      });
      return applicationOut(updated);
    },
  );

  app.patch(
    '/app/:app_id',
    {
      schema: {
        tags: ['Application'],
        params: AppParams,
        body: ApplicationPatch,
        response: { 200: ApplicationOut },
      },
    },
    async (request) => {
      const existing = await appOf(ctx, request, request.params.app_id);
      return applicationOut(await store.updateApplication(existing.id, input(request.body)));
    },
  );

  app.delete(
    '/app/:app_id',
    { schema: { tags: ['Application'], params: AppParams } },
    async (request, reply) => {
      const existing = await appOf(ctx, request, request.params.app_id);
      await store.deleteApplication(existing.id);
      return reply.status(204).send();
    },
  );
};

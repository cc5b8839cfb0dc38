import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { NotFoundError } from '../../core/errors.js';
import { checkUid, isIdShaped } from '../../core/rules.js';
import type { Application } from '../../core/types.js';
import { type Principal, requireAdmin } from '../auth.js';
import { appOf, pageRequest, type RouteContext } from '../context.js';
import { ForbiddenError } from '../errors.js';
import {
  ApplicationIn,
  ApplicationListQuery,
  ApplicationOut,
  ApplicationPatch,
  AppParams,
  Page,
} from '../schemas.js';
import { applicationOut } from '../serialize.js';

/**
 * An application token may not rename its application: a uid it chose could be one the
 * operator names later (and the operator's `getOrCreate` would land in the attacker's
 * application). Only the admin sets or changes uids.
 */
function keepUid(principal: Principal, existing: Application, uid: string | null | undefined): void {
  if (principal.appId === null || uid === undefined || uid === existing.uid) return;
  throw new ForbiddenError("an application token cannot change its application's uid");
}

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
    {
      schema: {
        tags: ['Application'],
        querystring: ApplicationListQuery,
        response: { 200: Page(ApplicationOut) },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const { name } = request.query;
      const filter = name === undefined ? {} : { nameContains: name };
      const page = await store.listApplications(pageRequest(request.query), filter);
      return { ...page, data: page.data.map(applicationOut) };
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
        // Checked before the lookup: a uid cannot look like an id, so this finds by uid only.
        const existing = await store.getApplication(checkUid('uid', uid));
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
        // An unknown id cannot become a uid: it would shadow nothing, but name by id later.
        if (isIdShaped(request.params.app_id)) {
          throw new NotFoundError(`application ${request.params.app_id} not found`);
        }
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
      // A PUT replaces the uid too: leaving it out clears it.
      keepUid(request.principal, existing, body.uid ?? null);
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
      keepUid(request.principal, existing, request.body.uid);
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

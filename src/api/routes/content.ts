/**
 * Expunging content (Svix's `expunge-content` routes): a message's payload, one attempt's
 * response body, or every message of an application (a background task). The records stay, their content goes.
 * Admin token only, as Svix keeps them to the organisation's keys: a consumer portal's
 * application token reads the log but does not erase it.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { NotFoundError } from '../../core/errors.js';
import { PURGE_CONTENT_DATA } from '../../tasks/application-tasks.js';
import { requireAdmin } from '../auth.js';
import { appOf, type RouteContext } from '../context.js';
import { AppParams, ExpungeAllContentsOut, MsgParams } from '../schemas.js';
import { taskOut } from '../serialize.js';

/** Routes that expunge stored content. */
export const contentRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, ctx) => {
  const { store } = ctx;

  app.delete(
    '/app/:app_id/msg/:msg_id/content',
    { schema: { tags: ['Message'], params: MsgParams } },
    async (request, reply) => {
      requireAdmin(request.principal);
      const owner = await appOf(ctx, request, request.params.app_id);
      const message = await store.getMessage(owner.id, request.params.msg_id);
      if (!message) throw new NotFoundError(`message ${request.params.msg_id} not found`);
      await store.expungeMessageContent(owner.id, message.id);
      return reply.status(204).send();
    },
  );

  app.delete(
    '/app/:app_id/msg/:msg_id/attempt/:attempt_id/content',
    {
      schema: {
        tags: ['Message Attempt'],
        params: Type.Object({
          ...MsgParams.properties,
          attempt_id: Type.String({ minLength: 1, maxLength: 256 }),
        }),
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      const owner = await appOf(ctx, request, request.params.app_id);
      const message = await store.getMessage(owner.id, request.params.msg_id);
      if (!message) throw new NotFoundError(`message ${request.params.msg_id} not found`);
      await store.expungeAttemptContent(owner.id, message.id, request.params.attempt_id);
      return reply.status(204).send();
    },
  );

  app.post(
    '/app/:app_id/msg/expunge-all-contents',
    { schema: { tags: ['Message'], params: AppParams, response: { 202: ExpungeAllContentsOut } } },
    async (request, reply) => {
      requireAdmin(request.principal);
      const owner = await appOf(ctx, request, request.params.app_id);
      // A background task, answered at once while `running` (as Svix does); GET
      // /background-task/{id} shows it finish, with `data.messagesPurged`.
      const task = await ctx.tasks.submit({
        kind: 'application.purge_content',
        appId: owner.id,
        endpointId: null,
        params: {},
        data: { ...PURGE_CONTENT_DATA },
      });
      request.log.info({ appId: owner.id, taskId: task.id }, 'application.purge_content started');
      const { data: _data, ...out } = taskOut(task);
      return reply.status(202).send(out);
    },
  );
};

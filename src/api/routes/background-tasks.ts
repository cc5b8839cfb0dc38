import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { NotFoundError } from '../../core/errors.js';
import { pageRequest, type RouteContext } from '../context.js';
import { BackgroundTaskOut, BackgroundTaskQuery, Page } from '../schemas.js';
import { taskOut } from '../serialize.js';

const TaskParams = Type.Object({ task_id: Type.String({ minLength: 1, maxLength: 256 }) });

/**
 * `/api/v1/background-task`: the tasks recover, replay-missing, bulk-replay and
 * expunge-all-contents started, with their status and counts. An admin token sees every
 * task; an application token only those of its application (another's answers 404, as an
 * unknown id does).
 */
export const backgroundTaskRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { store }) => {
  const tags = ['Background Task'];

  app.get(
    '/background-task',
    { schema: { tags, querystring: BackgroundTaskQuery, response: { 200: Page(BackgroundTaskOut) } } },
    async (request) => {
      const { status, task } = request.query;
      const appId = request.principal.appId;
      const page = await store.listTasks(
        {
          ...(appId !== null ? { appId } : {}),
          ...(status ? { status } : {}),
          ...(task ? { kind: task } : {}),
        },
        pageRequest(request.query),
      );
      return { ...page, data: page.data.map(taskOut) };
    },
  );

  app.get(
    '/background-task/:task_id',
    { schema: { tags, params: TaskParams, response: { 200: BackgroundTaskOut } } },
    async (request) => {
      const task = await store.getTask(request.params.task_id);
      const appId = request.principal.appId;
      if (!task || (appId !== null && task.appId !== appId))
        throw new NotFoundError(`background task ${request.params.task_id} not found`);
      return taskOut(task);
    },
  );
};

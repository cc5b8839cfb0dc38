/**
 * `/api/v1/health`: whether this server can do its work, per component, in the shape of the
 * OSS Svix server (`{database: {status: "ok"}, …}`, 200 when every component is ok or not
 * applicable, 503 when one is in error). Public, like Svix's: it names no data.
 * `/api/v1/health/ping` answers 204 as long as the process serves HTTP.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Store } from '../../store/store.js';

/** A component's state: `notapplicable` for one this process does not run. */
export type ComponentStatus = 'ok' | 'error' | 'notapplicable';

/** The dispatcher's state as the process running the API sees it. */
export type DispatcherHealth = () => ComponentStatus;

/** Options of {@link healthRoutes}. */
export interface HealthOptions {
  store: Store;
  dispatcher: DispatcherHealth;
}

/** A database that has not answered `SELECT 1` in this long is reported in error. */
export const DATABASE_CHECK_TIMEOUT_MS = 2_000;

const Component = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('error'), Type.Literal('notapplicable')]),
  detail: Type.Optional(
    Type.String({ description: 'What is wrong, when something is (the server log says more).' }),
  ),
});
const HealthOut = Type.Object(
  { database: Component, dispatcher: Component },
  {
    $id: 'HealthOut',
    description:
      '`dispatcher` is `notapplicable` in a process started with --role api (the workers run elsewhere).',
  },
);

/** Resolves with `undefined` if `check` settles in time, else with what went wrong. */
async function within(check: Promise<void>, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`the database did not answer within ${ms} ms`), ms);
  });
  try {
    return await Promise.race([check.then(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes: FastifyPluginAsyncTypebox<HealthOptions> = async (app, { store, dispatcher }) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['Health'],
        description: 'Whether the server can work: 200 when it can, 503 naming the component that cannot.',
        security: [],
        response: { 200: HealthOut, 503: HealthOut },
      },
    },
    async (request, reply) => {
      const failure = await within(store.ping(), DATABASE_CHECK_TIMEOUT_MS).catch((error: unknown) => {
        request.log.error({ err: error }, 'health check: the database refused SELECT 1');
        return 'the database refused a query (the server log has the error)';
      });
      const database =
        failure === undefined ? { status: 'ok' as const } : { status: 'error' as const, detail: failure };
      const state = dispatcher();
      const body = {
        database,
        dispatcher:
          state === 'error'
            ? { status: state, detail: 'the dispatcher in this process stopped' }
            : { status: state },
      };
      const down = database.status === 'error' || state === 'error';
      return reply.status(down ? 503 : 200).send(body);
    },
  );
  app.get(
    '/health/ping',
    { schema: { tags: ['Health'], description: 'Answers 204 while the process serves HTTP.', security: [] } },
    async (_request, reply) => reply.status(204).send(),
  );
};

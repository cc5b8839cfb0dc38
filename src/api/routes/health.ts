/**
 * `/api/v1/health`: whether this server can do its work, per component, in the shape of the
 * OSS Svix server (`{database: {status: "ok"}, …}`, 200 when every component is ok or not
 * applicable, 503 when one is in error). Public, like Svix's: it names no data.
 * `/api/v1/health/ping` answers 204 as long as the process serves HTTP.
 *
 * The database is checked by a write it commits (`Store.ping`), so that a database that
 * answers reads but cannot commit is in error; the dispatcher by its loop's record
 * (`src/delivery/liveness.ts`), so that one stalled while work is due is in error.
 *
 * For orchestrators, at the root: `/healthz` (liveness: 200 while the process serves HTTP)
 * and `/readyz` (readiness: 200 once the database commits; the API listens only after its
 * migrations are done, so nothing answers before).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Store } from '../../store/store.js';

/** A component's state: `notapplicable` for one this process does not run. */
export type ComponentStatus = 'ok' | 'error' | 'notapplicable';

/** A component's state, with what is wrong when it is in error. */
export interface ComponentState {
  status: ComponentStatus;
  detail?: string;
}

/** The dispatcher's state as the process running the API sees it. */
export type DispatcherHealth = () => ComponentStatus | ComponentState;

/** Options of {@link healthRoutes}. */
export interface HealthOptions {
  store: Store;
  dispatcher: DispatcherHealth;
}

/** A database that has not committed the health probe in this long is reported in error. */
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

/** The database's state: `ok` once it has committed the probe in time. */
export async function checkDatabase(
  store: Pick<Store, 'ping'>,
  log: { error(details: object, message: string): void },
): Promise<ComponentState> {
  const failure = await within(store.ping(), DATABASE_CHECK_TIMEOUT_MS).catch((error: unknown) => {
    log.error({ err: error }, 'health check: the database could not commit the probe');
    return 'the database refused to commit a write (the server log has the error)';
  });
  return failure === undefined ? { status: 'ok' } : { status: 'error', detail: failure };
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
      const database = await checkDatabase(store, request.log);
      const reported = dispatcher();
      const state: ComponentState = typeof reported === 'string' ? { status: reported } : reported;
      const body = {
        database,
        dispatcher:
          state.status === 'error'
            ? { status: state.status, detail: state.detail ?? 'the dispatcher in this process stopped' }
            : { status: state.status },
      };
      const down = database.status === 'error' || state.status === 'error';
      return reply.status(down ? 503 : 200).send(body);
    },
  );
  app.get(
    '/health/ping',
    { schema: { tags: ['Health'], description: 'Answers 204 while the process serves HTTP.', security: [] } },
    async (_request, reply) => reply.status(204).send(),
  );
};

const Probe = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('error')]),
  detail: Type.Optional(Type.String()),
});

/** `/healthz` and `/readyz`, at the root (see the module comment). */
export const probeRoutes: FastifyPluginAsyncTypebox<{ store: Store }> = async (app, { store }) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['Health'],
        description: 'Liveness: 200 while the process serves HTTP.',
        security: [],
        response: { 200: Probe },
      },
    },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['Health'],
        description:
          'Readiness: 200 once the migrations are done and the database commits a write, else 503 saying why.',
        security: [],
        response: { 200: Probe, 503: Probe },
      },
    },
    async (request, reply) => {
      const database = await checkDatabase(store, request.log);
      return database.status === 'ok'
        ? { status: 'ok' as const }
        : reply.status(503).send({ status: 'error' as const, detail: database.detail });
    },
  );
};

/**
 * `GET /api/v1/stats/activity` (a Herald extension; Svix's usage statistics under /stats are
 * not built): what the dashboard's overview charts, from the store, so that every API and
 * worker process of a database is counted and a restart loses nothing. The last hour by
 * minute or the last day by hour: messages accepted, attempts succeeded and failed, and the
 * queue as its snapshots saw it; and the queue now. Admin token only.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { MINUTE_MS } from '../../store/activity.js';
import { requireAdmin } from '../auth.js';
import type { RouteContext } from '../context.js';

const HOUR_MS = 60 * MINUTE_MS;

/** The windows a caller may ask for: their buckets, and how many. */
const WINDOWS = {
  hour: { bucketMs: MINUTE_MS, buckets: 60 },
  day: { bucketMs: HOUR_MS, buckets: 24 },
} as const;

const ActivityQuery = Type.Object(
  {
    window: Type.Optional(
      Type.Union([Type.Literal('hour'), Type.Literal('day')], {
        description: 'the last hour by minute (default), or the last day by hour',
      }),
    ),
  },
  { additionalProperties: false },
);

const Count = (description: string) => Type.Integer({ minimum: 0, description });
const Gauge = (description: string) =>
  Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description });

const ActivityBucketOut = Type.Object({
  start: Type.String({ format: 'date-time', description: "the bucket's start; it lasts bucketSeconds" }),
  accepted: Count('messages accepted'),
  succeeded: Count('attempts that succeeded'),
  failed: Count('attempts that failed'),
  pending: Gauge(
    'deliveries waiting (due or not), the highest of the snapshots in the bucket; null: no snapshot was taken in it (no API process ran)',
  ),
  sending: Gauge('deliveries leased to a worker, as pending'),
  oldestDueSeconds: Gauge('how long the oldest due delivery had waited (0: none was late), as pending'),
  failingEndpoints: Gauge('endpoints with a delivery waiting for a retry after a failed attempt, as pending'),
  retrying: Gauge('deliveries waiting for a retry after a failed attempt, as pending'),
});

const ActivityOut = Type.Object(
  {
    window: Type.Union([Type.Literal('hour'), Type.Literal('day')]),
    bucketSeconds: Type.Integer({ description: "each bucket's length: 60 (hour) or 3600 (day)" }),
    since: Type.String({ format: 'date-time', description: "the first bucket's start" }),
    until: Type.String({
      format: 'date-time',
      description: "the last bucket's end; the last bucket is the current one, still counting",
    }),
    now: Type.Object({
      at: Type.String({ format: 'date-time' }),
      pending: Count('deliveries waiting (due or not)'),
      sending: Count('deliveries leased to a worker'),
      oldestDueSeconds: Count('how long the oldest due delivery has waited; 0: none is late'),
      failingEndpoints: Count('endpoints with a delivery waiting for a retry after a failed attempt'),
      retrying: Count('deliveries waiting for a retry after a failed attempt'),
    }),
    data: Type.Array(ActivityBucketOut, { description: 'every bucket of the window, oldest first' }),
  },
  { $id: 'ActivityOut' },
);

const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number) => Math.round(ms / 1000);

/** The activity route; see the module comment. */
export const activityRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, { store, clock }) => {
  app.get(
    '/stats/activity',
    {
      schema: {
        tags: ['Statistics'],
        summary: 'Activity over the last hour or day (the dashboard overview)',
        description:
          'Messages accepted and attempts by outcome per minute (window=hour) or per hour (window=day), from every process of the database, and the queue as it was snapshotted once a minute; with the queue now. Admin token only.',
        querystring: ActivityQuery,
        response: { 200: ActivityOut },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const window = request.query.window ?? 'hour';
      const { bucketMs, buckets } = WINDOWS[window];
      const now = clock.now();
      const until = now - (now % bucketMs) + bucketMs;
      const since = until - buckets * bucketMs;
      const [series, queue, retrying] = await Promise.all([
        store.activity(since, until, bucketMs),
        store.queueStats(now),
        store.countRetrying(),
      ]);
      return {
        window,
        bucketSeconds: bucketMs / 1000,
        since: iso(since),
        until: iso(until),
        now: {
          at: iso(now),
          pending: queue.pending,
          sending: queue.sending,
          oldestDueSeconds: queue.oldestDueAt === null ? 0 : seconds(Math.max(0, now - queue.oldestDueAt)),
          failingEndpoints: retrying.endpoints,
          retrying: retrying.deliveries,
        },
        data: series.map((b) => ({
          start: iso(b.start),
          accepted: b.accepted,
          succeeded: b.succeeded,
          failed: b.failed,
          pending: b.queue?.pending ?? null,
          sending: b.queue?.sending ?? null,
          oldestDueSeconds: b.queue ? seconds(b.queue.oldestDueMs) : null,
          failingEndpoints: b.queue?.failingEndpoints ?? null,
          retrying: b.queue?.retrying ?? null,
        })),
      };
    },
  );
};

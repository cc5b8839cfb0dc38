/**
 * `GET /api/v1/failures` (a Herald extension): failed attempts grouped by endpoint and cause,
 * or by host and cause across endpoints and applications, newest failure first, each with its
 * counts, first and last seen, whether it is still failing, and its endpoints' deliveries
 * failed now (what `POST …/recover` would send again). Read from the failure groups the
 * completions count (`Store.listFailures`), never from the attempts. Admin token only.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { FAILED_NOW_CAP, type FailureCursor, type FailureEndpoint } from '../../store/failures.js';
import { requireAdmin } from '../auth.js';
import { appOf, pageLimit, type RouteContext, timeParam } from '../context.js';
import { QueryError } from '../errors.js';
import { RECOVER_MAX_DAYS } from '../schemas.js';

const FailuresQuery = Type.Object(
  {
    group_by: Type.Optional(
      Type.Union([Type.Literal('endpoint'), Type.Literal('host')], {
        description:
          "endpoint (default): one group per endpoint and cause; host: one per host of the endpoints' URLs and cause, across endpoints and applications",
      }),
    ),
    app_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: "only this application's endpoints (id or uid)",
      }),
    ),
    since: Type.Optional(
      Type.String({ format: 'date-time', description: 'only groups whose last failure is at or after it' }),
    ),
    endpoint_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: "only this endpoint's groups (its id)" }),
    ),
    host: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 300,
        description: 'only the groups of endpoints on this host (and port)',
      }),
    ),
    exact_counts: Type.Optional(
      Type.Union([Type.Literal('true'), Type.Literal('false')], {
        description: `default false: failedNow is counted up to ${FAILED_NOW_CAP.toLocaleString('en')} per endpoint (failedNowCapped says when it stopped there); true counts every one (slower for a big outage: ask it for one endpoint or host, as a confirmation does)`,
      }),
    ),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$', description: '1 to 250, default 50' })),
    iterator: Type.Optional(
      Type.String({ maxLength: 2048, description: 'the page after the one whose iterator this is' }),
    ),
  },
  { additionalProperties: false },
);

const Seen = {
  attempts: Type.Integer({ minimum: 0, description: 'failed attempts counted' }),
  firstSeen: Type.String({ format: 'date-time', description: 'the first failed attempt' }),
  lastSeen: Type.String({ format: 'date-time', description: 'the last failed attempt' }),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()], {
    description: 'the status code of the last failed attempt; null: no response (an error)',
  }),
  failedNow: Type.Integer({
    minimum: 0,
    description: `deliveries failed now, created in the last ${RECOVER_MAX_DAYS} days: what a recover from then would send again (less those whose payload is gone or that the endpoint's filter drops)`,
  }),
  failedNowCapped: Type.Boolean({
    description: `failedNow stopped at ${FAILED_NOW_CAP.toLocaleString('en')} (there may be more; exact_counts=true counts them all)`,
  }),
  failing: Type.Boolean({
    description: 'still failing: its last failure came after its last success, or deliveries are failed now',
  }),
};

const FailureEndpointOut = Type.Object({
  id: Type.String(),
  appId: Type.String(),
  appName: Type.String(),
  url: Type.String(),
  disabled: Type.Boolean(),
  ...Seen,
});

const FailureGroupOut = Type.Object(
  {
    key: Type.String({ description: 'the group: "endpoint-id cause" or "host cause"' }),
    cause: Type.String({
      description:
        'what the attempts failed on: http_4xx, http_5xx, … (the status class), or the error kind when no status came back (timeout, connection_refused, dns, tls, …)',
    }),
    host: Type.String({ description: "the endpoint URL's host (and port)" }),
    ...Seen,
    failedNow: Type.Integer({ minimum: 0, description: "the sum of the listed endpoints' failedNow" }),
    failing: Type.Boolean({ description: 'some endpoint of the group is still failing' }),
    endpointCount: Type.Integer({ minimum: 1, description: 'endpoints in the group' }),
    endpoints: Type.Array(FailureEndpointOut, {
      description: "the group's endpoints, last failure first (100 at most: endpointCount has them all)",
    }),
  },
  { $id: 'FailureGroupOut' },
);

const FailuresOut = Type.Object({
  data: Type.Array(FailureGroupOut),
  iterator: Type.Union([Type.String(), Type.Null()]),
  done: Type.Boolean(),
});

const iso = (ms: number) => new Date(ms).toISOString();

/** A page's iterator: where it ended, as base64url JSON. */
function iteratorOf(c: FailureCursor): string {
  return Buffer.from(JSON.stringify([c.lastAt, c.key])).toString('base64url');
}

function cursorOf(iterator: string): FailureCursor {
  try {
    const [lastAt, key] = JSON.parse(Buffer.from(iterator, 'base64url').toString()) as unknown[];
    if (Number.isSafeInteger(lastAt) && typeof key === 'string') return { lastAt: lastAt as number, key };
  } catch {
    // Not JSON: refused below like any other iterator this route did not give.
  }
  throw new QueryError('iterator', 'is not an iterator of this list');
}

const seen = (g: Omit<FailureEndpoint, 'endpointId' | 'appId' | 'appName' | 'url' | 'disabled'>) => ({
  attempts: g.attempts,
  firstSeen: iso(g.firstAt),
  lastSeen: iso(g.lastAt),
  lastStatusCode: g.lastStatusCode,
  failedNow: g.failedNow,
  failedNowCapped: g.failedNowCapped,
  failing: g.failing,
});

/** The failures route; see the module comment. */
export const failureRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, ctx) => {
  app.get(
    '/failures',
    {
      schema: {
        tags: ['Failures'],
        summary: 'Failed attempts grouped by endpoint or host and cause (the dashboard)',
        description:
          'A Herald extension. One row per endpoint (or host) and cause, newest failure first: an outage reads as one row, however many attempts it failed. With counts, first and last seen, whether it is still failing, and the deliveries failed now that "resend all" (recover) would touch. Groups not seen for 14 days age out. Admin token only.',
        querystring: FailuresQuery,
        response: { 200: FailuresOut },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const q = request.query;
      const limit = pageLimit(q.limit);
      const since = timeParam('since', q.since);
      const after = q.iterator === undefined ? undefined : cursorOf(q.iterator);
      const appId = q.app_id === undefined ? undefined : (await appOf(ctx, request, q.app_id)).id;
      const page = await ctx.store.listFailures({
        groupBy: q.group_by ?? 'endpoint',
        limit,
        failedSince: ctx.clock.now() - RECOVER_MAX_DAYS * 86_400_000,
        ...(appId === undefined ? {} : { appId }),
        ...(since === undefined ? {} : { since }),
        ...(after === undefined ? {} : { after }),
        ...(q.endpoint_id === undefined ? {} : { endpointId: q.endpoint_id }),
        ...(q.host === undefined ? {} : { host: q.host.toLowerCase() }),
        exact: q.exact_counts === 'true',
      });
      return {
        data: page.data.map((g) => ({
          key: g.key,
          cause: g.cause,
          host: g.host,
          ...seen(g),
          endpointCount: g.endpointCount,
          endpoints: g.endpoints.map((e) => ({
            id: e.endpointId,
            appId: e.appId,
            appName: e.appName,
            url: e.url,
            disabled: e.disabled,
            ...seen(e),
          })),
        })),
        iterator: page.next ? iteratorOf(page.next) : null,
        done: page.next === null,
      };
    },
  );
};

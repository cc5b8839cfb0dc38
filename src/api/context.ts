/** What route handlers share: the store, the caller, and small helpers. */
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.js';
import { EndpointDisabledError, NotFoundError } from '../core/errors.js';
import type { Application, Endpoint } from '../core/types.js';
import type { Order, PageRequest, Store } from '../store/store.js';
import type { TaskRunner } from '../tasks/runner.js';
import { type Principal, requireApp } from './auth.js';
import { ForbiddenError, QueryError } from './errors.js';

/** Options every route module receives. */
export interface RouteContext {
  store: Store;
  /** Largest accepted message payload, in bytes of its JSON text. */
  maxPayloadBytes: number;
  /** Base URL of this server, for links it hands out (read per request: known after listen). */
  publicUrl: () => string;
  /** The time the API checks against (a recover's 14 days, tokens' expiry); the store's own clock in tests. */
  clock: Clock;
  /** Runs the background tasks routes start. */
  tasks: TaskRunner;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

/** The page size from `?limit`: 1 to 250, default 50. */
export function pageLimit(limit: string | undefined): number {
  if (limit === undefined) return 50;
  const n = Number(limit);
  if (!Number.isInteger(n) || n < 1 || n > 250) throw new QueryError('limit', 'must be from 1 to 250');
  return n;
}

/** The page asked for by `?limit`, `?iterator` and, on lists that have it, `?order`. */
export function pageRequest(q: { limit?: string; iterator?: string; order?: Order }): PageRequest {
  return {
    limit: pageLimit(q.limit),
    iterator: q.iterator ?? null,
    ...(q.order !== undefined ? { order: q.order } : {}),
  };
}

/** Milliseconds from an ISO date query parameter. */
export function timeParam(field: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new QueryError(field, 'must be an ISO 8601 date-time');
  return ms;
}

/** A `true`/`false` query parameter, `fallback` when absent. */
export function flagParam(value: 'true' | 'false' | undefined, fallback: boolean): boolean {
  return value === undefined ? fallback : value === 'true';
}

const EVENT_TYPE_NAME = /^[a-zA-Z0-9\-_.]{1,256}$/;

/**
 * `?event_types` as a list: the svix SDK joins the names with commas (`a,b`), a hand-written
 * URL may repeat the parameter; both, and their mix, are split and each name checked.
 */
export function eventTypesParam(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const names = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(','));
  for (const name of names) {
    if (!EVENT_TYPE_NAME.test(name))
      throw new QueryError(
        'event_types',
        `${JSON.stringify(name.slice(0, 300))} is not an event type name (1 to 256 of a-z A-Z 0-9 - _ .), and names are separated by commas`,
      );
  }
  return [...new Set(names)];
}

/**
 * The application named in the path (id or uid), if the caller may see it. An application
 * token gets 403 for any other application, existing or not, so it learns nothing.
 */
export async function appOf(
  ctx: RouteContext,
  request: FastifyRequest,
  idOrUid: string,
): Promise<Application> {
  const app = await ctx.store.getApplication(idOrUid);
  if (!app) {
    if (request.principal.appId !== null)
      throw new ForbiddenError('this token belongs to another application');
    throw new NotFoundError(`application ${idOrUid} not found`);
  }
  requireApp(request.principal, app);
  return app;
}

/** The endpoint named in the path, within an application the caller may see. */
export async function endpointOf(
  ctx: RouteContext,
  request: FastifyRequest,
  appIdOrUid: string,
  idOrUid: string,
): Promise<{ app: Application; endpoint: Endpoint }> {
  const app = await appOf(ctx, request, appIdOrUid);
  const endpoint = await ctx.store.getEndpoint(app.id, idOrUid);
  if (!endpoint) throw new NotFoundError(`endpoint ${idOrUid} not found`);
  return { app, endpoint };
}

/**
 * Refuses (409 `endpoint_disabled`) what would send nothing because the endpoint is disabled:
 * the dispatcher fails whatever is due for a disabled endpoint without trying it, so a 202
 * would say it worked when nothing was, or ever would be, sent.
 */
export function requireEnabled(app: Application, endpoint: Endpoint, what: string): void {
  if (!endpoint.disabled) return;
  const a = app.uid ?? app.id;
  const e = endpoint.uid ?? endpoint.id;
  throw new EndpointDisabledError(
    `endpoint ${e} is disabled, so ${what} would send nothing; enable it first with PATCH /api/v1/app/${a}/endpoint/${e} {"disabled": false} (herald endpoint enable --app ${a} --endpoint ${e}), then try again`,
  );
}

/**
 * A 422 naming a query parameter (`loc: ['query', name]`), in the shape of a schema failure:
 * for what a schema cannot say (one parameter against another).
 */
export function queryError(name: string, message: string): Error {
  return Object.assign(new Error(`${name}: ${message}`), {
    statusCode: 422,
    validationContext: 'querystring',
    validation: [{ instancePath: `/${name}`, message, keyword: 'range' }],
  });
}

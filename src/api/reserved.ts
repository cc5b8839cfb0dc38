/**
 * The reserved application of the operational webhooks (core/operational.ts) is no user's:
 * a path naming it answers as an unknown application does (404; 403 to an application
 * token, which learns nothing of another application), so nothing of it is read, changed or
 * sent to but through `/api/v1/operational-webhook/*`. Its id is its only name (it has no
 * uid), so the path parameter and a source's `appId` are all there is to check; the store
 * hides it from the list.
 */
import type { FastifyRequest } from 'fastify';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { isOperationalApp } from '../core/operational.js';
import { ForbiddenError } from './errors.js';

/**
 * Throws when the request's `app_id` path parameter names the reserved application. Run in
 * the API's `onRequest` hook, which exists already: a hook stage of its own would cost every
 * request, message ingest included, one more turn.
 */
export function refuseReservedApp(request: FastifyRequest): void {
  const inPath = (request.params as { app_id?: unknown } | undefined)?.app_id;
  if (typeof inPath !== 'string' || !isOperationalApp(inPath)) return;
  if (request.principal.appId !== null) throw new ForbiddenError('this token belongs to another application');
  throw new NotFoundError(`application ${inPath} not found`);
}

/** Refuses a body's `appId` (a source's) naming the reserved application (422). */
export function refuseReservedAppId(appId: string): void {
  if (isOperationalApp(appId))
    throw new ValidationError('appId', 'names the reserved application of the operational webhooks');
}

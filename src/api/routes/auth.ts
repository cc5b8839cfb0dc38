/**
 * `/api/v1/auth`: application tokens. app-portal-access makes one (creating the application
 * when asked to), dashboard-access is its older name, expire-all ends an application's
 * tokens (after a grace period, of some sessions or all), logout ends the calling token.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.js';
import { checkUid, isIdShaped } from '../../core/rules.js';
import type { Application } from '../../core/types.js';
import { hashToken, newToken, requireAdmin } from '../auth.js';
import { appOf, type RouteContext } from '../context.js';
import { ForbiddenError } from '../errors.js';
import {
  APP_TOKEN_MAX_SECONDS,
  ApplicationTokenExpireIn,
  AppParams,
  AppPortalAccessIn,
  AppPortalAccessOut,
  DashboardAccessOut,
} from '../schemas.js';

type PortalAccess = Static<typeof AppPortalAccessIn>;

/** The path of the page a portal link opens (`portal.ts`); the token follows in the fragment. */
export function portalPath(appId: string): string {
  return `/portal/${encodeURIComponent(appId)}`;
}

export const authRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, ctx) => {
  const { store, clock } = ctx;

  /**
   * The application named in the path; with `inline`, created when the path names none, as
   * Svix does (by uid only: an unknown id cannot be created under its name).
   */
  async function ownerOf(
    request: FastifyRequest,
    idOrUid: string,
    inline: PortalAccess['application'],
  ): Promise<Application> {
    if (!inline) return appOf(ctx, request, idOrUid);
    const existing = await store.getApplication(idOrUid);
    if (existing) return existing;
    if (isIdShaped(idOrUid) && !inline.uid) throw new NotFoundError(`application ${idOrUid} not found`);
    const uid = checkUid('application.uid', inline.uid ?? idOrUid);
    try {
      return await store.createApplication({
        name: inline.name,
        uid,
        metadata: inline.metadata ?? {},
        ...(inline.throttleRate != null || inline.rateLimit != null
          ? { rateLimit: inline.throttleRate ?? inline.rateLimit ?? null }
          : {}),
      });
    } catch (error) {
      // Another request created it meanwhile: that is the application asked for.
      const raced = error instanceof ConflictError ? await store.getApplication(uid) : null;
      if (raced) return raced;
      throw error;
    }
  }

  /** A new token for `owner`, stored as its hash, and the portal link carrying it. */
  async function grant(owner: Application, body: PortalAccess) {
    const capabilities: readonly string[] | null = body.capabilities ?? null;
    if (capabilities && !capabilities.includes('ViewBase')) {
      throw new ValidationError(
        'capabilities',
        'must include ViewBase, which every token holds, as Svix requires',
      );
    }
    const token = newToken('herald_app');
    await store.saveToken(hashToken(token), owner.id, {
      expiresAt: clock.now() + (body.expiry ?? APP_TOKEN_MAX_SECONDS) * 1000,
      readOnly: body.readOnly ?? false,
      capabilities,
      sessionId: body.sessionId ?? null,
    });
    // In the fragment, which a browser never sends: the token reaches no server's log. What
    // the token may not do rides along, so the portal hides the controls it would refuse.
    const fragment = new URLSearchParams({ key: token });
    if (body.readOnly) fragment.set('readOnly', 'true');
    if (capabilities) fragment.set('capabilities', capabilities.join(','));
    return { token, url: `${ctx.publicUrl()}${portalPath(owner.id)}#${fragment}` };
  }

  app.post(
    '/auth/app-portal-access/:app_id',
    {
      // The answer is a live token: it must not sit in idempotency_keys for 12 h.
      config: { idempotent: false },
      schema: {
        tags: ['Authentication'],
        description:
          'A token for one application (7 days unless `expiry` says less), and a link to the consumer portal that carries it in its fragment.',
        params: AppParams,
        body: AppPortalAccessIn,
        response: { 200: AppPortalAccessOut },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      const { body } = request;
      return grant(await ownerOf(request, request.params.app_id, body.application), body);
    },
  );

  app.post(
    '/auth/dashboard-access/:app_id',
    {
      config: { idempotent: false },
      schema: {
        tags: ['Authentication'],
        description: "Svix's older name of app-portal-access, without options: a 7-day token and its link.",
        params: AppParams,
        response: { 200: DashboardAccessOut },
      },
    },
    async (request) => {
      requireAdmin(request.principal);
      return grant(await appOf(ctx, request, request.params.app_id), {});
    },
  );

  app.post(
    '/auth/app/:app_id/expire-all',
    {
      schema: {
        tags: ['Authentication'],
        description:
          "Ends the application's tokens (those of `sessionIds` only, when given) `expiry` seconds from now (default at once).",
        params: AppParams,
        body: ApplicationTokenExpireIn,
      },
    },
    async (request, reply) => {
      requireAdmin(request.principal);
      const owner = await appOf(ctx, request, request.params.app_id);
      const { body } = request;
      await store.expireTokens(owner.id, clock.now() + (body.expiry ?? 0) * 1000, body.sessionIds);
      return reply.status(204).send();
    },
  );

  app.post(
    '/auth/logout',
    {
      schema: {
        tags: ['Authentication'],
        description: 'Ends the application token this request carries; other tokens keep working.',
      },
    },
    async (request, reply) => {
      const { principal } = request;
      if (principal.appId === null) {
        throw new ForbiddenError(
          'logout ends application tokens; an admin token cannot be logged out (Herald has no route that ends one)',
        );
      }
      await store.revokeToken(principal.tokenHash, clock.now());
      return reply.status(204).send();
    },
  );
};

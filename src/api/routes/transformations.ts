/**
 * `/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation`: an endpoint's transformation
 * as the svix SDK's `transformationGet`, `patchTransformation` and
 * `transformationPartialUpdate` call it, and Herald's `POST …/transformation/test`, which runs
 * code on a given payload so that a portal user can try it before enabling it. Code that does
 * not load (a syntax error, a top level that throws or loops, no `handler`) is refused with
 * 422 and the compiler's message and line; nothing is stored then.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ValidationError } from '../../core/errors.js';
import type { EndpointPatch } from '../../store/store.js';
import { sharedTransformPool } from '../../transform/pool.js';
import { TransformationError, type TryOutcome, type WebhookIn } from '../../transform/sandbox.js';
import { endpointOf, type RouteContext } from '../context.js';
import {
  EndpointParams,
  EndpointTransformationIn,
  EndpointTransformationOut,
  TransformationTestIn,
  TransformationTestOut,
} from '../schemas.js';
import { iso } from '../serialize.js';

/** Refuses code that does not load, naming the line. */
async function checkCode(field: string, code: string): Promise<void> {
  let problem: { message: string; line: number | null } | null;
  try {
    problem = await sharedTransformPool().check(code);
  } catch (error) {
    // Stopped at the time limit (a top level that never ends), or the worker failed.
    if (!(error instanceof TransformationError)) throw error;
    problem = { message: error.message, line: null };
  }
  if (problem)
    throw new ValidationError(
      field,
      `${problem.message}${problem.line === null ? '' : ` (line ${problem.line})`}`,
    );
}

/** `tryTransformation` in the pool's worker; a call stopped at the time limit is an error too. */
async function tryRun(code: string, input: WebhookIn): Promise<TryOutcome> {
  try {
    return await sharedTransformPool().try(code, input);
  } catch (error) {
    if (error instanceof TransformationError) return { ok: false, error: error.message, line: null };
    throw error;
  }
}

/** The transformation routes; see the module comment. */
export const transformationRoutes: FastifyPluginAsyncTypebox<RouteContext> = async (app, ctx) => {
  const tags = ['Endpoint'];
  const path = '/app/:app_id/endpoint/:endpoint_id/transformation';

  app.get(
    path,
    { schema: { tags, params: EndpointParams, response: { 200: EndpointTransformationOut } } },
    async (request) => {
      const { endpoint } = await endpointOf(ctx, request, request.params.app_id, request.params.endpoint_id);
      return {
        code: endpoint.transformationCode,
        enabled: endpoint.transformationEnabled,
        updatedAt: endpoint.transformationCode === null ? null : iso(endpoint.updatedAt),
      };
    },
  );

  app.patch(
    path,
    { schema: { tags, params: EndpointParams, body: EndpointTransformationIn } },
    async (request, reply) => {
      const { app: owner, endpoint } = await endpointOf(
        ctx,
        request,
        request.params.app_id,
        request.params.endpoint_id,
      );
      const { code, enabled } = request.body;
      // A listener endpoint's deliveries go to `herald listen` as they are (it forwards them to
      // its own local URL), and the listener stream runs no transformation: refused, not ignored.
      if (endpoint.listener !== null && (enabled === true || (code !== undefined && code !== null)))
        throw new ValidationError(
          code !== undefined && code !== null ? 'code' : 'enabled',
          `endpoint ${endpoint.id} is the listener endpoint ${endpoint.listener} (herald listen), whose deliveries are forwarded unchanged: it takes no transformation`,
        );
      const patch: EndpointPatch = {};
      if (code !== undefined) {
        if (code !== null) await checkCode('code', code);
        patch.transformationCode = code;
      }
      if (enabled !== undefined) patch.transformationEnabled = enabled;
      const after = code === undefined ? endpoint.transformationCode : code;
      if ((enabled ?? endpoint.transformationEnabled) && after === null) {
        if (enabled) throw new ValidationError('enabled', 'there is no code to run: give code with it');
        // Removing the code turns the transformation off.
        patch.transformationEnabled = false;
      }
      await ctx.store.updateEndpoint(owner.id, endpoint.id, patch);
      return reply.status(204).send();
    },
  );

  app.post(
    `${path}/test`,
    {
      schema: {
        tags,
        params: EndpointParams,
        body: TransformationTestIn,
        response: { 200: TransformationTestOut },
      },
    },
    async (request) => {
      const { endpoint } = await endpointOf(ctx, request, request.params.app_id, request.params.endpoint_id);
      const code = request.body.code ?? endpoint.transformationCode;
      if (code === null) throw new ValidationError('code', 'the endpoint has no transformation: give code');
      const outcome = await tryRun(code, {
        eventType: request.body.eventType ?? 'test',
        payload: request.body.payload ?? null,
        url: endpoint.url,
        method: 'POST',
        headers: { ...endpoint.headers },
        cancel: false,
        transformationsParams: request.body.transformationsParams ?? null,
      });
      return outcome.ok
        ? { ok: true, webhook: outcome.webhook, error: null, line: null }
        : { ok: false, webhook: null, error: outcome.error, line: outcome.line };
    },
  );
};

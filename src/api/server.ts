/**
 * The HTTP API: Fastify with TypeBox schemas, Svix API v1 routes under `/api/v1`, bearer
 * token auth, idempotency keys, and the OpenAPI document at `/openapi.json`.
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import Type from 'typebox';
import { type Clock, systemClock } from '../core/clock.js';
import { ConflictError, ValidationError } from '../core/errors.js';
import { findTooDeep, JSON_DEPTH_LIMIT, type TooDeep } from '../core/json-depth.js';
import { findNul } from '../core/nul.js';
import { inboundRoutes } from '../inbound/gateway.js';
import { withCause } from '../store/cause.js';
import type { Store } from '../store/store.js';
import { APPLICATION_TASKS } from '../tasks/application-tasks.js';
import { ENDPOINT_TASKS } from '../tasks/endpoint-tasks.js';
import { TaskRunner, type TaskRunnerOptions } from '../tasks/runner.js';
import { callerContext, tracing } from '../tracing/tracing.js';
import { Authenticator, requireAdmin, requireWritable } from './auth.js';
import { requireCapability } from './capabilities.js';
import type { RouteContext } from './context.js';
import { ANY_ORIGIN, registerCors } from './cors.js';
import { handleError } from './errors.js';
import { notBuilt } from './not-built.js';
import { refuseReservedApp } from './reserved.js';
import { activityRoutes } from './routes/activity.js';
import { applicationRoutes } from './routes/applications.js';
import { authRoutes } from './routes/auth.js';
import { backgroundTaskRoutes } from './routes/background-tasks.js';
import { contentRoutes } from './routes/content.js';
import { type DashboardOptions, dashboardRoutes } from './routes/dashboard.js';
import { endpointRoutes } from './routes/endpoints.js';
import { eventTypeRoutes } from './routes/event-types.js';
import { failureRoutes } from './routes/failures.js';
import { type DispatcherHealth, healthRoutes, probeRoutes } from './routes/health.js';
import { type ListenOptions, listenRoutes } from './routes/listen.js';
import { messageRoutes } from './routes/messages.js';
import { operationalWebhookRoutes } from './routes/operational-webhooks.js';
import { type PortalOptions, portalRoutes } from './routes/portal.js';
import { searchRoutes } from './routes/search.js';
import { sourceRoutes } from './routes/sources.js';
import { transformationRoutes } from './routes/transformations.js';
import { UNSUPPORTED_KEYWORD, type Unsupported } from './schemas.js';

/** Options of {@link buildApi}. */
export interface ApiOptions {
  store: Store;
  logger?: Logger;
  /** Largest message payload in bytes (413 above). Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Base URL clients reach this server at, for links it returns; a function when it is known only after listen. */
  publicUrl?: string | (() => string);
  /** Herald's version, shown in the OpenAPI document. */
  version?: string;
  /** Origins a browser page may call `/api/v1` from (`--cors-origin`); default `*`, any. */
  corsOrigins?: readonly string[];
  /** The dispatcher's state, for `/api/v1/health`; default `notapplicable` (none in this process). */
  dispatcher?: DispatcherHealth;
  /** The time of the API's own checks and of the task runner's timers. Default: the system clock. */
  clock?: Clock;
  /** Options of the background task runner (batch size, lease, more handlers). */
  tasks?: Omit<TaskRunnerOptions, 'store' | 'logger' | 'clock'>;
  /** Serves `GET /metrics` and counts accepted messages (src/metrics). */
  metrics?: ApiMetricsOptions;
  /** The listener streams' settings (`herald listen`, `herald tail`); default {@link LISTEN_DEFAULTS}. */
  listen?: Partial<ListenOptions>;
  /** The consumer portal at `/portal` (who may frame it; where its build is). */
  portal?: PortalOptions;
  /** The operator dashboard at `/dashboard` (where its build is). */
  dashboard?: DashboardOptions;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The runner of this API's background tasks: started when the server is ready, stopped at close. */
    tasks: TaskRunner;
  }
}

/** What `GET /metrics` serves, and who may read it. */
export interface ApiMetricsOptions {
  /** The Prometheus text of every registry of the process. */
  render(): Promise<string>;
  /** Counts a message accepted through `POST /api/v1/app/{app}/msg`. */
  accepted(eventType: string): void;
  /** Readable without a token (`--metrics-public`); otherwise the admin token is asked for. */
  public: boolean;
}

/**
 * A body's own object is one level; each of its fields (a message's payload, an event
 * type's schemas) may nest {@link JSON_DEPTH_LIMIT} levels, as a body of the inbound gateway
 * may, so the same payload is taken or refused through either.
 */
const BODY_DEPTH_LIMIT = JSON_DEPTH_LIMIT + 1;

/** The JSON Pointer of `path`, as ajv writes `instancePath` (`/` and `~` escaped). */
function pointerTo(path: string[]): string {
  return path.map((p) => `/${p.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** A 422 in the shape of a schema failure, naming the field that nests too deeply. */
function tooDeepError({ field }: TooDeep): Error {
  const [where, limit] = field === null ? ['body', BODY_DEPTH_LIMIT] : [field, JSON_DEPTH_LIMIT];
  return Object.assign(new Error(`${where}: nests deeper than ${limit} levels`), {
    statusCode: 422,
    validationContext: 'body',
    validation: [
      {
        instancePath: field === null ? '' : pointerTo([field]),
        message: `nests deeper than ${limit} levels of arrays and objects`,
        keyword: 'maxDepth',
      },
    ],
  });
}

/** A 422 in the shape of a schema failure, naming the text field that holds U+0000. */
function nulError(path: string[]): Error {
  const where = path.length === 0 ? 'body' : path.join('.');
  return Object.assign(new Error(`${where}: holds a NUL character (U+0000)`), {
    statusCode: 422,
    validationContext: 'body',
    validation: [
      {
        instancePath: pointerTo(path),
        message: 'must not hold a NUL character (U+0000)',
        keyword: 'noNul',
      },
    ],
  });
}

/** The part of ajv that {@link refuseUnsupported} uses (ajv is Fastify's, not a dependency of ours). */
interface AjvKeywords {
  addKeyword(definition: {
    keyword: string;
    schemaType: 'object';
    errors: true;
    validate: (spec: Unsupported, data: unknown) => boolean;
  }): unknown;
}

/**
 * Teaches ajv the keyword of a Svix field Herald does not honour (`NotInHerald` in
 * schemas.ts): any value but those it accepts is refused, saying so and what to do instead.
 */
function refuseUnsupported<A extends AjvKeywords>(ajv: A): A {
  const validate = Object.assign(
    (spec: Unsupported, data: unknown): boolean => {
      if (spec.accepts.some((value) => isDeepStrictEqual(value, data))) return true;
      const only = spec.accepts.length
        ? ` beyond ${spec.accepts.map((v) => JSON.stringify(v)).join(' or ')}`
        : '';
      validate.errors = [
        { keyword: 'unsupported', message: `is not supported by Herald${only}: ${spec.instead}`, params: {} },
      ];
      return false;
    },
    { errors: undefined as object[] | undefined },
  );
  ajv.addKeyword({ keyword: UNSUPPORTED_KEYWORD, schemaType: 'object', errors: true, validate });
  return ajv;
}

/** Keywords whose value is a schema, or a list or map of schemas. */
const ONE_SCHEMA = ['items', 'additionalProperties', 'not', 'contains', 'if', 'then', 'else'];
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const SCHEMA_MAPS = ['properties', 'patternProperties'];

/**
 * Closes every object of a request body schema that does not say otherwise, in place: a
 * field Herald does not know gets 422 naming it rather than being taken and ignored. What
 * stays open says so (`additionalProperties: true` on a payload, an event type's schemas);
 * maps (`metadata`, `headers`) have `patternProperties` and are left as they are.
 */
export function closeObjects(schema: unknown): void {
  if (schema === null || typeof schema !== 'object') return;
  const node = schema as Record<string, unknown>;
  if (
    node.type === 'object' &&
    node.properties !== undefined &&
    node.additionalProperties === undefined &&
    node.patternProperties === undefined
  )
    node.additionalProperties = false;
  for (const key of ONE_SCHEMA) closeObjects(node[key]);
  for (const key of SCHEMA_LISTS) if (Array.isArray(node[key])) for (const s of node[key]) closeObjects(s);
  for (const key of SCHEMA_MAPS) for (const s of Object.values(node[key] ?? {})) closeObjects(s);
}

/**
 * Where the browser finds everything of `/docs`: Herald itself, nothing from another origin
 * (Swagger UI's own default also allows fonts and styles from any https origin).
 */
const DOCS_CSP =
  "default-src 'self'; base-uri 'self'; connect-src 'self'; font-src 'self' data:; form-action 'self'; frame-ancestors 'self'; img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self'";

/** Herald's name in the viewer's top bar, where Swagger UI would show Fastify's logo. */
const DOCS_LOGO = {
  type: 'image/svg+xml',
  content: Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="110" height="40"><text x="0" y="29" fill="#fff" font-family="sans-serif" font-size="26" font-weight="700">Herald</text></svg>',
  ),
};

/** How long an idempotency key holds its first answer. */
export const IDEMPOTENCY_WINDOW_MS = 12 * 3_600_000;
const IDEMPOTENCY_KEY_MAX = 256;

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: { key: string; hash: string };
  }
  interface FastifyContextConfig {
    /**
     * `false` on routes whose answer carries a credential (a token): their answer is never
     * stored, so an idempotency key is not honoured there and a repeat mints a new one.
     */
    idempotent?: boolean;
  }
}

/** Builds the API server (not listening yet). */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const maxPayloadBytes = options.maxPayloadBytes ?? 1024 * 1024;
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    // Room for the envelope around a payload of the maximum size; the payload itself is
    // measured exactly in the message route.
    bodyLimit: maxPayloadBytes + 64 * 1024,
    // Nothing is removed from a body: an unknown field is refused (closeObjects), not dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false }, plugins: [refuseUnsupported] },
    // No log line per request: at webhook volumes that is most of the log. Errors are
    // logged by our error handler.
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<TypeBoxTypeProvider>();
  // close() closes idle keep-alive sockets once, when it starts; a socket whose request was
  // still in flight then would stay open until its keep-alive timeout (72 s) and hold the
  // stop. Close each as soon as it turns idle.
  let idleSweep: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    idleSweep = setInterval(() => app.server.closeIdleConnections(), 50);
  });
  app.addHook('onClose', async () => clearInterval(idleSweep));
  app.addHook('onRoute', (route) => {
    closeObjects(route.schema?.body);
    // A query parameter no route of /api/v1 knows is a 422 naming it, never ignored: a route
    // without a query schema takes none.
    if (route.url.startsWith('/api/v1')) {
      route.schema ??= {};
      route.schema.querystring ??= Type.Object({});
      closeObjects(route.schema.querystring);
    }
  });
  const store = options.store;
  const clock = options.clock ?? systemClock;
  const auth = new Authenticator(store, clock);
  const given = options.publicUrl ?? '';
  const tasks = new TaskRunner({
    store,
    clock,
    ...(options.logger ? { logger: options.logger } : {}),
    ...options.tasks,
    handlers: [...ENDPOINT_TASKS, ...APPLICATION_TASKS, ...(options.tasks?.handlers ?? [])],
  });
  app.decorate('tasks', tasks);
  // Tasks a stopped or dead runner left are taken over once the server is ready; at close,
  // the batches under way finish and their tasks are given back for the next runner.
  app.addHook('onReady', async () => {
    tasks.start();
  });
  app.addHook('onClose', async () => tasks.stop());
  const ctx: RouteContext = {
    store,
    maxPayloadBytes,
    publicUrl: typeof given === 'string' ? () => given : given,
    clock,
    tasks,
  };

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Herald API',
        version: options.version ?? '0.1.0',
        description: 'Self-hosted webhooks. Routes under /api/v1 follow the Svix API v1.',
      },
      components: { securitySchemes: { HTTPBearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ HTTPBearer: [] }],
    },
  });
  // Frames a listen client sends are results (a body excerpt of 20,000 bytes and some fields):
  // anything far larger is not one, and is refused before it is buffered.
  await app.register(websocket, { options: { maxPayload: 256 * 1024 } });
  app.setErrorHandler(handleError);
  // The API speaks JSON only; any other body type is a 415. A body that is not valid UTF-8
  // is refused rather than decoded with U+FFFD in place of its bad bytes, which would store
  // something other than what was sent.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(
        Object.assign(new Error('body: is not valid UTF-8'), { statusCode: 400, code: 'invalid_utf8' }),
        undefined,
      );
      return;
    }
    // Measured on the text, before ajv and the routes recurse into the value.
    const tooDeep = findTooDeep(text, BODY_DEPTH_LIMIT);
    if (tooDeep) {
      done(tooDeepError(tooDeep), undefined);
      return;
    }
    parseJson(request, text, (error: Error | null, value?: unknown) => {
      const nul = error ? null : findNul(value);
      if (nul) done(nulError(nul), undefined);
      else done(error, value);
    });
  });
  // No id, uid, name or parameter holds U+0000 (PostgreSQL's text cannot, see core/nul.ts):
  // a URL that spells one is refused before any route or store sees it.
  app.addHook('onRequest', async (request, reply) => {
    if (!/%00/.test(request.url)) return;
    return reply.status(400).send({
      code: 'nul_in_url',
      detail: 'the URL holds a NUL character (%00), which no id or parameter may',
    });
  });
  // With tracing on, a request's writes have its `traceparent` as their cause: the operational
  // events they emit join the caller's trace (src/store/cause.ts). Each request gets a scope
  // of its own, `null` when it sent none, so that none inherits another's. Run at preHandler,
  // after the body is read (a stream's callbacks run outside the hook's scope).
  if (tracing())
    app.addHook('preHandler', (request, _reply, done) => withCause(callerContext(request.headers), done));
  registerCors(app, options.corsOrigins ?? [ANY_ORIGIN]);
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    // A Svix route Herald has not built answers 501 saying so; only other paths are a 404.
    const unbuilt = notBuilt(request.method, path);
    if (unbuilt) return reply.status(501).send(unbuilt);
    return reply.status(404).send({ code: 'not_found', detail: `no route ${request.method} ${path}` });
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  // The same document in a browser, public as the document is: Swagger UI's files come from
  // the package, so /docs works offline and loads nothing from a CDN.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: DOCS_CSP,
    uiConfig: { deepLinking: true, tryItOutEnabled: false, persistAuthorization: false },
    theme: { title: 'Herald API' },
    logo: DOCS_LOGO,
  });

  const metrics = options.metrics;
  if (metrics) {
    app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
      if (!metrics.public) requireAdmin(await auth.authenticate(request));
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await metrics.render());
    });
    app.addHook('onResponse', (request, reply, done) => {
      if (
        reply.statusCode === 202 &&
        request.method === 'POST' &&
        request.routeOptions.url === '/api/v1/app/:app_id/msg' &&
        reply.getHeader('idempotent-replayed') === undefined
      )
        metrics.accepted(String((request.body as { eventType?: unknown }).eventType));
      done();
    });
  }

  await app.register(healthRoutes, {
    prefix: '/api/v1',
    store,
    dispatcher: options.dispatcher ?? (() => 'notapplicable'),
  });
  await app.register(probeRoutes, { store });
  // Where the links of auth/app-portal-access lead: the consumer portal (web/portal).
  await app.register(portalRoutes, options.portal ?? {});
  // The operator dashboard (web/dashboard): the admin token's page on the same public API.
  await app.register(dashboardRoutes, options.dashboard ?? {});

  // The inbound gateway: public, raw bodies, verified by each source's provider scheme.
  await app.register(inboundRoutes({ store, maxBodyBytes: maxPayloadBytes }));

  await app.register(
    async (api) => {
      api.addHook('onRequest', async (request) => {
        request.principal = await auth.authenticate(request);
        const route = request.routeOptions.url ?? '';
        requireWritable(request.principal, request.method, route);
        requireCapability(request.principal.capabilities, request.method, route);
        refuseReservedApp(request);
      });

      api.addHook('preHandler', async (request, reply) => {
        const key = request.headers['idempotency-key'];
        if (request.method !== 'POST' || typeof key !== 'string' || key === '') return;
        if (request.routeOptions.config.idempotent === false) return;
        if (key.length > IDEMPOTENCY_KEY_MAX) {
          throw new ValidationError('idempotency-key', `must be at most ${IDEMPOTENCY_KEY_MAX} characters`);
        }
        // The body's depth was bounded by the JSON parser, so this stringify cannot overflow.
        const hash = createHash('sha256')
          .update(`${request.url}\n${JSON.stringify(request.body ?? null)}`)
          .digest('hex');
        const found = await store.getIdempotent(
          request.principal.scope,
          key,
          Date.now() - IDEMPOTENCY_WINDOW_MS,
        );
        if (found) {
          if (found.requestHash !== hash)
            throw new ConflictError('idempotency-key was used with a different request');
          reply.header('idempotent-replayed', 'true').type('application/json').status(found.statusCode);
          return reply.send(found.response === '' ? undefined : found.response);
        }
        request.idempotency = { key, hash };
      });

      api.addHook('onSend', async (request, reply, payload) => {
        const pending = request.idempotency;
        if (pending && reply.statusCode >= 200 && reply.statusCode < 300) {
          const now = Date.now();
          await store.saveIdempotent(
            request.principal.scope,
            pending.key,
            {
              requestHash: pending.hash,
              statusCode: reply.statusCode,
              response: typeof payload === 'string' ? payload : '',
              createdAt: now,
            },
            now - IDEMPOTENCY_WINDOW_MS,
          );
        }
        return payload;
      });

      await api.register(applicationRoutes, ctx);
      await api.register(eventTypeRoutes, ctx);
      await api.register(endpointRoutes, ctx);
      await api.register(transformationRoutes, ctx);
      await api.register(messageRoutes, ctx);
      await api.register(contentRoutes, ctx);
      await api.register(sourceRoutes, ctx);
      await api.register(backgroundTaskRoutes, ctx);
      await api.register(operationalWebhookRoutes, ctx);
      await api.register(activityRoutes, ctx);
      await api.register(searchRoutes, ctx);
      await api.register(failureRoutes, ctx);
      await api.register(listenRoutes, { ...ctx, ...(options.listen ? { listen: options.listen } : {}) });

      await api.register(authRoutes, ctx);
    },
    { prefix: '/api/v1' },
  );
  return app as unknown as FastifyInstance;
}

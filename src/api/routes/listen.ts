/**
 * `herald listen`, `herald tail`: a listener endpoint opened by name (`PUT …/listener/{name}`),
 * its deliveries handed over a WebSocket that the client opens (`GET …/listener/{name}/listen`:
 * outbound from the laptop, so it works behind NAT), and the attempts of an application as they
 * are committed, as Server-Sent Events (`GET …/attempt/stream`). Each takes an application or
 * admin token for that application, and new streams are limited per application per minute.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type {} from '@fastify/websocket';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import Type from 'typebox';
import type { WebSocket } from 'ws';
import { ValidationError } from '../../core/errors.js';
import { checkNameList } from '../../core/rules.js';
import type { Application } from '../../core/types.js';
import type { HeaderStyle } from '../../delivery/config.js';
import {
  BadFrameError,
  LISTENER_STREAM_DEFAULTS,
  ListenerStream,
  type ResultFrame,
} from '../../delivery/listener-stream.js';
import { appOf, eventTypesParam, type RouteContext } from '../context.js';
import { ForbiddenError, TooManyRequestsError } from '../errors.js';
import { AppParams } from '../schemas.js';
import { attemptOut } from '../serialize.js';

/** Options of the listener routes (`herald serve` passes its own). */
export interface ListenOptions {
  headerStyle: HeaderStyle;
  userAgent: string;
  /** New listen or tail streams per application per minute at most. */
  connectionsPerMinute: number;
  /** Deliveries handed and unanswered per listen connection at most. */
  maxInFlight: number;
  /** Lease of a handed delivery (ms): how soon one handed to a vanished client is handed again. */
  leaseMs: number;
}

/** Defaults of {@link ListenOptions}. */
export const LISTEN_DEFAULTS: ListenOptions = {
  headerStyle: 'standard',
  userAgent: 'Herald/0.1.0',
  connectionsPerMinute: 30,
  maxInFlight: LISTENER_STREAM_DEFAULTS.maxInFlight,
  leaseMs: LISTENER_STREAM_DEFAULTS.leaseMs,
};

/** WebSocket close codes the client reads (4000-4999 are the application's). */
export const CLOSE_CODES = {
  /** The listener of this name is connected elsewhere (this process, or on PostgreSQL another). */
  taken: 4409,
  /** A frame the server cannot take. */
  badFrame: 1008,
  /** The server is shutting down: reconnect. */
  goingAway: 1001,
  /** The name is not one a listener may have. */
  badName: 4422,
} as const;

const ListenerParams = Type.Object({
  app_id: Type.String(),
  name: Type.String({
    pattern: '^[a-zA-Z0-9\\-_.]{1,256}$',
    description: 'The listener name: 1 to 256 of a-z A-Z 0-9 - _ .',
  }),
});
const ListenerIn = Type.Object({
  filterTypes: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
});
const StreamQuery = Type.Object({
  endpoint: Type.Optional(Type.String()),
  event_types: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
});

/** Counts new streams per application in the current minute. */
class ConnectionBudget {
  private readonly windows = new Map<string, { start: number; count: number }>();
  constructor(private readonly perMinute: number) {}

  /** Takes one, or throws 429 saying when to try again. */
  take(appId: string, now: number): void {
    let w = this.windows.get(appId);
    if (!w || now - w.start >= 60_000) {
      // Old windows go as new ones come, so the map holds the applications of the last minute.
      if (this.windows.size > 10_000) this.windows.clear();
      w = { start: now, count: 0 };
      this.windows.set(appId, w);
    }
    if (w.count >= this.perMinute) {
      const wait = Math.ceil((w.start + 60_000 - now) / 1000);
      throw new TooManyRequestsError(
        `more than ${this.perMinute} listen or tail streams for this application in a minute; try again in ${wait} s`,
      );
    }
    w.count++;
  }
}

/** A full token: a stream writes attempts, so read-only and portal (capability) tokens may not open one. */
function requireFull(request: FastifyRequest): void {
  const p = request.principal;
  if (p.readOnly || p.capabilities !== null)
    throw new ForbiddenError(
      'a listen or tail stream needs an application or admin token without readOnly or capabilities',
    );
}

/** The listener routes; see the module comment. */
export const listenRoutes: FastifyPluginAsyncTypebox<
  RouteContext & { listen?: Partial<ListenOptions> }
> = async (api, options) => {
  const ctx = options;
  const listen = { ...LISTEN_DEFAULTS, ...options.listen };
  const budget = new ConnectionBudget(listen.connectionsPerMinute);
  /** Listener endpoints with a connection in this process: a second one is refused. */
  const connected = new Map<string, WebSocket>();
  const sockets = new Set<WebSocket>();
  /** The application a stream's pre-handler checked, for its handler. */
  const listenApps = new WeakMap<FastifyRequest, Application>();
  /** Open attempt streams: ended when the server closes, which would otherwise wait for them. */
  const streams = new Set<{ end(): void }>();
  api.addHook('preClose', async () => {
    for (const s of sockets) s.close(CLOSE_CODES.goingAway, 'server shutting down');
    for (const r of streams) r.end();
  });

  api.put(
    '/app/:app_id/listener/:name',
    {
      schema: {
        tags: ['Listener'],
        summary: 'Open a listener endpoint (herald listen)',
        description:
          'Creates the listener endpoint of this name, or takes it up again (enabled, these filter types): same id and secret for the same name.',
        params: ListenerParams,
        body: ListenerIn,
      },
    },
    async (request) => {
      requireFull(request);
      const app = await appOf(ctx, request, request.params.app_id);
      // Left out, the filters stay as they were (all, for a new listener); [] or null: all.
      const given = request.body.filterTypes;
      const filterTypes =
        given === undefined
          ? undefined
          : given === null || given.length === 0
            ? null
            : checkNameList('filterTypes', given, Number.POSITIVE_INFINITY);
      const endpoint = await ctx.store.openListener(app.id, request.params.name, filterTypes);
      return {
        endpointId: endpoint.id,
        name: endpoint.listener,
        secret: endpoint.secrets[0]!.key,
        filterTypes: endpoint.filterTypes,
      };
    },
  );

  api.get(
    '/app/:app_id/listener/:name/listen',
    {
      websocket: true,
      schema: { hide: true, params: ListenerParams },
      // Checked before the upgrade: a refused stream gets an HTTP answer saying why.
      preHandler: async (request) => {
        requireFull(request);
        const app = await appOf(ctx, request, (request.params as { app_id: string }).app_id);
        budget.take(app.id, ctx.clock.now());
        listenApps.set(request, app);
      },
    },
    async (socket, request) => {
      const app = listenApps.get(request)!;
      listenApps.delete(request);
      const { name } = request.params as { name: string };
      sockets.add(socket);
      let stream: ListenerStream | null = null;
      let endpointId: string | null = null;
      /** Gives back the hold on the name across processes (PostgreSQL), once taken. */
      let giveBack: (() => void) | null = null;
      socket.on('close', () => {
        sockets.delete(socket);
        if (endpointId !== null && connected.get(endpointId) === socket) connected.delete(endpointId);
        giveBack?.();
        void stream?.close();
      });
      const endpoint = await openedListener(app.id, name);
      if (!endpoint) {
        socket.close(CLOSE_CODES.badName, `${name.slice(0, 64)} is not a listener name`);
        return;
      }
      if (connected.has(endpoint.id)) {
        socket.close(CLOSE_CODES.taken, `listener ${name.slice(0, 64)} is connected from elsewhere`);
        return;
      }
      if (socket.readyState !== socket.OPEN) return;
      endpointId = endpoint.id;
      connected.set(endpoint.id, socket);
      if (ctx.store.holdListener) {
        const held = await ctx.store.holdListener(endpoint.id).catch((error: Error) => {
          request.log.warn({ err: error }, 'listener stream: could not take the listener name');
          socket.close(CLOSE_CODES.goingAway, 'the database is unavailable; reconnect');
          return undefined;
        });
        if (held === undefined) return;
        if (held === null) {
          socket.close(
            CLOSE_CODES.taken,
            `listener ${name.slice(0, 64)} is connected to another Herald process`,
          );
          return;
        }
        giveBack = held;
        // Closed while the hold was taken: its close handler ran before there was one to give back.
        if (socket.readyState !== socket.OPEN) return void held();
      }
      const s = new ListenerStream({
        store: ctx.store,
        endpoint,
        clock: ctx.clock,
        headerStyle: listen.headerStyle,
        userAgent: listen.userAgent,
        leaseMs: listen.leaseMs,
        maxInFlight: listen.maxInFlight,
        logger: request.log as unknown as Logger,
        send: (frame) => socket.send(JSON.stringify(frame)),
      });
      stream = s;
      socket.on('message', (data) => {
        try {
          const frame = JSON.parse(String(data)) as ResultFrame;
          if (frame?.type !== 'result') throw new BadFrameError('frames are {"type":"result", …}');
          s.result(frame);
        } catch (error) {
          socket.close(CLOSE_CODES.badFrame, (error as Error).message.slice(0, 120));
        }
      });
      socket.send(JSON.stringify({ type: 'hello', endpointId: endpoint.id, appId: app.id, name }));
      s.start();
    },
  );

  /** The listener endpoint of this name, as opened by PUT (null if it was never opened). */
  async function openedListener(appId: string, name: string) {
    try {
      // Opening again is idempotent and marks it seen; it was opened by the PUT before this.
      const endpoint = await ctx.store.openListener(appId, name);
      return endpoint;
    } catch (error) {
      if (error instanceof ValidationError) return null;
      throw error;
    }
  }

  api.get(
    '/app/:app_id/attempt/stream',
    {
      schema: {
        // Left out of /openapi.json: a stream never ends, so the suites that call every route
        // of the document (with adversarial ids that may name a real application) would wait on it.
        hide: true,
        tags: ['Listener'],
        summary: "Stream an application's attempts as they happen (herald tail)",
        description:
          'Server-Sent Events: one `attempt` event per attempt committed (on PostgreSQL, by any Herald process of the database), JSON data (an attempt as the attempt lists give it, with eventType and the next try).',
        params: AppParams,
        querystring: StreamQuery,
      },
    },
    async (request, reply) => {
      requireFull(request);
      const app = await appOf(ctx, request, request.params.app_id);
      const types = eventTypesParam(request.query.event_types);
      let endpointId: string | undefined;
      if (request.query.endpoint !== undefined) {
        const e = await ctx.store.getEndpoint(app.id, request.query.endpoint);
        if (!e)
          throw new ValidationError('endpoint', `no endpoint ${request.query.endpoint} in this application`);
        endpointId = e.id;
      }
      budget.take(app.id, ctx.clock.now());
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      // Writes wait in order; a reader too slow to keep up past this many is cut off.
      let queued = 0;
      const off = await ctx.store.onAttempts((events) => {
        const mine = events.filter(
          (e) =>
            e.attempt.appId === app.id && (endpointId === undefined || e.attempt.endpointId === endpointId),
        );
        if (mine.length === 0) return;
        if (queued > 1_000) {
          raw.end();
          return;
        }
        queued++;
        void ctx.store
          .getMessages(
            app.id,
            mine.map((e) => e.attempt.msgId),
          )
          .then((messages) => {
            const typeOf = new Map(messages.map((m) => [m.id, m.eventType]));
            for (const e of mine) {
              const eventType = typeOf.get(e.attempt.msgId) ?? null;
              if (types && (eventType === null || !types.includes(eventType))) continue;
              const data = {
                ...attemptOut(e.attempt),
                eventType,
                deliveryStatus: e.next.status,
                nextAttempt: e.next.status === 'pending' ? new Date(e.next.dueAt).toISOString() : null,
              };
              raw.write(`event: attempt\nid: ${e.attempt.id}\ndata: ${JSON.stringify(data)}\n\n`);
            }
          })
          .catch((error) => request.log.warn({ err: error }, 'attempt stream: reading messages failed'))
          .finally(() => queued--);
      });
      if (raw.destroyed) {
        // The reader left while the store began listening.
        off();
        return;
      }
      // Said once listening: `herald tail` prints that it is tailing on this line.
      raw.write(': connected\n\n');
      const beat = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
      const stop = () => {
        off();
        clearInterval(beat);
      };
      streams.add(raw);
      raw.on('close', () => {
        streams.delete(raw);
        stop();
      });
    },
  );
};

/**
 * The server side of one `herald listen` connection: it claims its listener endpoint's due
 * deliveries (`Store.claimListener`, under a lease), hands each to the client as a frame with
 * the exact body and headers a POST would carry, and records the answer the client reports
 * (status, duration, body excerpt, or the local connection error) as the attempt's result
 * through the dispatcher's recorder: same attempt log, same retries (on a short development
 * schedule). At most `maxInFlight` deliveries are handed and unanswered at once, so neither
 * side holds more. A delivery handed to a client that vanishes is given back when the
 * connection closes, or, if this process dies, is due again when its lease ends.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { pino } from 'pino';
import type { Clock } from '../core/clock.js';
import { recordedHeaders } from '../core/headers.js';
import { newId } from '../core/ids.js';
import { judge, nextState } from '../core/retry.js';
import type { Attempt, AttemptErrorKind, Endpoint } from '../core/types.js';
import type { ClaimedDelivery, Store } from '../store/store.js';
import type { HeaderStyle } from './config.js';
import { EndpointCache } from './endpoint-cache.js';
import { Recorder } from './recorder.js';
import { requestHeaders } from './request-headers.js';

/** Retry delays of a listener's deliveries after the first try: a laptop's server restarts in seconds. */
export const LISTENER_RETRY_SCHEDULE_MS = [1_000, 5_000, 15_000, 60_000, 300_000] as const;

/** Defaults of {@link ListenerStreamOptions}. */
export const LISTENER_STREAM_DEFAULTS = {
  /** How long a handed delivery stays with this connection before another may take it. */
  leaseMs: 60_000,
  /** Deliveries handed and not yet answered, per connection, at most. */
  maxInFlight: 16,
  /** How often due retries are looked for without a wake-up (ms). */
  recheckMs: 1_000,
  /** Response bytes kept per attempt, as the sender keeps. */
  maxResponseBytes: 20_000,
} as const;

/** A delivery as the client receives it. */
export interface DeliveryFrame {
  type: 'delivery';
  /** The delivery's id: the client's result names it. */
  id: string;
  msgId: string;
  eventType: string;
  /** Attempts made before this one. */
  attempts: number;
  headers: Record<string, string>;
  /** The payload, byte for byte as stored and signed. */
  body: string;
}

/** What the client reports of one delivery it forwarded. */
export interface ResultFrame {
  type: 'result';
  id: string;
  statusCode: number | null;
  durationMs: number;
  body: string;
  errorKind: string | null;
  errorMessage: string | null;
}

/** Kinds of local failure a client may report; any other is taken as `network`. */
const CLIENT_ERROR_KINDS: ReadonlySet<AttemptErrorKind> = new Set([
  'timeout',
  'connection_refused',
  'connection_reset',
  'invalid_response',
  'dns',
  'network',
]);

/** Options of {@link ListenerStream}. */
export interface ListenerStreamOptions {
  store: Pick<Store, 'claimListener' | 'complete' | 'release' | 'getEndpoint' | 'onWake'>;
  endpoint: Endpoint;
  clock: Clock;
  /** Hands a frame to the client (the socket's send). */
  send(frame: DeliveryFrame): void;
  headerStyle: HeaderStyle;
  userAgent: string;
  logger?: Logger;
  leaseMs?: number;
  maxInFlight?: number;
  recheckMs?: number;
  /** Exhausted deliveries for this long with no success disable the endpoint, as the dispatcher's. */
  autoDisableAfterMs?: number;
  /** A number in [0, 1) for the retries' jitter. */
  random?: () => number;
}

/** A result frame that cannot be taken (unknown delivery, bad fields): the connection is closed. */
export class BadFrameError extends Error {}

/** One connection's claims, hand-overs and results; see the module comment. */
export class ListenerStream {
  /** The lease owner of this connection. */
  readonly owner = `listen-${randomUUID()}`;
  private readonly handed = new Map<
    string,
    { delivery: ClaimedDelivery; headers: Record<string, string>; at: number }
  >();
  private readonly recorder: Recorder;
  private readonly endpoints: EndpointCache;
  private readonly logger: Logger;
  private readonly leaseMs: number;
  private readonly maxInFlight: number;
  private unsubscribe: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private again = false;
  private closed = false;

  constructor(private readonly options: ListenerStreamOptions) {
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.leaseMs = options.leaseMs ?? LISTENER_STREAM_DEFAULTS.leaseMs;
    this.maxInFlight = options.maxInFlight ?? LISTENER_STREAM_DEFAULTS.maxInFlight;
    this.endpoints = new EndpointCache(options.store);
    this.recorder = new Recorder({
      store: options.store,
      clock: options.clock,
      logger: this.logger,
      workerId: this.owner,
      batchSize: this.maxInFlight,
      autoDisableAfterMs: options.autoDisableAfterMs ?? 5 * 86_400_000,
      committed: () => undefined,
      retryScheduled: () => this.pump(),
    });
  }

  /** Deliveries handed and not answered yet. */
  get inFlight(): number {
    return this.handed.size;
  }

  /** Starts handing deliveries: now, on each wake-up naming the endpoint, and every `recheckMs`. */
  start(): this {
    const id = this.options.endpoint.id;
    this.unsubscribe = this.options.store.onWake((ids) => {
      if (ids === null || ids.includes(id)) this.pump();
    });
    this.timer = setInterval(() => this.pump(), this.options.recheckMs ?? LISTENER_STREAM_DEFAULTS.recheckMs);
    this.timer.unref();
    this.pump();
    return this;
  }

  /** Claims and hands what is due, while room is left; one claim at a time. */
  pump(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = this.claim()
      .catch((error) =>
        this.logger.error({ err: error, endpointId: this.options.endpoint.id }, 'listener claim failed'),
      )
      .finally(() => {
        this.pumping = null;
        if (this.again) {
          this.again = false;
          this.pump();
        }
      });
  }

  private async claim(): Promise<void> {
    const room = this.maxInFlight - this.handed.size;
    if (room <= 0) return;
    const { endpoint, clock } = this.options;
    const now = clock.now();
    const claimed = await this.options.store.claimListener({
      endpointId: endpoint.id,
      owner: this.owner,
      now,
      leaseMs: this.leaseMs,
      limit: room,
    });
    for (const delivery of claimed) {
      if (this.closed) {
        this.recorder.giveBack(delivery.id, clock.now());
        continue;
      }
      const prepared = await this.endpoints.get(
        delivery.appId,
        delivery.endpointId,
        delivery.endpointVersion,
      );
      if (!prepared || prepared.endpoint.disabled || delivery.payload === null) {
        // Nothing to hand: the dispatcher's rule, a disabled endpoint's delivery fails untried.
        this.recorder.finish({
          owner: this.owner,
          deliveryId: delivery.id,
          endpointId: delivery.endpointId,
          attempt: null,
          next: { status: 'failed', exhausted: false },
          disableEndpoint: false,
        });
        continue;
      }
      const at = clock.now();
      const headers = requestHeaders(prepared, delivery, delivery.payload, at, this.options);
      this.handed.set(delivery.id, { delivery, headers, at });
      this.options.send({
        type: 'delivery',
        id: delivery.id,
        msgId: delivery.msgId,
        eventType: delivery.eventType,
        attempts: delivery.attempts,
        headers,
        body: delivery.payload,
      });
    }
    // A full batch may have left more behind.
    if (claimed.length === room) this.again = true;
  }

  /** Records the client's report of one handed delivery; throws {@link BadFrameError} for a bad one. */
  result(frame: ResultFrame): { attempt: Attempt; delivery: ClaimedDelivery } {
    const held = this.handed.get(frame.id);
    if (!held)
      throw new BadFrameError(`no delivery ${String(frame.id).slice(0, 64)} is handed to this connection`);
    const status = frame.statusCode;
    if (status !== null && !(Number.isInteger(status) && status >= 100 && status <= 599))
      throw new BadFrameError('statusCode must be a status from 100 to 599, or null');
    if (typeof frame.durationMs !== 'number' || !Number.isFinite(frame.durationMs) || frame.durationMs < 0)
      throw new BadFrameError('durationMs must be a number from 0');
    this.handed.delete(frame.id);
    const { delivery, headers, at } = held;
    const errorKind: AttemptErrorKind | null =
      status !== null
        ? status >= 200 && status < 300
          ? null
          : 'http_status'
        : CLIENT_ERROR_KINDS.has(frame.errorKind as AttemptErrorKind)
          ? (frame.errorKind as AttemptErrorKind)
          : 'network';
    // A laptop's answers neither throttle nor disable: 410 or 503 from a local server under
    // development is a failed attempt, retried on the short schedule.
    const verdict = { ...judge(status, errorKind), throttle: false, disableEndpoint: false };
    const now = this.options.clock.now();
    const { next } = nextState({
      verdict: verdict.succeeded || verdict.retry ? verdict : { ...verdict, retry: true },
      attemptsMade: delivery.attempts + 1,
      schedule: LISTENER_RETRY_SCHEDULE_MS,
      retryAfterMs: null,
      random: (this.options.random ?? Math.random)(),
      now,
    });
    const body =
      typeof frame.body === 'string' ? frame.body.slice(0, LISTENER_STREAM_DEFAULTS.maxResponseBytes) : '';
    const attempt: Attempt = {
      id: newId('atmpt', at),
      deliveryId: delivery.id,
      msgId: delivery.msgId,
      endpointId: delivery.endpointId,
      appId: delivery.appId,
      url: this.options.endpoint.url,
      trigger: delivery.trigger,
      succeeded: verdict.succeeded,
      statusCode: status,
      responseBody: body.replaceAll('\0', '\uFFFD'),
      durationMs: frame.durationMs,
      errorKind,
      errorMessage:
        typeof frame.errorMessage === 'string'
          ? frame.errorMessage.slice(0, 1_000).replaceAll('\0', '\uFFFD')
          : null,
      requestHeaders: recordedHeaders(headers, this.options.endpoint.headers),
      createdAt: at,
    };
    this.recorder.finish({
      owner: this.owner,
      deliveryId: delivery.id,
      endpointId: delivery.endpointId,
      attempt,
      next,
      disableEndpoint: false,
    });
    this.pump();
    return { attempt, delivery };
  }

  /** Stops: what was handed and not answered is due again now, for the next connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.pumping;
    const now = this.options.clock.now();
    for (const id of this.handed.keys()) this.recorder.giveBack(id, now);
    this.handed.clear();
    await this.recorder.drain();
  }
}

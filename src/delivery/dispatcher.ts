/**
 * The dispatcher: claims due deliveries in batches under a lease, sends them with bounded
 * concurrency (overall and per endpoint), records every attempt in batches, and schedules
 * the next try. It sleeps only when nothing is due, and wakes when the store says work
 * arrived, when capacity frees up, or at the next due time.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { recordedHeaders } from '../core/headers.js';
import { newId } from '../core/ids.js';
import { isOperationalApp } from '../core/operational.js';
import { judge, nextState, parseRetryAfter } from '../core/retry.js';
import type { Attempt } from '../core/types.js';
import type { ClaimedDelivery, DeliveryNext, DisabledEndpoint } from '../store/store.js';
import { endAttempt, spanContext, startAttempt, traceHeaders } from '../tracing/tracing.js';
import { TransformPool } from '../transform/pool.js';
import { TransformationError, type WebhookOut } from '../transform/sandbox.js';
import { EndpointBudget } from './budget.js';
import { type DispatcherConfig, type DispatcherOptions, resolveDispatcherConfig } from './config.js';
import { EndpointCache, type PreparedEndpoint } from './endpoint-cache.js';
import { Liveness } from './liveness.js';
import { type AttemptEvent, Recorder } from './recorder.js';
import { customHeaders, requestHeaders } from './request-headers.js';
import { HttpSender, type SendResult } from './sender.js';
import { Throttle } from './throttle.js';
import { WakeBackoff } from './wake-backoff.js';

/** A request gets at least this long, or is not started. */
const MIN_REQUEST_MS = 1_000;

/** Safety margin between a request's timeout and its lease expiry. */
const LEASE_MARGIN_MS = 5_000;

export type { AttemptEvent } from './recorder.js';

/** Events of {@link Dispatcher}, emitted after the store has committed them. */
export interface DispatcherEvents {
  attempt: [AttemptEvent];
  'endpoint.disabled': [DisabledEndpoint];
  error: [unknown];
}

/** Sends due deliveries; see the module comment. */
export class Dispatcher extends EventEmitter<DispatcherEvents> {
  readonly config: DispatcherConfig;
  /** When the loop last turned and until when it sleeps, for health checks (`liveness.ts`). */
  readonly liveness: Liveness;
  private readonly sender: HttpSender;
  private readonly endpoints: EndpointCache;
  private readonly shutdown = new AbortController();
  /** Deliveries held (queued locally or sending), overall and per endpoint. */
  private readonly budget = new EndpointBudget((endpointId) => this.budgetOf(endpointId));
  private readonly endpointBudget: number;
  private readonly refillAt: number;
  private readonly queues = new Map<string, ClaimedDelivery[]>();
  private readonly sendingPerEndpoint = new Map<string, number>();
  private readonly throttle = new Throttle();
  /** Endpoints waiting for their rate limit's next slot, and the timer that pumps them then. */
  private readonly throttled = new Map<string, { cancel(): void }>();
  private readonly recorder: Recorder;
  /** The endpoints' transformations, run in worker threads (`transform/pool.ts`). */
  private readonly transformer = new TransformPool();
  private loop: Promise<void> | null = null;
  private stopping = false;
  private signalled = false;
  private wakeUp: (() => void) | null = null;
  private unsubscribe: (() => void) | null = null;
  private unsubscribeFresh: (() => void) | null = null;
  private readonly settled = new Set<Promise<void>>();
  /** When wake-ups from the store are answered (`wakeBackoffMs`). */
  private readonly wakeBackoff: WakeBackoff;
  /** The next claim answers a store wake-up. */
  private answeringWake = false;
  /** A wake-up held back by {@link answerWake}, answered when this timer fires. */
  private heldWake: NodeJS.Timeout | null = null;

  constructor(options: DispatcherOptions) {
    super();
    this.config = resolveDispatcherConfig(options);
    this.liveness = options.liveness ?? new Liveness();
    this.endpoints = new EndpointCache(this.config.store);
    // Every in-flight request listens for shutdown; hundreds at once are expected.
    setMaxListeners(0, this.shutdown.signal);
    this.endpointBudget = 2 * this.config.endpointConcurrency;
    this.wakeBackoff = new WakeBackoff(this.config.wakeBackoffMs);
    // Claim when a good share of capacity is free, so claims stay batched under load.
    this.refillAt = Math.max(1, Math.min(this.config.batchSize, Math.ceil(this.config.concurrency / 4)));
    this.recorder = new Recorder({
      ...this.config,
      committed: (events, disabled) => this.committed(events, disabled),
      // A due retry may now be earlier than the loop's timer.
      retryScheduled: () => this.signal(),
    });
    this.sender = new HttpSender({
      allowNetworks: this.config.allowNetworks,
      ...(this.config.resolver ? { resolver: this.config.resolver } : {}),
      maxResponseBytes: this.config.maxResponseBytes,
      maxTimeoutMs: 30_000,
      connectionsPerOrigin: this.config.endpointConcurrency,
    });
  }

  /** Starts claiming and sending. */
  start(): this {
    if (this.loop) return this;
    this.unsubscribe = this.config.store.onWake((endpointIds) => {
      // Work for saturated endpoints only cannot be claimed now; their completions wake us.
      if (endpointIds === null || endpointIds.some((id) => !this.budget.isSaturated(id))) this.answerWake();
    });
    this.unsubscribeFresh =
      this.config.store.standingClaims?.onFresh((owner, deliveries) => {
        if (owner === this.config.workerId) this.takeFresh(deliveries);
      }) ?? null;
    this.loop = this.run().catch((error) => {
      this.config.logger.error({ err: error }, 'dispatcher loop stopped');
      this.emit('error', error);
    });
    return this;
  }

  /** `null` while the loop is alive; else why it is not (see `liveness.ts`). */
  health(): string | null {
    return this.liveness.check(this.config.clock.now(), this.config.stallMs);
  }

  /** Deliveries this worker holds right now (queued or in flight). */
  get inFlight(): number {
    return this.budget.held;
  }

  /**
   * Answers a wake-up from the store: at once, or after the wait {@link WakeBackoff} sets
   * when this worker's last wake-ups found nothing (other workers take the work first); the
   * wake-ups heard meanwhile are answered by the same claim. Real time, not the dispatcher's
   * clock: this paces claims against the database, it schedules no delivery.
   */
  private answerWake(): void {
    // A held wake-up's claim will see this commit too.
    if (this.heldWake) return;
    const wait = this.wakeBackoff.waitFor(performance.now());
    if (wait === 0) {
      this.answeringWake = true;
      this.signal();
      return;
    }
    this.heldWake = setTimeout(() => {
      this.heldWake = null;
      this.answeringWake = true;
      this.signal();
    }, wait);
    this.heldWake.unref();
  }

  /** A held wake-up, answered now (by a claim about to start, or at once). */
  private releaseHeldWake(): boolean {
    if (!this.heldWake) return false;
    clearTimeout(this.heldWake);
    this.heldWake = null;
    this.answeringWake = true;
    return true;
  }

  /** Wakes the loop: work may be due or capacity freed. */
  private signal(): void {
    this.signalled = true;
    const wake = this.wakeUp;
    this.wakeUp = null;
    wake?.();
  }

  private waitForSignal(ms: number | null): Promise<void> {
    if (this.signalled || this.stopping) return Promise.resolve();
    this.liveness.sleeping(ms === null ? null : this.config.clock.now() + ms);
    return new Promise((resolve) => {
      const timer = ms === null ? null : this.config.clock.setTimer(() => this.signal(), ms);
      this.wakeUp = () => {
        timer?.cancel();
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const { store, clock, concurrency, batchSize } = this.config;
    while (!this.stopping) {
      this.liveness.turned(clock.now());
      const free = concurrency - this.budget.held;
      if (free < this.refillAt && this.budget.held > 0) {
        this.signalled = false;
        await this.waitForSignal(null);
        continue;
      }
      this.signalled = false;
      // This claim sees every commit whose wake-up was heard before it: it answers a held one.
      this.releaseHeldWake();
      const answering = this.answeringWake;
      this.answeringWake = false;
      const limit = Math.min(free, batchSize);
      const now = clock.now();
      let claimed: ClaimedDelivery[];
      /** When the next delivery left is due, if the claim said (`undefined`: ask the store). */
      let nextDue: number | null | undefined;
      try {
        const request = {
          owner: this.config.workerId,
          now,
          leaseMs: this.config.leaseMs,
          limit,
          skipEndpoints: this.budget.saturated(),
        };
        // With standing claims, what this claim could not fill stays open in the same
        // transaction: messages accepted next come straight here (StandingClaims.claim).
        if (store.standingClaims) claimed = await store.standingClaims.claim(request);
        else ({ claimed, nextDueAt: nextDue } = await store.claimDueAndNext(request));
      } catch (error) {
        this.config.logger.error({ err: error }, 'claiming deliveries failed; retrying in 1 s');
        await this.waitForSignal(1_000);
        continue;
      }
      for (const delivery of claimed) this.hold(delivery);
      this.wakeBackoff.claimed(claimed.length, answering, performance.now());
      if (claimed.length === limit || this.signalled) continue;
      const due = nextDue !== undefined ? nextDue : await store.nextDueAt().catch(() => null);
      if (due !== null && due > now) {
        const current = clock.now();
        if (due <= current) continue;
        await this.waitForSignal(Math.min(due - current, this.config.idleRecheckMs));
      } else {
        // Nothing due later (but for saturated endpoints, whose completions signal us), or,
        // with standing claims, due work left unclaimed because its endpoints are saturated.
        await this.waitForSignal(this.config.idleRecheckMs);
      }
    }
  }

  /** Deliveries that filled the standing claim, already leased to this worker. */
  private takeFresh(deliveries: ClaimedDelivery[]): void {
    if (this.stopping) {
      // Too late to start them: give them back at once rather than when the lease ends.
      for (const delivery of deliveries) this.giveBack(delivery);
      return;
    }
    // Work comes to this worker: it answers wake-ups at once again, a held one now.
    this.wakeBackoff.workArrived();
    if (this.releaseHeldWake()) this.signal();
    for (const delivery of deliveries) this.hold(delivery);
  }

  private hold(delivery: ClaimedDelivery): void {
    this.budget.take(delivery.endpointId);
    const queue = this.queues.get(delivery.endpointId);
    if (queue) queue.push(delivery);
    else this.queues.set(delivery.endpointId, [delivery]);
    this.pump(delivery.endpointId);
  }

  /** Deliveries of an endpoint held at most: fewer when its rate limit would keep them waiting. */
  private budgetOf(endpointId: string): number {
    const rate = this.endpoints.peek(endpointId)?.endpoint.rateLimit;
    return rate ? Throttle.budget(rate, this.endpointBudget) : this.endpointBudget;
  }

  /** Starts queued deliveries of an endpoint while its sending budget and rate limit allow. */
  private pump(endpointId: string): void {
    const queue = this.queues.get(endpointId);
    // Until the endpoint is loaded its rate limit is unknown: one attempt loads it, then pumps.
    const known = this.endpoints.peek(endpointId);
    while (queue && queue.length > 0) {
      const sending = this.sendingPerEndpoint.get(endpointId) ?? 0;
      if (sending >= this.config.endpointConcurrency) return;
      if (known === undefined && sending > 0) return;
      const rate = known?.endpoint.rateLimit;
      if (rate && this.waitForSlot(endpointId, rate, queue)) return;
      const delivery = queue.shift()!;
      this.sendingPerEndpoint.set(endpointId, sending + 1);
      const task = this.attempt(delivery, Boolean(rate))
        .catch((error) => {
          // An attempt never throws by design; if it does, give the delivery back.
          this.config.logger.error({ err: error, msgId: delivery.msgId }, 'attempt failed unexpectedly');
          this.giveBack(delivery);
        })
        .finally(() => {
          this.settled.delete(task);
          const left = (this.sendingPerEndpoint.get(endpointId) ?? 1) - 1;
          // Drop idle endpoints from the map, so it holds only endpoints with work.
          if (left > 0) this.sendingPerEndpoint.set(endpointId, left);
          else this.sendingPerEndpoint.delete(endpointId);
          this.letGo(endpointId);
          this.pump(endpointId);
        });
      this.settled.add(task);
    }
    if (queue && queue.length === 0) this.queues.delete(endpointId);
  }

  /**
   * True if the endpoint's next slot is still to come: it is pumped again then, and the queued
   * deliveries past the horizon go back to the store, each due at a slot of its own.
   */
  private waitForSlot(endpointId: string, rate: number, queue: ClaimedDelivery[]): boolean {
    const now = this.config.clock.now();
    if (!this.throttled.has(endpointId)) {
      const wait = this.throttle.take(endpointId, rate, now);
      if (wait === 0) return false;
      const timer = this.config.clock.setTimer(() => {
        this.throttled.delete(endpointId);
        this.pump(endpointId);
      }, wait);
      this.throttled.set(endpointId, timer);
    }
    const keep = Throttle.budget(rate, this.endpointBudget);
    if (queue.length > keep) {
      const later = queue.splice(keep);
      const due = this.throttle.defer(endpointId, rate, now, keep, later.length);
      later.forEach((delivery, i) => {
        this.giveBack(delivery, due[i]);
        this.letGo(endpointId);
      });
    }
    return true;
  }

  /** A held delivery finished or was given back. */
  private letGo(endpointId: string): void {
    const unsaturated = this.budget.letGo(endpointId);
    // Wake the loop only when a claim can now take a batch: the endpoint left saturation,
    // enough global capacity came free, or nothing is held at all.
    const held = this.budget.held;
    if (unsaturated || held === 0 || held === this.config.concurrency - this.refillAt) this.signal();
  }

  /** Sends one delivery; `slotted` if it took a slot of its endpoint's rate limit. */
  private async attempt(delivery: ClaimedDelivery, slotted: boolean): Promise<void> {
    const { clock, logger } = this.config;
    const firstContact = this.endpoints.peek(delivery.endpointId) === undefined;
    const prepared = await this.endpoints.get(delivery.appId, delivery.endpointId, delivery.endpointVersion);
    // An attempt that started before its endpoint's limit was known still counts against it.
    const rate = prepared?.endpoint.rateLimit;
    if (rate && !slotted) this.throttle.occupy(delivery.endpointId, rate, clock.now());
    // This attempt loaded the endpoint; the others queued behind it may start now.
    if (firstContact) this.pump(delivery.endpointId);
    if (!prepared || prepared.endpoint.disabled) {
      this.finish(delivery, null, { status: 'failed', exhausted: false }, false);
      return;
    }
    const endpoint = prepared.endpoint;
    const payload = delivery.payload;
    if (payload === null) {
      this.failUnsent(delivery, endpoint.url);
      return;
    }
    // The request must end before the lease does, or another worker could send it meanwhile.
    const leaseLeft = delivery.leaseExpiresAt - clock.now() - LEASE_MARGIN_MS;
    const timeoutMs = Math.min(endpoint.timeoutMs ?? this.config.timeoutMs, leaseLeft);
    if (this.stopping || timeoutMs < MIN_REQUEST_MS) {
      // Too late to try before the lease ends (or shutting down): give it back untried.
      this.giveBack(delivery);
      return;
    }
    const startedAt = clock.now();
    // The attempt's span (null unless tracing is on), a child of the ingest's stored context.
    const span = startAttempt(delivery, prepared.url);
    const trace = span !== null && this.config.tracePropagation ? traceHeaders(span) : null;
    let request = {
      url: prepared.url,
      method: 'POST' as 'POST' | 'PUT',
      body: payload,
      custom: customHeaders(prepared, delivery, trace),
    };
    let failed: SendResult | null = null;
    if (endpoint.transformationEnabled && endpoint.transformationCode !== null) {
      const transformed = await this.transform(prepared, delivery, payload, request.custom);
      if (transformed instanceof TransformationError) {
        failed = {
          aborted: false,
          statusCode: null,
          responseBody: '',
          retryAfter: undefined,
          durationMs: clock.now() - startedAt,
          errorKind: 'transformation_error',
          errorMessage: transformed.message,
        };
      } else if (transformed.cancel) {
        endAttempt(span, { succeeded: false, statusCode: null, errorKind: 'canceled' });
        this.cancel(delivery, endpoint.url, startedAt);
        return;
      } else {
        request = {
          url: transformed.url === endpoint.url ? prepared.url : new URL(transformed.url),
          method: transformed.method,
          body: JSON.stringify(transformed.payload),
          custom: transformed.headers,
        };
      }
    }
    // The body is signed as it is sent: after the transformation.
    const headers = this.headersFor(prepared, delivery, request.body, startedAt, request.custom, trace);
    const result =
      failed ??
      (await this.sender.send({
        url: request.url,
        method: request.method,
        headers,
        body: request.body,
        timeoutMs,
        signal: this.shutdown.signal,
      }));
    if (result.aborted) {
      endAttempt(span, { succeeded: false, statusCode: null, errorKind: 'aborted' });
      this.giveBack(delivery);
      return;
    }
    const verdict = judge(result.statusCode, result.errorKind);
    endAttempt(span, {
      succeeded: verdict.succeeded,
      statusCode: result.statusCode,
      errorKind: result.errorKind,
    });
    // Time and jitter are drawn only for a retry, as before the decision moved to core.
    const retrying = !verdict.succeeded && verdict.retry;
    const now = retrying ? clock.now() : 0;
    const { next, disableEndpoint } = nextState({
      verdict,
      attemptsMade: delivery.attempts + 1,
      schedule: endpoint.retrySchedule ?? this.config.retrySchedule,
      retryAfterMs: retrying ? parseRetryAfter(result.retryAfter, now) : null,
      random: retrying ? this.config.random() : 0.5,
      now,
    });
    const attempt: Attempt = {
      id: newId('atmpt', startedAt),
      deliveryId: delivery.id,
      msgId: delivery.msgId,
      endpointId: delivery.endpointId,
      appId: delivery.appId,
      url: request.url === prepared.url ? endpoint.url : request.url.href,
      trigger: delivery.trigger,
      succeeded: verdict.succeeded,
      statusCode: result.statusCode,
      responseBody: result.responseBody,
      durationMs: result.durationMs,
      errorKind: result.errorKind,
      errorMessage: result.errorMessage,
      requestHeaders: failed ? {} : recordedHeaders(headers, endpoint.headers),
      createdAt: startedAt,
    };
    if (!verdict.succeeded) {
      // One line per failed attempt, at info: the operator's first question is why. At warn for
      // an operational endpoint, which no operational event tells about (it would be its own).
      logger[isOperationalApp(delivery.appId) ? 'warn' : 'info'](
        {
          appId: delivery.appId,
          endpointId: delivery.endpointId,
          msgId: delivery.msgId,
          attemptId: attempt.id,
          statusCode: result.statusCode,
          errorKind: result.errorKind,
          errorMessage: result.errorMessage,
          next: next.status === 'pending' ? new Date(next.dueAt).toISOString() : next.status,
        },
        `attempt failed: ${result.statusCode ? `status ${result.statusCode}` : result.errorKind}`,
      );
    }
    this.finish(delivery, attempt, next, disableEndpoint, spanContext(span));
  }

  /**
   * Fails a delivery whose message's payload is gone (expunged, or past its retention) without
   * sending anything: an attempt with no request says so, and it is not retried. It does not
   * count against the endpoint (no failure clock), since the endpoint did nothing wrong.
   */
  private failUnsent(delivery: ClaimedDelivery, url: string): void {
    const now = this.config.clock.now();
    const attempt: Attempt = {
      id: newId('atmpt', now),
      deliveryId: delivery.id,
      msgId: delivery.msgId,
      endpointId: delivery.endpointId,
      appId: delivery.appId,
      url,
      trigger: delivery.trigger,
      succeeded: false,
      statusCode: null,
      responseBody: '',
      durationMs: 0,
      errorKind: 'payload_expired',
      errorMessage:
        "not sent: the message's payload is gone (expunged, or its payloadRetentionPeriod/payloadRetentionHours ended), so nothing is left to send",
      requestHeaders: {},
      createdAt: now,
    };
    this.config.logger.info(
      {
        appId: delivery.appId,
        endpointId: delivery.endpointId,
        msgId: delivery.msgId,
        attemptId: attempt.id,
      },
      'delivery failed unsent: payload expired',
    );
    this.finish(delivery, attempt, { status: 'failed', exhausted: false }, false);
  }

  /**
   * Runs the endpoint's transformation on a delivery: the webhook as changed, or the
   * TransformationError that fails this attempt.
   */
  private async transform(
    prepared: PreparedEndpoint,
    delivery: ClaimedDelivery,
    payload: string,
    headers: Record<string, string>,
  ): Promise<WebhookOut | TransformationError> {
    const { endpoint } = prepared;
    try {
      return await this.transformer.run(endpoint.id, endpoint.transformationCode ?? '', {
        eventType: delivery.eventType,
        payload: JSON.parse(payload),
        url: endpoint.url,
        method: 'POST',
        headers: { ...headers },
        cancel: false,
        transformationsParams: delivery.transformationsParams,
      });
    } catch (error) {
      if (error instanceof TransformationError) return error;
      return new TransformationError(`the transformation could not run: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Records a delivery its transformation canceled: nothing sent, nothing failed, no retry. */
  private cancel(delivery: ClaimedDelivery, url: string, now: number): void {
    const attempt: Attempt = {
      id: newId('atmpt', now),
      deliveryId: delivery.id,
      msgId: delivery.msgId,
      endpointId: delivery.endpointId,
      appId: delivery.appId,
      url,
      trigger: delivery.trigger,
      succeeded: false,
      statusCode: null,
      responseBody: '',
      durationMs: this.config.clock.now() - now,
      errorKind: 'canceled',
      errorMessage: "not sent: the endpoint's transformation set webhook.cancel",
      requestHeaders: {},
      createdAt: now,
    };
    this.finish(delivery, attempt, { status: 'canceled' }, false);
  }

  private headersFor(
    prepared: PreparedEndpoint,
    delivery: ClaimedDelivery,
    payload: string,
    now: number,
    custom: Record<string, string>,
    trace: Record<string, string> | null,
  ): Record<string, string> {
    return requestHeaders(prepared, delivery, payload, now, this.config, custom, trace);
  }

  /** Gives a delivery back untried, due at `dueAt`: now, or its rate limit's slot. */
  private giveBack(delivery: ClaimedDelivery, dueAt = this.config.clock.now()): void {
    this.recorder.giveBack(delivery.id, dueAt);
  }

  private finish(
    delivery: ClaimedDelivery,
    attempt: Attempt | null,
    next: DeliveryNext,
    disableEndpoint: boolean,
    /** The attempt's span, for the operational events its outcome causes. */
    traceContext: string | null = null,
  ): void {
    this.recorder.finish({
      owner: this.config.workerId,
      deliveryId: delivery.id,
      endpointId: delivery.endpointId,
      attempt,
      next,
      disableEndpoint,
      attemptsMade: delivery.attempts + (attempt ? 1 : 0),
      ...(traceContext !== null ? { traceContext } : {}),
    });
  }

  /** A batch of attempts is committed: tell the listeners, and the log what it disabled. */
  private committed(events: AttemptEvent[], disabled: DisabledEndpoint[]): void {
    for (const event of events) this.emit('attempt', event);
    for (const d of disabled) {
      // An operational endpoint is never told of itself: this line is all there is of it.
      const what = isOperationalApp(d.appId)
        ? 'operational webhook endpoint disabled (no operational event is sent to it until it is enabled again)'
        : 'endpoint disabled';
      this.config.logger.warn(
        { appId: d.appId, endpointId: d.endpointId, reason: d.reason },
        `${what}: ${this.disabledBecause(d.reason)}; the deliveries waiting for it failed`,
      );
      this.emit('endpoint.disabled', d);
    }
  }

  /** Why the store disabled an endpoint, in the words of its log line. */
  private disabledBecause(reason: DisabledEndpoint['reason']): string {
    if (reason === 'gone') return 'it answered 410 Gone';
    const hours = this.config.autoDisableAfterMs / 3_600_000;
    const period = hours % 24 === 0 ? `${hours / 24} days` : `${Math.round(hours * 10) / 10} hours`;
    return `its deliveries failed with no success for ${period}`;
  }

  /**
   * Stops claiming, lets in-flight attempts finish until the shutdown deadline, aborts and
   * releases the rest, and writes everything down.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.unsubscribe?.();
    this.releaseHeldWake();
    this.signal();
    await this.loop;
    // Withdraw the standing claim; what filled it meanwhile arrives before this answer, and
    // is given back by takeFresh.
    const { store, workerId } = this.config;
    await store.standingClaims
      ?.withdraw(workerId)
      .catch((error: unknown) =>
        this.config.logger.error({ err: error }, 'withdrawing the standing claim failed'),
      );
    this.unsubscribeFresh?.();
    // Deliveries still queued locally were never started: give them back now.
    for (const [endpointId, queue] of this.queues) {
      for (const delivery of queue) {
        this.giveBack(delivery);
        this.letGo(endpointId);
      }
    }
    this.queues.clear();
    for (const timer of this.throttled.values()) timer.cancel();
    this.throttled.clear();
    this.recorder.schedule();
    const deadline = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, this.config.shutdownDeadlineMs);
      t.unref();
    });
    await Promise.race([Promise.allSettled([...this.settled]), deadline]);
    this.shutdown.abort();
    await Promise.allSettled([...this.settled]);
    await new Promise((resolve) => setImmediate(resolve));
    await this.recorder.drain();
    await this.sender.close();
    await this.transformer.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * What a dispatcher counts, in Prometheus terms, on a registry of its own: it lives where
 * the dispatcher runs (its thread under `--role all`, the main thread of a worker process),
 * and `herald serve` puts its text beside the API's (the names do not overlap). Everything
 * here is bounded: labels are outcomes and status classes, never messages or endpoints,
 * unless `perEndpoint` asks for an `endpoint` label (a small install).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { idTime } from '../core/ids.js';
import type { Dispatcher } from '../delivery/dispatcher.js';
import type { AttemptEvent } from '../delivery/recorder.js';
import type { DisabledEndpoint } from '../store/store.js';

/** Seconds, from 5 ms to 10 minutes: an attempt's duration or a delivery's latency. */
const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];
/** A delivery's latency can span retries: up to a day. */
const LATENCY_BUCKETS = [...SECONDS_BUCKETS, 1800, 3600, 6 * 3600, 86_400];

/** `2xx` … `5xx`, or `none` when no response came (a timeout, a refused connection). */
export function statusClass(statusCode: number | null): string {
  return statusCode === null || statusCode < 100 || statusCode > 599
    ? 'none'
    : `${Math.floor(statusCode / 100)}xx`;
}

/** Options of {@link deliveryMetrics}. */
export interface DeliveryMetricsOptions {
  /** Adds an `endpoint` label to the attempt counter: one series per endpoint. */
  perEndpoint?: boolean;
}

/**
 * Registers the dispatcher's metrics on a new registry and keeps them up to date from its
 * events; returns the registry and a function that stops listening.
 */
export function deliveryMetrics(
  dispatcher: Dispatcher,
  options: DeliveryMetricsOptions = {},
): { registry: Registry; stop: () => void } {
  const registry = new Registry();
  const registers = [registry];
  const attempts = new Counter({
    name: 'herald_attempts_total',
    help: 'Delivery attempts made, by outcome (succeeded, failed) and response status class',
    labelNames: options.perEndpoint
      ? (['outcome', 'status_class', 'endpoint'] as const)
      : (['outcome', 'status_class'] as const),
    registers,
  });
  const duration = new Histogram({
    name: 'herald_attempt_duration_seconds',
    help: 'Time from sending an attempt to its answer (or its failure)',
    buckets: SECONDS_BUCKETS,
    registers,
  });
  const latency = new Histogram({
    name: 'herald_delivery_latency_seconds',
    help: "Time from a message's acceptance to its first successful delivery to an endpoint (automatic attempts)",
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const exhausted = new Counter({
    name: 'herald_deliveries_failed_total',
    help: 'Deliveries that ended failed: their retry schedule ran out, or their endpoint refused them for good',
    registers,
  });
  const disabled = new Counter({
    name: 'herald_endpoints_disabled_total',
    help: 'Endpoints the dispatcher disabled, by reason (gone: a 410; failing: no success for the configured time)',
    labelNames: ['reason'] as const,
    registers,
  });
  new Gauge({
    name: 'herald_attempts_in_flight',
    help: 'Attempts this dispatcher is making now (held deliveries, sending or waiting for their endpoint)',
    registers,
    collect() {
      this.set(dispatcher.inFlight);
    },
  });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  new Gauge({
    name: 'herald_dispatcher_event_loop_lag_seconds',
    help: "Delay of the dispatcher's event loop since the last scrape: p50, p99 and max",
    labelNames: ['quantile'] as const,
    registers,
    collect() {
      const ns = (n: number) => (Number.isFinite(n) ? n / 1e9 : 0);
      this.set({ quantile: '0.5' }, ns(loop.percentile(50)));
      this.set({ quantile: '0.99' }, ns(loop.percentile(99)));
      this.set({ quantile: 'max' }, ns(loop.max));
      loop.reset();
    },
  });

  // The counter's children by label values, looked up once each (prom-client hashes the
  // label object on every inc otherwise).
  const children = new Map<string, { inc(): void }>();
  const onAttempt = ({ attempt, next }: AttemptEvent) => {
    const outcome = attempt.succeeded ? 'succeeded' : 'failed';
    const status = statusClass(attempt.statusCode);
    const key = options.perEndpoint ? `${outcome} ${status} ${attempt.endpointId}` : `${outcome} ${status}`;
    let child = children.get(key);
    if (!child) {
      child = attempts.labels({
        outcome,
        status_class: status,
        ...(options.perEndpoint ? { endpoint: attempt.endpointId } : {}),
      });
      children.set(key, child);
    }
    child.inc();
    duration.observe(attempt.durationMs / 1000);
    if (attempt.succeeded && attempt.trigger === 'scheduled') {
      const accepted = idTime(attempt.msgId);
      if (accepted !== null)
        latency.observe(Math.max(0, attempt.createdAt + attempt.durationMs - accepted) / 1000);
    }
    if (next.status === 'failed') exhausted.inc();
  };
  const onDisabled = (d: DisabledEndpoint) => disabled.inc({ reason: d.reason });
  dispatcher.on('attempt', onAttempt);
  dispatcher.on('endpoint.disabled', onDisabled);
  return {
    registry,
    stop: () => {
      dispatcher.off('attempt', onAttempt);
      dispatcher.off('endpoint.disabled', onDisabled);
      loop.disable();
    },
  };
}

/**
 * What the API process counts, and what it reads from the store at each scrape: messages
 * accepted (by event type, at most {@link EVENT_TYPE_SERIES} of them), the group commits
 * (size, duration), the queue's length and the age of its oldest due delivery, the
 * PostgreSQL pool, and Node's process metrics.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { QueueStats, Store } from '../store/store.js';

/** Event types counted by name; the ones seen after these are counted as `other`. */
export const EVENT_TYPE_SERIES = 100;

/**
 * How long a scrape waits for the store's read of the queue: 2 s. A pool or database that
 * does not answer (every connection held) gets the queue gauges NaN in that scrape, rather
 * than holding the whole scrape, the pool's own gauge with it, past Prometheus's timeout
 * (10 s by default) just when the pool's waits are what the operator needs to see.
 */
export const QUEUE_READ_MS = 2_000;

/** Resolves with what `promise` resolves with, or `null` if that takes more than `ms` by `clock`. */
function within<T>(promise: Promise<T>, ms: number, clock: Clock): Promise<T | null> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimer(() => resolve(null), ms);
    promise.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (error: unknown) => {
        timer.cancel();
        reject(error);
      },
    );
  });
}

/** The API process's metrics, and the function that counts an accepted message. */
export interface ApiMetrics {
  registry: Registry;
  /** Counts a message accepted with this event type. */
  accepted(eventType: string): void;
}

/** Registers the API's metrics on a new registry; the store's gauges read it at each scrape. */
export function apiMetrics(store: Store, clock: Clock): ApiMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const accepted = new Counter({
    name: 'herald_messages_accepted_total',
    help: `Messages accepted, by event type (the first ${EVENT_TYPE_SERIES} types seen; later ones are counted as "other")`,
    labelNames: ['event_type'] as const,
    registers,
  });
  const seen = new Set<string>();
  // Read before the queue's gauges (a registry collects in the order of registration): their
  // read is a query, and pg-pool queues every query for a tick even with a connection idle, so
  // read after it the pool counted each scrape's own query as `waiting` (1 on an idle Herald).
  const pool = store.poolStats;
  if (pool) {
    new Gauge({
      name: 'herald_db_pool_connections',
      help: "The PostgreSQL pool's connections (open, idle) and the queries waiting for one (waiting)",
      labelNames: ['state'] as const,
      registers,
      collect() {
        const stats = pool();
        this.set({ state: 'open' }, stats.total);
        this.set({ state: 'idle' }, stats.idle);
        this.set({ state: 'waiting' }, stats.waiting);
      },
    });
  }
  // One read of the store per scrape, shared by both gauges. Each awaits it in its own
  // collect: a registry starts every metric's read at once and takes the values of one
  // without a collect at that moment, so a gauge set by another's collect was one scrape behind.
  let reading: Promise<{ now: number; stats: QueueStats | null }> | null = null;
  const readQueue = () => {
    if (reading === null) {
      const now = clock.now();
      reading = within(store.queueStats(now), QUEUE_READ_MS, clock)
        .then((stats) => ({ now, stats }))
        .finally(() => {
          reading = null;
        });
    }
    return reading;
  };
  // No reading (the store did not answer in time) is NaN: not the last values, nor 0, which
  // would say that nothing is late.
  new Gauge({
    name: 'herald_deliveries_queued',
    help: 'Deliveries not yet done: pending (waiting for their due time or a worker) and sending (leased to a worker)',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      const { stats } = await readQueue();
      this.set({ state: 'pending' }, stats?.pending ?? Number.NaN);
      this.set({ state: 'sending' }, stats?.sending ?? Number.NaN);
    },
  });
  new Gauge({
    name: 'herald_oldest_due_delivery_age_seconds',
    help: 'How long the oldest pending delivery that is due has waited past its due time (0: none is late)',
    registers,
    async collect() {
      const { now, stats } = await readQueue();
      if (stats === null) this.set(Number.NaN);
      else this.set(stats.oldestDueAt === null ? 0 : Math.max(0, now - stats.oldestDueAt) / 1000);
    },
  });
  if (store.onGroupCommit) {
    const size = new Histogram({
      name: 'herald_group_commit_size',
      help: 'Messages written per group commit (one transaction with their deliveries)',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 512],
      registers,
    });
    const duration = new Histogram({
      name: 'herald_group_commit_duration_seconds',
      help: 'Time a group commit of accepted messages took, from its start to its commit',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    store.onGroupCommit((n, ms) => {
      size.observe(n);
      duration.observe(ms / 1000);
    });
  }
  return {
    registry,
    accepted(eventType) {
      if (!seen.has(eventType)) {
        if (seen.size >= EVENT_TYPE_SERIES) {
          accepted.inc({ event_type: 'other' });
          return;
        }
        seen.add(eventType);
      }
      accepted.inc({ event_type: eventType });
    },
  };
}

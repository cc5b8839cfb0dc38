/**
 * The dispatcher in a thread of its own, for `herald serve` running both roles: the API
 * keeps the main thread's event loop and the dispatcher gets the second core. The thread
 * has no database connection of its own: it reaches the main thread's store through a
 * {@link RemoteDeliveryStore}.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import type { DeliveryMetricsOptions } from '../metrics/delivery.js';
import type { DeliveryStore } from '../store/store.js';
import type { HeaderStyle } from './config.js';
import { HEARTBEAT_MS, Liveness } from './liveness.js';
import { capabilitiesOf, hostDeliveryStore, type RemoteCapabilities } from './remote-store.js';

/** What the thread needs to start its dispatcher (plain data, and the store's port). */
export interface DispatcherThreadData {
  storePort: MessagePort;
  /** What the main thread's store can do beyond every store (standing claims). */
  capabilities: RemoteCapabilities;
  logLevel: string;
  allowNetworks: string[];
  headerStyle: HeaderStyle;
  leaseMs: number;
  /** See `DispatcherOptions.wakeBackoffMs`. */
  wakeBackoffMs: number;
  userAgent: string;
  /** Sends `traceparent` with each attempt when tracing is on. */
  tracePropagation: boolean;
  /**
   * Tracing is on in the main thread: the thread starts its own (the OpenTelemetry globals
   * are per thread), for this Herald version; `null`: off.
   */
  tracing: { version: string } | null;
  /** Counts the dispatcher's work for `/metrics` (src/metrics/delivery.ts); `null`: no metrics. */
  metrics: DeliveryMetricsOptions | null;
  /** See `DispatcherOptions.stallMs`. */
  stallMs: number;
  /** The {@link Liveness} record the thread writes and the main thread reads. */
  liveness: SharedArrayBuffer;
}

/**
 * Messages to the thread: stop, send the dispatcher's metrics, or (a test hook, honoured only
 * under `HERALD_TEST_HOOKS=1`) block the thread's event loop for `ms`.
 */
export type ToThread = { type: 'stop' } | { type: 'metrics'; id: number } | { type: 'block'; ms: number };

/** How long `SIGUSR2` blocks the dispatcher thread under `HERALD_TEST_HOOKS=1`. */
export const TEST_BLOCK_MS = 4_000;

/** Messages from the thread: it is ready, a log line (pino's JSON text) to write, or metrics asked for. */
export type FromThread =
  | { type: 'ready'; workerId: string }
  | { type: 'log'; line: string }
  | { type: 'metrics'; id: number; text: string };

/** A running dispatcher thread. */
export interface DispatcherThread {
  readonly workerId: string;
  /** The dispatcher's metrics in Prometheus text ('' without `metrics`). */
  metrics(): Promise<string>;
  /** `null` while the thread and its loop are alive; else why not (`liveness.ts`), read without asking the thread. */
  health(): string | null;
  /** Stops the dispatcher as {@link Dispatcher.stop} does and ends the thread. */
  stop(): Promise<void>;
}

/**
 * Starts the thread on `store` and resolves once its dispatcher runs. `onDeath` hears of a
 * thread that ends without being asked to (its error, if any): the caller must not go on
 * without it. The thread's log lines (at `logLevel` and above) go to `log`, so that the
 * process writes them with its own, in one format.
 */
export function startDispatcherThread(
  store: DeliveryStore,
  options: Omit<DispatcherThreadData, 'storePort' | 'capabilities' | 'liveness'>,
  onDeath: (error: unknown) => void,
  log: (line: string) => void,
): Promise<DispatcherThread> {
  const channel = new MessageChannel();
  const unhost = hostDeliveryStore(store, channel.port1);
  const liveness = new Liveness();
  // Beaten by the thread from its start; until its first beat, the start counts as one.
  liveness.beat(Date.now() + HEARTBEAT_MS);
  const data: DispatcherThreadData = {
    ...options,
    storePort: channel.port2,
    capabilities: capabilitiesOf(store),
    liveness: liveness.buffer,
  };
  const worker = new Worker(new URL('./thread-entry.js', import.meta.url), {
    workerData: data,
    transferList: [channel.port2],
  });
  // The test hook that stalls the dispatcher on purpose (test/api/health-liveness.test.ts).
  const block = () => worker.postMessage({ type: 'block', ms: TEST_BLOCK_MS } satisfies ToThread);
  if (process.env.HERALD_TEST_HOOKS === '1') process.on('SIGUSR2', block);
  const ended = () => {
    process.off('SIGUSR2', block);
    unhost();
    channel.port1.close();
  };
  let stopping = false;
  const asked = new Map<number, (text: string) => void>();
  let nextAsk = 0;
  return new Promise((resolve, reject) => {
    let started = false;
    worker.on('message', (message: FromThread) => {
      if (message.type === 'log') {
        log(message.line);
        return;
      }
      if (message.type === 'metrics') {
        asked.get(message.id)?.(message.text);
        asked.delete(message.id);
        return;
      }
      started = true;
      resolve({
        workerId: message.workerId,
        metrics: () =>
          options.metrics === null || stopping
            ? Promise.resolve('')
            : new Promise<string>((answer) => {
                const id = nextAsk++;
                asked.set(id, answer);
                worker.postMessage({ type: 'metrics', id } satisfies ToThread);
              }),
        health: () => liveness.check(Date.now(), options.stallMs),
        stop: () => {
          stopping = true;
          for (const answer of asked.values()) answer('');
          asked.clear();
          const exited = new Promise<void>((done) => worker.once('exit', () => done()));
          worker.postMessage({ type: 'stop' } satisfies ToThread);
          return exited.then(ended);
        },
      });
    });
    worker.on('error', (error) => {
      if (!started) reject(error);
      else if (!stopping) onDeath(error);
    });
    worker.on('exit', (code) => {
      if (stopping) return;
      ended();
      if (!started) reject(new Error(`the dispatcher thread exited with code ${code} before it started`));
      else onDeath(new Error(`the dispatcher thread exited with code ${code}`));
    });
  });
}

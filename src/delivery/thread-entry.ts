/** The dispatcher thread's code: see `thread.ts`. */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { startTracing } from '../tracing/tracing.js';
import { Dispatcher } from './dispatcher.js';
import { HEARTBEAT_MS, Liveness } from './liveness.js';
import { RemoteDeliveryStore } from './remote-store.js';
import type { DispatcherThreadData, FromThread, ToThread } from './thread.js';

const port = parentPort;
if (!port) throw new Error('thread-entry.js runs as a worker thread of herald serve');
const data = workerData as DispatcherThreadData;
const store = new RemoteDeliveryStore(data.storePort, data.capabilities);
// Lines go to the main thread, which writes them with its own: one stream, one format.
const logger = pino(
  { level: data.logLevel },
  { write: (line: string) => port.postMessage({ type: 'log', line } satisfies FromThread) },
);
// Before the dispatcher's first attempt: its spans are made here, in this thread's SDK.
const tracing = data.tracing
  ? await startTracing(data.tracing.version, (error) =>
      logger.warn({ err: error }, 'tracing: the dispatcher thread could not export spans'),
    )
  : null;
const dispatcher = new Dispatcher({
  store,
  logger,
  allowNetworks: data.allowNetworks,
  headerStyle: data.headerStyle,
  leaseMs: data.leaseMs,
  wakeBackoffMs: data.wakeBackoffMs,
  userAgent: data.userAgent,
  stallMs: data.stallMs,
  liveness: new Liveness(data.liveness),
  tracePropagation: data.tracePropagation,
}).start();
// The heartbeat the main thread reads: it stops when this thread's event loop is blocked.
const heartbeat = setInterval(() => dispatcher.liveness.beat(Date.now()), HEARTBEAT_MS);
heartbeat.unref();

// prom-client is loaded only when metrics are asked for.
const metrics = data.metrics
  ? (await import('../metrics/delivery.js')).deliveryMetrics(dispatcher, data.metrics)
  : null;

port.on('message', (message: ToThread) => {
  if (message.type === 'stop') void stop();
  else if (message.type === 'block' && process.env.HERALD_TEST_HOOKS === '1') {
    const until = Date.now() + message.ms;
    while (Date.now() < until) {
      // Blocks this thread's event loop on purpose: a stalled dispatcher, for the health tests.
    }
  } else if (message.type === 'metrics')
    void (metrics?.registry.metrics() ?? Promise.resolve('')).then((text) =>
      port.postMessage({ type: 'metrics', id: message.id, text } satisfies FromThread),
    );
});
port.postMessage({ type: 'ready', workerId: dispatcher.config.workerId } satisfies FromThread);

async function stop(): Promise<void> {
  clearInterval(heartbeat);
  metrics?.stop();
  await dispatcher.stop();
  // The last attempts' spans are exported before the thread ends.
  await tracing?.stop();
  store.close();
  // With its ports closed and its agent closed, the thread's event loop empties and it ends.
  port?.close();
}

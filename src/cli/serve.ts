/** `herald serve`: the API and the dispatcher, together or split by role. */
import { pino } from 'pino';
import { ActivitySnapshots } from '../api/activity-snapshots.js';
import { ensureAdminToken } from '../api/auth.js';
import { IdempotencySweeper } from '../api/idempotency-sweeper.js';
import { type ComponentState, checkDatabase } from '../api/routes/health.js';
import { buildApi, IDEMPOTENCY_WINDOW_MS } from '../api/server.js';
import { systemClock } from '../core/clock.js';
import { Dispatcher } from '../delivery/dispatcher.js';
import { ListenerSweeper } from '../delivery/listener-sweeper.js';
import { PayloadSweeper } from '../delivery/payload-sweeper.js';
import { RowSweeper } from '../delivery/row-sweeper.js';
import { AddressPolicy } from '../delivery/ssrf.js';
import { startDispatcherThread } from '../delivery/thread.js';
import { InboundBodySweeper, InboundSweeper } from '../inbound/retention.js';
import { apiMetrics } from '../metrics/api.js';
import { deliveryMetrics } from '../metrics/delivery.js';
import { startMetricsListener } from '../metrics/listener.js';
import type { InboundRetention } from '../store/inbound-retention.js';
import { openStore } from '../store/open.js';
import { secretBoxFor } from '../store/secret-box.js';
import { startTracing } from '../tracing/tracing.js';
import { redactUrl } from './database.js';
import { type LogFormat, logDestination } from './log.js';
import { CliError } from './manage.js';
import { listenWhileStarting } from './starting.js';

/** Options of `herald serve`, already checked by the CLI. */
export interface ServeOptions {
  port: number;
  host: string;
  db: string;
  role: 'all' | 'api' | 'worker';
  allowNetwork: string[];
  logLevel: string;
  /** How log lines are written to stderr (the CLI picks pretty for a terminal, else JSON). */
  logFormat: LogFormat;
  headerStyle: 'standard' | 'svix';
  /** Lease of claimed deliveries in ms (how soon a dead worker's deliveries are taken over). */
  leaseMs: number;
  /** Longest wait before a worker whose wake-ups found nothing answers the next (ms; 0: at once). */
  wakeBackoffMs: number;
  /** How long the dispatcher may stall while work is due before health reports it (ms). */
  stallMs: number;
  adminToken: string | undefined;
  /** Base URL clients reach the API at, for links it returns; default the listening address. */
  publicUrl: string | undefined;
  /** Origins browser pages may call `/api/v1` from (`--cors-origin`, checked); `['*']` for any. */
  corsOrigins: string[];
  /** CSP `frame-ancestors` of the consumer portal (`--portal-frame-ancestors`); `*` for any page. */
  portalFrameAncestors: string;
  /** `HERALD_MAIN_KEY`: seals signing secrets at rest when set. */
  mainKey: string | undefined;
  /**
   * How long messages keep their payloads and attempts' bodies without a retention of their
   * own (`--retention-days`), and when they are deleted (`--retention-rows-days`); `null`: for ever.
   */
  retention: { payloadMs: number | null; rowsMs: number | null };
  /** How long and how many inbound requests each source's log keeps. */
  inboundRetention: InboundRetention;
  /** Applies pending migrations at start; `false` (`--no-migrate`) refuses to start with any. */
  migrate: boolean;
  /** PostgreSQL: run the delivery path's statements as named (prepared) ones. */
  pgPreparedStatements: boolean;
  /**
   * With tracing on (`OTEL_EXPORTER_OTLP_ENDPOINT`), send each attempt's `traceparent` to its
   * endpoint; `false` (`--no-trace-propagation`) keeps the spans and sends no header.
   */
  tracePropagation: boolean;
  /** Days a listener endpoint (`herald listen`) may go unused before the sweep disables it. */
  listenerIdleDays: number;
  /** `GET /metrics`: also on a port of its own, without a token; on the API port without one. */
  metrics: { port: number | undefined; public: boolean; perEndpoint: boolean };
  version: string;
}

/** How long a clean stop may take: in-flight attempts get 10 s, then releases and closing. */
const STOP_DEADLINE_MS = 30_000;

/** Runs until SIGTERM or SIGINT, then stops cleanly: no new requests, in-flight attempts finish or are released. */
export async function serve(options: ServeOptions): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  // Listen for the signals first: one that arrives while starting up still stops cleanly.
  const stopRequested = new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      out(`herald: ${signal} received, shutting down`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  // Check what can be checked before anything is opened or created.
  new AddressPolicy(options.allowNetwork);
  const box = secretBoxFor(options.mainKey);
  const logs = await logDestination(options.logFormat);
  const logger = pino({ level: options.logLevel }, logs);
  // The OpenTelemetry SDK is loaded only when an OTLP endpoint is set; stopped last, so that
  // the spans of the last requests and attempts are exported.
  const tracing = await startTracing(options.version, (error) =>
    logger.warn({ err: error }, 'tracing: spans could not be exported'),
  );
  if (tracing)
    out(
      `herald: tracing to ${tracing.url} (OpenTelemetry)${options.tracePropagation ? '' : ', traceparent not sent to endpoints'}`,
    );
  // The API's port answers from the start: /readyz 503 until the migrations are done.
  const starting =
    options.role === 'worker'
      ? null
      : await listenWhileStarting(options.host, options.port).catch((error: NodeJS.ErrnoException) => {
          throw listenError(error, options.port, options.host);
        });
  const store = await openStore(options.db, box, {
    inboundRetention: options.inboundRetention,
    migrate: options.migrate,
    postgresPreparedStatements: options.pgPreparedStatements,
  }).catch(async (error: unknown) => {
    await starting?.close();
    throw error;
  });
  const stops: (() => Promise<void>)[] = [];
  // A start that fails before the API listens gives the port up with the rest.
  if (starting) stops.push(starting.close);
  out(
    `herald: database ${redactUrl(options.db)} (${store.kind}), secrets ${box.encrypts ? 'encrypted with HERALD_MAIN_KEY' : 'stored in plain text (set HERALD_MAIN_KEY to encrypt them)'}`,
  );

  for (const warning of (await store.maintenanceWarnings?.()) ?? []) logger.warn(warning);

  let stopCheckpoints: () => Promise<void> = async () => undefined;
  if (store.backgroundCheckpoints) {
    // A thread of its own copies the WAL back, so that no request waits for the copy. Without
    // it the store still checkpoints, in its commits, as it always could.
    const stop = await store.backgroundCheckpoints((message) =>
      logger.warn({ message }, 'WAL checkpoint thread failed; checkpoints happen in commits again'),
    );
    // Stopped last, after everything that writes.
    if (stop) stopCheckpoints = stop;
  }

  const dispatcherOptions = {
    allowNetworks: options.allowNetwork,
    headerStyle: options.headerStyle,
    leaseMs: options.leaseMs,
    wakeBackoffMs: options.wakeBackoffMs,
    stallMs: options.stallMs,
    userAgent: `Herald/${options.version}`,
    tracePropagation: options.tracePropagation,
  };
  // What /api/v1/health says of the dispatcher: none beside an API of --role api; else
  // whether its loop turns while work is due (src/delivery/liveness.ts).
  let dispatcherState: () => ComponentState = () => ({ status: 'notapplicable' });
  const stateOf = (stalled: string | null): ComponentState =>
    stalled === null ? { status: 'ok' } : { status: 'error', detail: stalled };
  const dispatcherStarted = (workerId: string) =>
    out(
      `herald: dispatcher running as ${workerId}${options.allowNetwork.length ? `, allowed networks ${options.allowNetwork.join(', ')}` : ''}`,
    );
  // Every registry of the process, in one text: the API's and the dispatcher's (in its thread
  // under --role all); their metric names do not overlap.
  const metricsTexts: (() => Promise<string>)[] = [];
  const renderMetrics = async () =>
    (await Promise.all(metricsTexts.map((text) => text()))).filter(Boolean).join('\n');
  const deliveryMetricsOptions = { perEndpoint: options.metrics.perEndpoint };
  // HERALD_BENCH_NO_METRICS=1 counts nothing and serves no /metrics: what bench/metrics-cost.ts
  // compares with, to measure what counting costs when nothing scrapes. Not for production.
  const counting = process.env.HERALD_BENCH_NO_METRICS !== '1';
  if (options.role === 'worker') {
    // A worker process has nothing else to run: the dispatcher takes its main thread.
    const dispatcher = new Dispatcher({ store, logger, ...dispatcherOptions }).start();
    dispatcherState = () => stateOf(dispatcher.health());
    const counted = counting ? deliveryMetrics(dispatcher, deliveryMetricsOptions) : null;
    if (counted) metricsTexts.push(() => counted.registry.metrics());
    stops.push(async () => {
      counted?.stop();
      await dispatcher.stop();
    });
    dispatcherStarted(dispatcher.config.workerId);
  } else if (options.role === 'all') {
    // With the API beside it, the dispatcher runs in a thread of its own (second core).
    const thread = await startDispatcherThread(
      store,
      {
        logLevel: options.logLevel,
        ...dispatcherOptions,
        metrics: counting ? deliveryMetricsOptions : null,
        tracing: tracing ? { version: options.version } : null,
      },
      (error) => {
        dispatcherState = () => ({ status: 'error', detail: 'the dispatcher thread stopped' });
        logger.fatal({ err: error }, 'the dispatcher thread stopped; exiting');
        process.exit(1);
      },
      (line) => logs.write(line),
    );
    metricsTexts.push(() => thread.metrics());
    stops.push(() => thread.stop());
    dispatcherState = () => stateOf(thread.health());
    dispatcherStarted(thread.workerId);
  }
  // Before the API: its banner's last line says the server is ready.
  if (options.metrics.port !== undefined) {
    // Ready: the database commits, and the dispatcher of this process (if any) is not stalled.
    const ready = async () => {
      const database = await checkDatabase(store, logger);
      const dispatcher = dispatcherState();
      return database.status === 'error'
        ? (database.detail ?? 'database error')
        : dispatcher.status === 'error'
          ? (dispatcher.detail ?? 'dispatcher error')
          : null;
    };
    const listener = await startMetricsListener(
      options.host,
      options.metrics.port,
      renderMetrics,
      ready,
    ).catch(async (error: NodeJS.ErrnoException) => {
      for (const s of stops) await s();
      await stopCheckpoints();
      await store[Symbol.asyncDispose]();
      throw listenError(error, options.metrics.port!, options.host, '--metrics-port');
    });
    stops.push(listener.close);
    out(`herald: metrics at ${listener.url}`);
  }
  if (options.role !== 'worker') {
    // Links the API hands out (source ingest URLs, portal URLs) use --public-url, or else
    // the address it listens on, port included (known only after listen with --port 0).
    let listening = '';
    const publicUrl = options.publicUrl ?? (() => listening);
    const counted = counting ? apiMetrics(store, systemClock) : null;
    if (counted) metricsTexts.unshift(() => counted.registry.metrics());
    const api = await buildApi({
      store,
      logger,
      publicUrl,
      version: options.version,
      ...(counted
        ? { metrics: { render: renderMetrics, accepted: counted.accepted, public: options.metrics.public } }
        : {}),
      corsOrigins: options.corsOrigins,
      portal: { frameAncestors: options.portalFrameAncestors },
      dispatcher: () => dispatcherState(),
      listen: { headerStyle: options.headerStyle, userAgent: `Herald/${options.version}` },
    });
    // The port the starting listener had (the one --port 0 chose), given up just now.
    await starting?.close();
    const apiPort = starting?.port ?? options.port;
    const address = await api.listen({ port: apiPort, host: options.host }).catch(async (error) => {
      // A start that fails leaves nothing running behind it, and says why in one line.
      await api.close();
      for (const s of stops) await s();
      await stopCheckpoints();
      await store[Symbol.asyncDispose]();
      throw listenError(error as NodeJS.ErrnoException, apiPort, options.host);
    });
    listening = address;
    stops.unshift(() => api.close());
    // Where inbound requests arrive, their log is swept (by every API process on PostgreSQL:
    // the sweeps skip the rows another one is deleting).
    const sweeper = new InboundSweeper({ store, logger }).start();
    stops.push(() => sweeper[Symbol.asyncDispose]());
    // Their bodies go first (--inbound-body-days), the rows stay until the sweep above.
    if (options.inboundRetention.bodyMaxAgeMs !== null) {
      const bodies = new InboundBodySweeper({ store, logger }).start();
      stops.push(() => bodies[Symbol.asyncDispose]());
    }
    // Idempotency answers past the API's window answer nothing: they go.
    const answers = new IdempotencySweeper({ store, logger, windowMs: IDEMPOTENCY_WINDOW_MS }).start();
    stops.push(() => answers[Symbol.asyncDispose]());
    // The dashboard's overview: the queue's snapshot once a minute (the first API process of
    // the database to get there takes it), and activity minutes past a week go.
    const activity = new ActivitySnapshots({ store, logger }).start();
    stops.push(() => activity[Symbol.asyncDispose]());
    // Payloads past their retention are expunged there too (on PostgreSQL the sweeps of
    // several processes skip each other's rows).
    const payloads = new PayloadSweeper({ store, logger, retentionMs: options.retention.payloadMs }).start();
    stops.push(() => payloads[Symbol.asyncDispose]());
    if (options.retention.rowsMs !== null) {
      const rows = new RowSweeper({ store, logger, retentionMs: options.retention.rowsMs }).start();
      stops.push(() => rows[Symbol.asyncDispose]());
    }
    // Listener endpoints nobody has listened on for --listener-idle-days are disabled.
    const listeners = new ListenerSweeper({
      store,
      logger,
      idleMs: options.listenerIdleDays * 86_400_000,
    }).start();
    stops.push(() => listeners[Symbol.asyncDispose]());
    // Only once listening: a start that failed earlier would have stored a token nobody saw.
    await ensureAdminToken(store, options.adminToken, (token) =>
      out(`herald: created admin token (shown once, only its hash is stored): ${token}`),
    );
    // Last line of the start-up banner: the server is ready.
    out(`herald: API listening on ${address}`);
  }
  await stopRequested;
  // A stop that hangs (a database that never answers) must not keep the process: past the
  // deadline it exits, and its leases expire so that other workers take over.
  setTimeout(() => {
    out(`herald: not stopped after ${STOP_DEADLINE_MS / 1000} s, exiting`);
    process.exit(1);
  }, STOP_DEADLINE_MS).unref();
  for (const s of stops) await s();
  await stopCheckpoints();
  await store[Symbol.asyncDispose]();
  await tracing?.stop();
  out('herald: stopped');
}

/** A failed listen in words that say what to change; any other error as it is. */
function listenError(error: NodeJS.ErrnoException, port: number, host: string, flag = '--port'): Error {
  const because = { cause: error };
  if (error.code === 'EADDRINUSE')
    return new CliError(`port ${port} is in use; choose another with ${flag}`, because);
  if (error.code === 'EACCES')
    return new CliError(
      `port ${port} needs privileges this user lacks; choose another with ${flag}`,
      because,
    );
  if (error.code === 'EADDRNOTAVAIL')
    return new CliError(`${host} is not an address of this machine; choose another with --host`, because);
  return error;
}

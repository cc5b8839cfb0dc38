/** `herald serve`: the API and the dispatcher, together or split by role. */
import { pino } from 'pino';
import { ensureAdminToken } from '../api/auth.js';
import { buildApi } from '../api/server.js';
import { ValidationError } from '../core/errors.js';
import { Dispatcher } from '../delivery/dispatcher.js';
import { AddressPolicy } from '../delivery/ssrf.js';
import { openPostgresStore } from '../store/postgres/index.js';
import { plainBox, type SecretBox, secretBoxFor } from '../store/secret-box.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/store.js';

/** Options of `herald serve`, already checked by the CLI. */
export interface ServeOptions {
  port: number;
  host: string;
  db: string;
  role: 'all' | 'api' | 'worker';
  allowNetwork: string[];
  logLevel: string;
  headerStyle: 'standard' | 'svix';
  /** Lease of claimed deliveries in ms (how soon a dead worker's deliveries are taken over). */
  leaseMs: number;
  adminToken: string | undefined;
  /** Base URL clients reach the API at, for links it returns; default the listening address. */
  publicUrl: string | undefined;
  /** `HERALD_MAIN_KEY`: seals signing secrets at rest when set. */
  mainKey: string | undefined;
  version: string;
}

/** How long a clean stop may take: in-flight attempts get 10 s, then releases and closing. */
const STOP_DEADLINE_MS = 30_000;

/** Opens the store named by `--db`: a `postgres://` URL, or else a SQLite file path. */
export async function openStore(db: string, secretBox: SecretBox = plainBox): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(db)) return openPostgresStore({ url: db, secretBox });
  if (db.includes('://'))
    throw new ValidationError('--db', 'must be a SQLite file path or a postgres:// URL');
  return openSqliteStore({ path: db, secretBox });
}

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
  const logger = pino({ level: options.logLevel }, pino.destination(2));
  const store = await openStore(options.db, box);
  const stops: (() => Promise<void>)[] = [];
  out(
    `herald: database ${redactUrl(options.db)} (${store.kind}), secrets ${box.encrypts ? 'encrypted with HERALD_MAIN_KEY' : 'stored in plain text (set HERALD_MAIN_KEY to encrypt them)'}`,
  );

  if (options.role !== 'api') {
    const dispatcher = new Dispatcher({
      store,
      logger,
      allowNetworks: options.allowNetwork,
      headerStyle: options.headerStyle,
      leaseMs: options.leaseMs,
      userAgent: `Herald/${options.version}`,
    }).start();
    stops.push(() => dispatcher.stop());
    out(
      `herald: dispatcher running as ${dispatcher.config.workerId}${options.allowNetwork.length ? `, allowed networks ${options.allowNetwork.join(', ')}` : ''}`,
    );
  }
  if (options.role !== 'worker') {
    const created = await ensureAdminToken(store, options.adminToken);
    // Links the API hands out (source ingest URLs, portal URLs) use --public-url, or else
    // the address it listens on, port included (known only after listen with --port 0).
    let listening = '';
    const publicUrl = options.publicUrl ?? (() => listening);
    const api = await buildApi({ store, logger, publicUrl, version: options.version });
    const address = await api.listen({ port: options.port, host: options.host });
    listening = address;
    stops.unshift(() => api.close());
    if (created) out(`herald: created admin token (shown once, only its hash is stored): ${created}`);
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
  await store[Symbol.asyncDispose]();
  out('herald: stopped');
}

/** A database URL without its password, for printing. */
function redactUrl(db: string): string {
  try {
    const url = new URL(db);
    if (url.password) url.password = '***';
    return url.protocol === 'file:' ? db : url.toString();
  } catch {
    return db;
  }
}

/** `herald serve`: the API and the dispatcher, together or split by role. */
import { pino } from 'pino';
import { ensureAdminToken } from '../api/auth.js';
import { buildApi } from '../api/server.js';
import { ValidationError } from '../core/errors.js';
import { Dispatcher } from '../delivery/dispatcher.js';
import { AddressPolicy } from '../delivery/ssrf.js';
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
  adminToken: string | undefined;
  version: string;
}

/** Opens the store named by `--db`: a file path (SQLite). */
export function openStore(db: string): Store {
  if (/^postgres(ql)?:\/\//.test(db)) {
    throw new ValidationError('--db', 'PostgreSQL is not supported yet; give a SQLite file path');
  }
  return openSqliteStore({ path: db });
}

/** Runs until SIGTERM or SIGINT, then stops cleanly: no new requests, in-flight attempts finish or are released. */
export async function serve(options: ServeOptions): Promise<void> {
  // Check what can be checked before anything is opened or created.
  new AddressPolicy(options.allowNetwork);
  const logger = pino({ level: options.logLevel }, pino.destination(2));
  const store = openStore(options.db);
  const stops: (() => Promise<void>)[] = [];
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`herald: database ${options.db} (${store.kind})`);

  if (options.role !== 'api') {
    const dispatcher = new Dispatcher({
      store,
      logger,
      allowNetworks: options.allowNetwork,
      headerStyle: options.headerStyle,
      userAgent: `Herald/${options.version}`,
    }).start();
    stops.push(() => dispatcher.stop());
    out(
      `herald: dispatcher running${options.allowNetwork.length ? `, allowed networks ${options.allowNetwork.join(', ')}` : ''}`,
    );
  }
  if (options.role !== 'worker') {
    const created = await ensureAdminToken(store, options.adminToken);
    const publicUrl = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
    const api = await buildApi({ store, logger, publicUrl, version: options.version });
    const address = await api.listen({ port: options.port, host: options.host });
    stops.unshift(() => api.close());
    if (created) out(`herald: created admin token (shown once, only its hash is stored): ${created}`);
    // Last line of the start-up banner: the server is ready.
    out(`herald: API listening on ${address}`);
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      out(`herald: ${signal} received, shutting down`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  for (const s of stops) await s();
  await store[Symbol.asyncDispose]();
  out('herald: stopped');
}

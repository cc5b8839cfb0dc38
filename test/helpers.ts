/** Test helpers: real receivers on 127.0.0.1, temp SQLite files, waiting for events. */

import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { newId } from '../src/core/ids.js';
import type { Attempt } from '../src/core/types.js';
import type { ClaimedDelivery, Completion, Store } from '../src/store/store.js';

/** A request as a receiver saw it. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** A local HTTP server that records every request and answers with `handler`. */
export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  server: Server;
  /** Resolves once `count` requests in all have arrived (an event, not a poll). */
  arrived(count: number): Promise<void>;
  close(): Promise<void>;
}

type Handler = (req: Received, res: ServerResponse) => void;

/** Starts a receiver on 127.0.0.1, port 0. The default handler answers 200 "ok". */
export async function startReceiver(handler: Handler = (_r, res) => res.end('ok')): Promise<Receiver> {
  const received: Received[] = [];
  const arrivals = new EventEmitter();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      received.push(r);
      arrivals.emit('request', received.length);
      handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    received,
    server,
    arrived: (count) =>
      received.length >= count
        ? Promise.resolve()
        : waitForEvent<number>(arrivals, 'request', (n) => n >= count).then(() => undefined),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A `startReceiver` whose receivers are closed after each test of the calling file. Call it
 * before the file's own `afterEach`, which then runs first (hooks run as a stack).
 */
export function receiversClosedAfterEach(): (handler?: Handler) => Promise<Receiver> {
  const open: Receiver[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((r) => r.close()));
  });
  return async (handler) => {
    const r = await startReceiver(handler);
    open.push(r);
    return r;
  };
}

/** A fresh directory for this test file's databases; removed by the returned function. */
export function tempDir(): { dir: string; path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'herald-test-'));
  return {
    dir,
    path: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Resolves with the first event `name` whose arguments satisfy `predicate`; fails after `ms`. */
export function waitForEvent<T>(
  emitter: EventEmitter,
  name: string,
  predicate: (value: T) => boolean = () => true,
  ms = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(name, listener);
      reject(new Error(`timed out waiting for ${name}`));
    }, ms);
    const listener = (value: T) => {
      if (!predicate(value)) return;
      clearTimeout(timer);
      emitter.off(name, listener);
      resolve(value);
    };
    emitter.on(name, listener);
  });
}

/** Collects `count` events `name` (matching `predicate`); fails after `ms`. */
export function collectEvents<T>(
  emitter: EventEmitter,
  name: string,
  count: number,
  predicate: (value: T) => boolean = () => true,
  ms = 15_000,
): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const seen: T[] = [];
    const timer = setTimeout(() => {
      emitter.off(name, listener);
      reject(new Error(`timed out waiting for ${count} ${name} events, saw ${seen.length}`));
    }, ms);
    const listener = (value: T) => {
      if (!predicate(value)) return;
      seen.push(value);
      if (seen.length < count) return;
      clearTimeout(timer);
      emitter.off(name, listener);
      resolve(seen);
    };
    emitter.on(name, listener);
  });
}

/**
 * The attempt a worker would record for claimed delivery `d` at `at`: a 200 when `ok`, else
 * a 500 (`http_status`), for the store tests that complete deliveries by hand.
 */
export function attemptOf(
  d: ClaimedDelivery,
  ok: boolean,
  at: number,
  url = 'https://receiver.invalid/hook',
): Attempt {
  return {
    id: newId('atmpt', at),
    deliveryId: d.id,
    msgId: d.msgId,
    endpointId: d.endpointId,
    appId: d.appId,
    url,
    trigger: d.trigger,
    succeeded: ok,
    statusCode: ok ? 200 : 500,
    responseBody: ok ? 'ok' : 'boom',
    durationMs: 3,
    errorKind: ok ? null : 'http_status',
    errorMessage: null,
    requestHeaders: {},
    createdAt: at,
  };
}

/** The completion of claimed delivery `d` by worker `owner` after a successful attempt at `at`. */
export function successOf(d: ClaimedDelivery, at: number, owner = 'w'): Completion {
  return {
    owner,
    deliveryId: d.id,
    endpointId: d.endpointId,
    attempt: attemptOf(d, true, at),
    next: { status: 'succeeded' },
    disableEndpoint: false,
  };
}

/** Leases up to `limit` due deliveries to worker 'w' for a minute. */
export function claimFor(store: Pick<Store, 'claimDue'>, now: number, limit: number) {
  return store.claimDue({ owner: 'w', now, leaseMs: 60_000, limit, skipEndpoints: [] });
}

/** Accepts `n` messages of type `e` into `appId`, `batch` at a time. */
export async function acceptMany(
  store: Pick<Store, 'acceptMessage'>,
  appId: string,
  n: number,
  batch = 200,
): Promise<void> {
  for (let i = 0; i < n; i += batch)
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, () =>
        store.acceptMessage({ appId, eventType: 'e', payload: '{}' }),
      ),
    );
}

/**
 * The backlog scenario: `n` deliveries stored while nothing can be sent (the dispatcher is
 * not running, as during a long receiver outage with workers stopped), then drained once
 * it starts. A flat drain rate shows that the cost of a claim does not grow with the backlog.
 * SQLite, store and dispatcher in this process, one endpoint (the worst case for the
 * per-endpoint budget: every claim beyond it must skip that endpoint's backlog).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dispatcher } from '../src/delivery/dispatcher.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { ReceiverProcess } from './harness.js';

export interface BacklogResult {
  /** Messages stored per second while filling. */
  fillRate: number;
  /** Deliveries per second over the first and the last tenth of the drain. */
  startRate: number;
  endRate: number;
  /** Whole drain, deliveries per second. */
  drainRate: number;
  /** Database file and WAL at the full backlog, MiB. */
  dbMb: number;
  /** Peak RSS of this process while filling and while draining, MB. */
  fillRssMb: number;
  drainRssMb: number;
}

const fileMb = (path: string) => {
  try {
    return statSync(path).size / 2 ** 20;
  } catch {
    return 0;
  }
};

export async function backlog(receiver: ReceiverProcess, n: number, payload: string): Promise<BacklogResult> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-backlog-'));
  const path = join(dir, 'backlog.db');
  let store = openSqliteStore({ path });
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  try {
    const app = await store.createApplication({ name: 'backlog' });
    await store.createEndpoint(app.id, { url: receiver.url });
    const fillStarted = performance.now();
    let next = 0;
    const producer = async () => {
      while (next < n) {
        next++;
        await store.acceptMessage({ appId: app.id, eventType: 'content.published', payload });
      }
    };
    await Promise.all(Array.from({ length: 64 }, producer));
    const fillRate = n / ((performance.now() - fillStarted) / 1000);
    // The outage ends with a restart: the store is reopened (which checkpoints the WAL), so
    // the drain does not pay for the fill's checkpoint.
    await store[Symbol.asyncDispose]();
    const fillRssMb = peakRss / 2 ** 20;
    const dbMb = fileMb(path) + fileMb(`${path}-wal`);
    console.error(`  backlog: ${n} stored at ${Math.round(fillRate)}/s, ${dbMb.toFixed(0)} MiB; draining`);
    global.gc?.();
    peakRss = 0;
    store = openSqliteStore({ path });

    const dispatcher = new Dispatcher({ store, allowNetworks: ['127.0.0.0/8'] });
    const tenth = Math.max(1, Math.floor(n / 10));
    const marks: number[] = [];
    let succeeded = 0;
    const done = new Promise<void>((resolve) => {
      dispatcher.on('attempt', (e) => {
        if (!e.attempt.succeeded) return;
        succeeded++;
        if (succeeded % tenth === 0 || succeeded === n) marks.push(performance.now());
        if (succeeded === n) resolve();
      });
    });
    const drainStarted = performance.now();
    dispatcher.start();
    await done;
    const drainEnded = performance.now();
    await dispatcher.stop();
    const first = marks[0]!;
    // The mark at 9/10 of the backlog, and the end.
    const ninth = marks[8] ?? marks[marks.length - 2]!;
    return {
      fillRate,
      startRate: tenth / ((first - drainStarted) / 1000),
      endRate: (n - 9 * tenth) / ((drainEnded - ninth) / 1000),
      drainRate: n / ((drainEnded - drainStarted) / 1000),
      dbMb,
      fillRssMb,
      drainRssMb: peakRss / 2 ** 20,
    };
  } finally {
    clearInterval(sampler);
    await store[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  }
}

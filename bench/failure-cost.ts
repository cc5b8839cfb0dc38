/**
 * What recording a batch of completed attempts costs, when they succeed and when they fail,
 * on either store: `N` messages to one endpoint, claimed and completed `BATCH` at a time as
 * the dispatcher does, each attempt a success or a failure retried in an hour (an outage);
 * the two outcomes alternate, `ROUNDS` times each. Reports the wall and CPU microseconds of
 * `Store.complete` per delivery (CPU: this process; PostgreSQL's own is not in it).
 *
 *   STORE=sqlite N=20000 ROUNDS=3 npx tsx bench/failure-cost.ts
 *   STORE=postgres N=5000 ROUNDS=3 npx tsx bench/failure-cost.ts
 *
 * Run the same file from a checkout of another commit to compare (it imports `../src`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '../src/core/ids.js';
import type { Attempt } from '../src/core/types.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { Completion, Store } from '../src/store/store.js';

const STORE = process.env.STORE ?? 'sqlite';
const N = Number(process.env.N ?? 20_000);
const BATCH = Number(process.env.BATCH ?? 128);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const dir = mkdtempSync(join(tmpdir(), 'herald-failure-cost-'));
const schema = `bench_failure_cost_${process.pid}`;
const store: Store =
  STORE === 'postgres'
    ? await openPostgresStore({ url: PG_URL, schema, poolSize: 4 })
    : openSqliteStore({ path: join(dir, 'cost.db') });

/** One round: N messages accepted (not timed), then claimed and completed; µs per delivery of complete. */
async function round(appId: string, fail: boolean): Promise<{ wall: number; cpu: number }> {
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    pending.push(store.acceptMessage({ appId, eventType: 'order.paid', payload: `{"n":${i}}` }));
    if (pending.length === 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  let wall = 0;
  let cpu = 0;
  let done = 0;
  while (done < N) {
    const now = Date.now();
    const claimed = await store.claimDue({
      owner: 'bench',
      now,
      leaseMs: 120_000,
      limit: BATCH,
      skipEndpoints: [],
    });
    if (claimed.length === 0) throw new Error(`only ${done} of ${N} deliveries were due`);
    done += claimed.length;
    const completions = claimed.map((d): Completion => {
      const attempt: Attempt = {
        id: newId('atmpt', now),
        deliveryId: d.id,
        msgId: d.msgId,
        endpointId: d.endpointId,
        appId: d.appId,
        url: 'https://receiver.example/hook',
        trigger: d.trigger,
        succeeded: !fail,
        statusCode: fail ? 503 : 200,
        responseBody: fail ? 'unavailable' : 'ok',
        durationMs: 2,
        errorKind: fail ? 'http_status' : null,
        errorMessage: null,
        requestHeaders: { 'content-type': 'application/json' },
        createdAt: now,
      };
      return {
        owner: 'bench',
        deliveryId: d.id,
        endpointId: d.endpointId,
        attempt,
        next: fail ? { status: 'pending', dueAt: now + 3_600_000 } : { status: 'succeeded' },
        disableEndpoint: false,
      };
    });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await store.complete(completions, now, Number.MAX_SAFE_INTEGER);
    wall += performance.now() - t0;
    const used = process.cpuUsage(cpu0);
    cpu += used.user + used.system;
  }
  return { wall: (wall * 1000) / N, cpu: cpu / N };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  const app = await store.createApplication({ name: 'cost' });
  await store.createEndpoint(app.id, { url: 'https://receiver.example/hook' });
  const runs = {
    succeed: [] as { wall: number; cpu: number }[],
    fail: [] as { wall: number; cpu: number }[],
  };
  for (let r = 0; r < ROUNDS; r++)
    for (const outcome of r % 2 === 0 ? (['succeed', 'fail'] as const) : (['fail', 'succeed'] as const))
      runs[outcome].push(await round(app.id, outcome === 'fail'));
  for (const [outcome, xs] of Object.entries(runs)) {
    const walls = xs.map((x) => x.wall);
    const cpus = xs.map((x) => x.cpu);
    console.log(
      `${STORE} complete, attempts that ${outcome === 'fail' ? 'fail' : 'succeed'}, µs per delivery (batches of ${BATCH}, ${N} a round): ` +
        `wall ${median(walls).toFixed(1)} [${walls.map((w) => w.toFixed(1)).join(', ')}], ` +
        `CPU ${median(cpus).toFixed(1)} [${cpus.map((c) => c.toFixed(1)).join(', ')}]`,
    );
  }
} finally {
  await store[Symbol.asyncDispose]();
  if (STORE === 'postgres') {
    const pg = (await import('pg')).default;
    const c = new pg.Client(PG_URL);
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `GET /api/v1/failures` after an outage: one busy endpoint with `ATTEMPTS` (default
 * 1,000,000) failed attempts and as many deliveries failed for good, beside `ENDPOINTS`
 * (default 1,000) other endpoints in 100 applications on 50 hosts with a few failures each;
 * then the route as the dashboard calls it, timed on a real server on 127.0.0.1, and the
 * plans of its two queries (neither reads `attempts`).
 *
 *   STORE=sqlite npx tsx bench/failures-route.ts
 *   STORE=postgres npx tsx bench/failures-route.ts [ATTEMPTS=1000000 ENDPOINTS=1000]
 *
 * The rows are filled fast: Herald's store writes one message, its delivery and its failed
 * attempt to the busy endpoint (so every column is what Herald writes), and the rest are
 * copies of those rows made by one INSERT … SELECT each, with ids that are the first ones with
 * a suffix (unique, and in the recover window like the first); the busy endpoint's failure
 * group is then given the count a million failed completions would have left it. The other
 * endpoints' failures go through `Store.complete`, as the dispatcher records them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { hashToken } from '../src/api/auth.js';
import { buildApi } from '../src/api/server.js';
import { idFloor, newId } from '../src/core/ids.js';
import type { Attempt } from '../src/core/types.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { Completion, Store } from '../src/store/store.js';

const STORE = process.env.STORE ?? 'sqlite';
const ATTEMPTS = Number(process.env.ATTEMPTS ?? 1_000_000);
const ENDPOINTS = Number(process.env.ENDPOINTS ?? 1_000);
const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOKEN = 'bench-failures';
const REQUESTS = 20;

const dir = mkdtempSync(join(tmpdir(), 'herald-failures-route-'));
const path = join(dir, 'failures.db');
const schema = `bench_failures_${process.pid}`;
const store: Store =
  STORE === 'postgres'
    ? await openPostgresStore({ url: PG_URL, schema, poolSize: 4 })
    : openSqliteStore({ path });

/** Raw SQL on the same database, for the copies and the plans. */
interface Raw {
  exec(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  columns(table: string): Promise<string[]>;
  close(): Promise<void>;
}

async function raw(): Promise<Raw> {
  if (STORE === 'postgres') {
    const c = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await c.connect();
    return {
      exec: async (sql, params = []) => (await c.query(sql, params)).rows,
      columns: async (table) =>
        (
          await c.query<{ column_name: string }>(
            'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
            [schema, table],
          )
        ).rows.map((r) => r.column_name),
      close: async () => {
        await c.end();
      },
    };
  }
  const db = new Database(path);
  return {
    exec: async (sql, params = []) => {
      const st = db.prepare(sql);
      if (st.reader) return st.all(...params) as Record<string, unknown>[];
      st.run(...params);
      return [];
    },
    columns: async (table) => (db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name),
    close: async () => {
      db.close();
    },
  };
}

/** Completes what is due now: each attempt fails with `status`, retried in an hour. */
async function failAll(status: number): Promise<number> {
  const now = Date.now();
  const claimed = await store.claimDue({
    owner: 'bench',
    now,
    leaseMs: 60_000,
    limit: 500,
    skipEndpoints: [],
  });
  const urls = new Map<string, string>();
  for (const d of claimed)
    if (!urls.has(d.endpointId))
      urls.set(d.endpointId, (await store.getEndpoint(d.appId, d.endpointId))!.url);
  await store.complete(
    claimed.map((d): Completion => {
      const attempt: Attempt = {
        id: newId('atmpt', now),
        deliveryId: d.id,
        msgId: d.msgId,
        endpointId: d.endpointId,
        appId: d.appId,
        url: urls.get(d.endpointId)!,
        trigger: d.trigger,
        succeeded: false,
        statusCode: status,
        responseBody: 'unavailable',
        durationMs: 3,
        errorKind: 'http_status',
        errorMessage: null,
        requestHeaders: {},
        createdAt: now,
      };
      return {
        owner: 'bench',
        deliveryId: d.id,
        endpointId: d.endpointId,
        attempt,
        next: { status: 'failed', exhausted: true },
        disableEndpoint: false,
      };
    }),
    now,
    Number.MAX_SAFE_INTEGER,
  );
  return claimed.length;
}

const sql = await raw();
try {
  await store.saveToken(hashToken(TOKEN), null);
  // The others first: 100 applications, ENDPOINTS endpoints on 50 hosts, one failed delivery each.
  const apps: string[] = [];
  for (let i = 0; i < 100; i++) apps.push((await store.createApplication({ name: `customer ${i}` })).id);
  for (let i = 0; i < ENDPOINTS; i++)
    await store.createEndpoint(apps[i % 100]!, { url: `https://host-${i % 50}.example/hooks/${i}` });
  for (const appId of apps) await store.acceptMessage({ appId, eventType: 'order.paid', payload: '{"n":0}' });
  while ((await failAll(503)) > 0);

  // The busy endpoint: one message, delivery and failed attempt written by Herald, then copies.
  const busyApp = (await store.createApplication({ name: 'Busy', uid: 'busy' })).id;
  const busy = await store.createEndpoint(busyApp, { url: 'https://busy.example/hook' });
  const first = await store.acceptMessage({
    appId: busyApp,
    eventType: 'order.paid',
    payload: '{"order":1}',
  });
  await failAll(502);
  const started = performance.now();
  const copies = ATTEMPTS - 1;
  const idCols = {
    messages: ['id'],
    deliveries: ['id', 'msg_id'],
    attempts: ['id', 'delivery_id', 'msg_id'],
  };
  const pgStore = STORE === 'postgres';
  const series = pgStore
    ? 'generate_series(1, $2) AS n(i)'
    : '(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) SELECT i FROM s) n';
  for (const [table, key] of [
    ['messages', 'id'],
    ['deliveries', 'msg_id'],
    ['attempts', 'msg_id'],
  ] as const) {
    const cols = await sql.columns(table);
    const select = cols.map((c) =>
      (idCols[table] as string[]).includes(c) ? `t.${c} || '_' || n.i` : `t.${c}`,
    );
    await sql.exec(
      `INSERT INTO ${table} (${cols.join(', ')}) SELECT ${select.join(', ')} FROM ${table} t, ${series} WHERE t.${key} = ${pgStore ? '$1' : '?'}`,
      pgStore ? [first.message.id, copies] : [copies, first.message.id],
    );
  }
  await sql.exec(
    `UPDATE failure_groups SET attempts = attempts + ${pgStore ? '$1' : '?'} WHERE endpoint_id = ${pgStore ? '$2' : '?'}`,
    [copies, busy.id],
  );
  if (STORE === 'postgres') await sql.exec('ANALYZE');
  console.log(
    `filled in ${((performance.now() - started) / 1000).toFixed(0)} s: ${ATTEMPTS} failed attempts and deliveries on ${busy.url}, ${ENDPOINTS} other endpoints failing`,
  );

  const api = await buildApi({ store });
  const url = await api.listen({ port: 0, host: '127.0.0.1' });
  const time = async (query: string) => {
    const ms: number[] = [];
    let body: { data: { attempts: number; failedNow: number; endpointCount: number }[] } = { data: [] };
    for (let i = 0; i < REQUESTS; i++) {
      const t0 = performance.now();
      const res = await fetch(`${url}/api/v1/failures?${query}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      body = (await res.json()) as typeof body;
      ms.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`${query}: ${res.status} ${JSON.stringify(body)}`);
    }
    ms.sort((a, b) => a - b);
    const top = body.data[0]!;
    console.log(
      `GET /api/v1/failures?${query}: median ${ms[REQUESTS / 2]!.toFixed(1)} ms, max ${ms.at(-1)!.toFixed(1)} ms ` +
        `(${REQUESTS} requests; ${body.data.length} groups, the first: ${top.attempts} attempts, ${top.failedNow} failed now, ${top.endpointCount} endpoints)`,
    );
  };
  const run = async (when: string) => {
    console.log(`-- ${STORE}, ${when}`);
    await time('group_by=endpoint');
    await time('group_by=host');
    await time('group_by=endpoint&app_id=busy');
    // The confirmation of "Resend all": the one group, counted exactly.
    await time(`group_by=endpoint&endpoint_id=${busy.id}&exact_counts=true`);
    await time('group_by=host&host=busy.example&exact_counts=true');
  };
  await run('as filled');
  if (STORE === 'postgres') {
    // What autovacuum leaves: the visibility map lets the count read the index alone.
    await sql.exec('VACUUM ANALYZE deliveries');
    await run('after VACUUM (as autovacuum would leave it)');
  }
  await api.close();

  // The plans: the groups' rows, and one endpoint's state with its failed-now count.
  const floor = idFloor('dlv', Date.now() - 14 * 86_400_000);
  const plans =
    STORE === 'postgres'
      ? [
          [
            'rows',
            'EXPLAIN SELECT * FROM failure_groups f JOIN endpoints e ON e.id = f.endpoint_id WHERE f.last_at >= 0',
          ],
          [
            'failed now',
            `EXPLAIN SELECT count(*) FROM deliveries d WHERE d.endpoint_id = '${busy.id}' AND d.status = 'failed' AND d.id >= '${floor}'`,
          ],
        ]
      : [
          [
            'rows',
            'EXPLAIN QUERY PLAN SELECT * FROM failure_groups f JOIN endpoints e ON e.id = f.endpoint_id WHERE f.last_at >= 0',
          ],
          [
            'failed now',
            `EXPLAIN QUERY PLAN SELECT count(*) FROM deliveries d INDEXED BY deliveries_failed WHERE d.endpoint_id = '${busy.id}' AND d.status = 'failed' AND d.id >= '${floor}'`,
          ],
        ];
  for (const [name, q] of plans) {
    const rows = await sql.exec(q!);
    console.log(`plan (${name}): ${rows.map((r) => r['QUERY PLAN'] ?? r.detail).join(' / ')}`);
  }
} finally {
  await sql.close();
  await store[Symbol.asyncDispose]();
  if (STORE === 'postgres') {
    const c = new pg.Client(PG_URL);
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
  rmSync(dir, { recursive: true, force: true });
}

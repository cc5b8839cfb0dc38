/**
 * The dashboard's list and search requests on a big database: `--messages` messages
 * (default 1,000,000, each with a delivery and an attempt, 1 in 100 failed, 1 in 1,000 pending
 * a retry a day ahead, each with an eventId and an idempotency key) and `--apps` applications
 * (default 10,000, each with an endpoint of its own URL), on SQLite or PostgreSQL, then the
 * requests the dashboard makes, timed against a real `herald serve` (dist/: `npm run build`
 * first).
 *
 *   npm run build && npx tsx bench/dashboard-queries.ts [--store sqlite|postgres] \
 *     [--messages 1000000] [--apps 10000] [--keep NAME]
 *
 * PostgreSQL: a database of its own on the server of `HERALD_BENCH_PG_URL` (default
 * postgres://postgres@127.0.0.1:5432/test), dropped at the end. `--keep NAME` keeps the filled
 * database (a SQLite file path, or a PostgreSQL database name) and, when it exists already,
 * measures it again without filling it: a 1M fill takes minutes.
 *
 * The database is filled fast: Herald makes one application, endpoint, message, delivery and
 * attempt through its API (so every column is what Herald writes), and the rest are copies
 * of those rows with new ids (Herald's own id scheme, in time order), event ids, keys and
 * times: with better-sqlite3 in transactions of 50,000 messages, or on PostgreSQL as
 * `INSERT … SELECT … FROM unnest(…)` of 20,000 rows a statement.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { newId } from '../src/core/ids.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    messages: { type: 'string', default: '1000000' },
    apps: { type: 'string', default: '10000' },
    keep: { type: 'string' },
  },
});
const STORE = values.store;
if (STORE !== 'sqlite' && STORE !== 'postgres') throw new Error('--store is sqlite or postgres');
const MESSAGES = Number(values.messages);
const APPS = Number(values.apps);
const TYPES = ['order.created', 'order.paid', 'customer.updated', 'order.refunded'];
const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));
const TOKEN = `bench_${Math.random().toString(36).slice(2)}`;
const PG_URL = process.env.HERALD_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Message i's state: 1 in 100 failed, 1 in 1,000 pending (a retry a day ahead), else succeeded. */
const stateOf = (i: number) => (i % 100 === 7 ? 'failed' : i % 1000 === 3 ? 'pending' : 'succeeded');

async function serve(db: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--db', db, '--allow-network', '127.0.0.0/8', '--log-level', 'warn'],
    { env: { ...process.env, HERALD_ADMIN_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stderr.on('data', (d: Buffer) => {
    out += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const m = /API listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`herald exited with ${code}:\n${out}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function call(url: string, method: string, path: string, body?: unknown, headers = {}) {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown> & { data: Record<string, unknown>[] };
}

/** The database measured: its `--db`, whether it holds the rows already, its size, its removal. */
interface Target {
  db: string;
  filled: boolean;
  sizeMb: () => Promise<number>;
  drop: () => Promise<void>;
}

async function target(): Promise<Target> {
  if (STORE === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'herald-dash-bench-'));
    const path = values.keep ?? join(dir, 'herald.db');
    return {
      db: path,
      filled: values.keep !== undefined && existsSync(path),
      sizeMb: async () => statSync(path).size / 2 ** 20,
      drop: async () => {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = values.keep ?? `herald_dash_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client(PG_URL);
  await admin.connect();
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount! > 0;
  if (!exists) await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    db: url.toString(),
    filled: exists,
    sizeMb: async () =>
      Number((await admin.query('SELECT pg_database_size($1) AS n', [name])).rows[0].n) / 2 ** 20,
    drop: async () => {
      if (values.keep === undefined) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** The rows Herald writes itself: the big application, its endpoint, a message and its failed attempt. */
async function template(url: string): Promise<void> {
  const app = await call(url, 'POST', '/app', { name: 'Big Customer', uid: 'big' });
  const appId = app.id as string;
  const ep = await call(url, 'POST', `/app/${appId}/endpoint`, {
    url: 'http://127.0.0.1:9/hook',
    retrySchedule: [],
  });
  const payload = { id: 'ord_1', total: 12.5, currency: 'EUR', items: [{ sku: 'TEA-01', quantity: 2 }] };
  await call(
    url,
    'POST',
    `/app/${appId}/msg`,
    { eventType: 'order.created', eventId: 'template', payload },
    { 'idempotency-key': 'template' },
  );
  for (let i = 0; ; i++) {
    const a = await call(url, 'GET', `/app/${appId}/attempt/endpoint/${ep.id}`);
    if (a.data.length) return;
    if (i > 100) throw new Error('no attempt was made');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The values of the copies of one batch, by column, for message numbers `from` to `to`. */
function batchOf(from: number, to: number, t0: number) {
  const cols = {
    msg: {
      id: [] as string[],
      event_id: [] as string[],
      event_type: [] as string[],
      created_at: [] as number[],
    },
    idem: [] as string[],
    dlv: { id: [] as string[], status: [] as string[], due_at: [] as (number | null)[] },
    atm: { id: [] as string[], succeeded: [] as boolean[], status_code: [] as number[], at: [] as number[] },
  };
  const dueLater = Date.now() + 86_400_000;
  for (let i = from; i < to; i++) {
    const at = t0 + i * 1000;
    const state = stateOf(i);
    cols.msg.id.push(newId('msg', at));
    cols.msg.event_id.push(`evt_${i}`);
    cols.msg.event_type.push(TYPES[i % TYPES.length]!);
    cols.msg.created_at.push(at);
    cols.idem.push(`key_${i}`);
    cols.dlv.id.push(newId('dlv', at));
    cols.dlv.status.push(state);
    cols.dlv.due_at.push(state === 'pending' ? dueLater : null);
    cols.atm.id.push(newId('atmpt', at + 200));
    cols.atm.succeeded.push(state === 'succeeded');
    cols.atm.status_code.push(state === 'succeeded' ? 200 : 503);
    cols.atm.at.push(at + 200);
  }
  return cols;
}

const BATCH = 20_000;

async function fillSqlite(path: string): Promise<void> {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const columns = (table: string) =>
    (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  /** `INSERT INTO t SELECT …` copying the template row, with `set` columns from parameters. */
  const copier = (table: string, where: string, set: string[]) => {
    const cols = columns(table);
    const select = cols.map((c) => (set.includes(c) ? `@${c}` : c)).join(', ');
    return db.prepare(
      `INSERT INTO ${table} (${cols.join(', ')}) SELECT ${select} FROM ${table} WHERE ${where}`,
    );
  };
  const t = db
    .prepare(
      `SELECT m.id AS msg, m.app_id AS app, d.id AS dlv, d.endpoint_id AS ep, a.id AS atm
       FROM messages m JOIN deliveries d ON d.msg_id = m.id JOIN attempts a ON a.msg_id = m.id
       WHERE m.event_id = 'template'`,
    )
    .get() as { msg: string; app: string; dlv: string; ep: string; atm: string };
  const appCopy = copier('applications', `id = '${t.app}'`, ['id', 'uid', 'name']);
  const epCopy = copier('endpoints', `id = '${t.ep}'`, ['id', 'app_id', 'url']);
  const msgCopy = copier('messages', `id = '${t.msg}'`, [
    'id',
    'event_id',
    'event_type',
    'idempotency_key',
    'created_at',
  ]);
  const dlvCopy = copier('deliveries', `id = '${t.dlv}'`, ['id', 'msg_id', 'status', 'due_at', 'created_at']);
  const atmCopy = copier('attempts', `id = '${t.atm}'`, [
    'id',
    'delivery_id',
    'msg_id',
    'succeeded',
    'status_code',
    'error_kind',
    'error_message',
    'created_at',
  ]);
  db.transaction(() => {
    for (let i = 0; i < APPS - 1; i++) {
      const id = newId('app');
      appCopy.run({ id, uid: `customer-${i}`, name: `Customer ${i}` });
      epCopy.run({ id: newId('ep'), app_id: id, url: `https://customer-${i}.example.com/webhooks` });
    }
  })();
  const t0 = Date.now() - MESSAGES * 1000;
  for (let from = 0; from < MESSAGES; from += BATCH) {
    const to = Math.min(MESSAGES, from + BATCH);
    const b = batchOf(from, to, t0);
    db.transaction(() => {
      for (let k = 0; k < to - from; k++) {
        const ok = b.atm.succeeded[k]!;
        msgCopy.run({
          id: b.msg.id[k],
          event_id: b.msg.event_id[k],
          event_type: b.msg.event_type[k],
          idempotency_key: b.idem[k],
          created_at: b.msg.created_at[k],
        });
        dlvCopy.run({
          id: b.dlv.id[k],
          msg_id: b.msg.id[k],
          status: b.dlv.status[k],
          due_at: b.dlv.due_at[k],
          created_at: b.msg.created_at[k],
        });
        atmCopy.run({
          id: b.atm.id[k],
          delivery_id: b.dlv.id[k],
          msg_id: b.msg.id[k],
          succeeded: ok ? 1 : 0,
          status_code: b.atm.status_code[k],
          error_kind: ok ? null : 'status',
          error_message: ok ? null : 'the endpoint answered 503',
          created_at: b.atm.at[k],
        });
      }
    })();
    process.stderr.write(`\r${to.toLocaleString()} messages`);
  }
  db.exec('ANALYZE');
  db.close();
}

async function fillPostgres(url: string): Promise<void> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    const types = async (table: string) =>
      (
        await c.query<{ column_name: string; udt_name: string }>(
          `SELECT column_name, udt_name FROM information_schema.columns
           WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
          [table],
        )
      ).rows;
    /** Copies the template row `id` of `table` once per element of the arrays of `set`. */
    const copy = async (table: string, id: string, set: Record<string, unknown[]>) => {
      const cols = await types(table);
      const names = Object.keys(set);
      const select = cols.map((col) =>
        names.includes(col.column_name) ? `u."${col.column_name}"` : `t."${col.column_name}"`,
      );
      const arrays = names.map(
        (n, i) => `$${i + 2}::${cols.find((col) => col.column_name === n)!.udt_name}[]`,
      );
      await c.query(
        `INSERT INTO ${table} (${cols.map((col) => `"${col.column_name}"`).join(', ')})
         SELECT ${select.join(', ')} FROM ${table} t, unnest(${arrays.join(', ')}) AS u(${names.map((n) => `"${n}"`).join(', ')})
         WHERE t.id = $1`,
        [id, ...Object.values(set)],
      );
    };
    const t = (
      await c.query<{ msg: string; app: string; dlv: string; ep: string; atm: string }>(
        `SELECT m.id AS msg, m.app_id AS app, d.id AS dlv, d.endpoint_id AS ep, a.id AS atm
         FROM messages m JOIN deliveries d ON d.msg_id = m.id JOIN attempts a ON a.msg_id = m.id
         WHERE m.event_id = 'template'`,
      )
    ).rows[0]!;
    const appIds = Array.from({ length: APPS - 1 }, () => newId('app'));
    const seq = appIds.map((_, i) => i);
    await copy('applications', t.app, {
      id: appIds,
      uid: seq.map((i) => `customer-${i}`),
      name: seq.map((i) => `Customer ${i}`),
    });
    await copy('endpoints', t.ep, {
      id: appIds.map(() => newId('ep')),
      app_id: appIds,
      url: seq.map((i) => `https://customer-${i}.example.com/webhooks`),
    });
    const t0 = Date.now() - MESSAGES * 1000;
    for (let from = 0; from < MESSAGES; from += BATCH) {
      const to = Math.min(MESSAGES, from + BATCH);
      const b = batchOf(from, to, t0);
      await c.query('BEGIN');
      await copy('messages', t.msg, { ...b.msg, idempotency_key: b.idem });
      await copy('deliveries', t.dlv, { ...b.dlv, msg_id: b.msg.id, created_at: b.msg.created_at });
      await copy('attempts', t.atm, {
        id: b.atm.id,
        delivery_id: b.dlv.id,
        msg_id: b.msg.id,
        succeeded: b.atm.succeeded,
        status_code: b.atm.status_code,
        error_kind: b.atm.succeeded.map((ok) => (ok ? null : 'status')),
        error_message: b.atm.succeeded.map((ok) => (ok ? null : 'the endpoint answered 503')),
        created_at: b.atm.at,
      });
      await c.query('COMMIT');
      process.stderr.write(`\r${to.toLocaleString()} messages`);
    }
    await c.query('VACUUM ANALYZE');
  } finally {
    await c.end();
  }
}

const where = await target();
try {
  if (!where.filled) {
    // 1. One of each row, written by Herald. The endpoint's port is closed: the attempt fails.
    const herald = await serve(where.db);
    await template(herald.url);
    await herald.stop();
    // 2. Copies.
    const started = Date.now();
    if (STORE === 'sqlite') await fillSqlite(where.db);
    else await fillPostgres(where.db);
    process.stderr.write(`\nfilled in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  }
  const sizeMb = await where.sizeMb();

  // 3. The dashboard's requests, each the median of 7 after one warm-up.
  const herald = await serve(where.db);
  const appId = (await call(herald.url, 'GET', '/app/big')).id as string;
  const epId = (await call(herald.url, 'GET', `/app/${appId}/endpoint?limit=1`)).data[0]!.id as string;
  const sample = await call(
    herald.url,
    'GET',
    `/app/${appId}/msg/evt_${Math.floor(MESSAGES / 2)}?with_content=false`,
  );
  const msgId = sample.id as string;
  const hour = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
  const log = `/app/${appId}/msg?limit=50&with_content=false`;
  const host = `customer-${Math.floor(APPS / 2)}.example.com`;
  const requests: [string, string][] = [
    ['applications, first page (50)', '/app?limit=50'],
    ['application name search, a name one has (`name=big cust`)', '/app?limit=50&name=big%20cust'],
    [`application name search, a name none of ${APPS.toLocaleString()} has`, '/app?limit=50&name=umbrella'],
    ['application by uid', '/app/big'],
    ['message log, newest 50', log],
    ['message log, one event type', `${log}&event_types=order.paid`],
    ['message log, last hour', `${log}&after=${hour(1)}&before=${new Date().toISOString()}`],
    ['message log, a day a week ago', `${log}&after=${hour(192)}&before=${hour(168)}`],
    ['message log, failed (`status=2`, any endpoint; 1% of messages)', `${log}&status=2`],
    ['message log, pending (`status=1`, any endpoint; 0.1%)', `${log}&status=1`],
    ['message log, failed, a type every failed one has', `${log}&status=2&event_types=order.refunded`],
    ['message log, failed, a type no failed one has', `${log}&status=2&event_types=order.paid`],
    ['message log, failed, last hour', `${log}&status=2&after=${hour(1)}&before=${new Date().toISOString()}`],
    [
      'message log, one endpoint, failed (50)',
      `/app/${appId}/endpoint/${epId}/msg?status=2&limit=50&with_content=false`,
    ],
    ['find by eventId', `/app/${appId}/msg/evt_${Math.floor(MESSAGES / 3)}?with_content=false`],
    ['find by message id', `/app/${appId}/msg/${msgId}?with_content=false`],
    ['search everything: a message id', `/search?q=${msgId}`],
    ['search everything: an eventId', `/search?q=evt_${Math.floor(MESSAGES / 3)}`],
    ['search everything: an idempotency key', `/search?q=key_${Math.floor(MESSAGES / 4)}`],
    ['search everything: an endpoint URL', `/search?q=${encodeURIComponent(`https://${host}/webhooks`)}`],
    ['search everything: a host (URL prefix, no scheme)', `/search?q=${host}`],
    [
      `search everything: \`https://\` (${APPS.toLocaleString()} URLs have it; 20 shown)`,
      '/search?q=https%3A%2F%2F',
    ],
    ['search everything: nothing matches', '/search?q=umbrella'],
    ["a message's endpoints", `/app/${appId}/msg/${msgId}/endpoint?limit=250`],
    ["a message's attempts", `/app/${appId}/attempt/msg/${msgId}?limit=250`],
    [
      'failed attempts of the endpoint (250)',
      `/app/${appId}/attempt/endpoint/${epId}?status=2&limit=250&with_content=false`,
    ],
    [
      'failed messages of the endpoint (250)',
      `/app/${appId}/endpoint/${epId}/msg?status=2&limit=250&with_content=false`,
    ],
  ];
  const rows: string[] = [];
  for (const [label, path] of requests) {
    await call(herald.url, 'GET', path);
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const s = performance.now();
      await call(herald.url, 'GET', path);
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    rows.push(`| ${label} | ${times[3]!.toFixed(1)} ms | ${times[6]!.toFixed(1)} ms |`);
  }
  await herald.stop();
  process.stdout.write(
    `${STORE}: ${MESSAGES.toLocaleString()} messages (1% failed, 0.1% pending), ${APPS.toLocaleString()} applications, ${sizeMb.toFixed(0)} MiB\n\n| request | median | slowest of 7 |\n| --- | --- | --- |\n${rows.join('\n')}\n`,
  );
} finally {
  await where.drop();
}

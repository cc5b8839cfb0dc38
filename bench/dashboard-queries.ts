/**
 * The dashboard's list and search requests on a big database: `--messages` messages
 * (default 1,000,000, each with a delivery and an attempt, 1 in 100 failed) and `--apps`
 * applications (default 10,000) in a SQLite file, then the requests the dashboard makes,
 * timed against a real `herald serve` (dist/: `npm run build` first).
 *
 *   npm run build && npx tsx bench/dashboard-queries.ts [--messages 1000000] [--apps 10000]
 *
 * The file is filled fast: Herald makes one application, endpoint, message, delivery and
 * attempt through its API (so every column is what Herald writes), and the rest are copies
 * of those rows with new ids (Herald's own id scheme, in time order), event ids and times,
 * inserted in one transaction with better-sqlite3.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { newId } from '../src/core/ids.js';

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '1000000' }, apps: { type: 'string', default: '10000' } },
});
const MESSAGES = Number(values.messages);
const APPS = Number(values.apps);
const TYPES = ['order.created', 'order.paid', 'customer.updated', 'order.refunded'];
const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));
const TOKEN = `bench_${Math.random().toString(36).slice(2)}`;

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

async function call(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown> & { data: Record<string, unknown>[] };
}

const dir = mkdtempSync(join(tmpdir(), 'herald-dash-bench-'));
const dbPath = join(dir, 'herald.db');
try {
  // 1. One of each row, written by Herald. The endpoint's port is closed: the attempt fails.
  let herald = await serve(dbPath);
  const app = await call(herald.url, 'POST', '/app', { name: 'Big Customer', uid: 'big' });
  const appId = app.id as string;
  const ep = await call(herald.url, 'POST', `/app/${appId}/endpoint`, {
    url: 'http://127.0.0.1:9/hook',
    retrySchedule: [],
  });
  const epId = ep.id as string;
  await call(herald.url, 'POST', `/app/${appId}/msg`, {
    eventType: 'order.created',
    eventId: 'template',
    payload: { id: 'ord_1', total: 12.5, currency: 'EUR', items: [{ sku: 'TEA-01', quantity: 2 }] },
  });
  for (let i = 0; ; i++) {
    const a = await call(herald.url, 'GET', `/app/${appId}/attempt/endpoint/${epId}`);
    if (a.data.length) break;
    if (i > 100) throw new Error('no attempt was made');
    await new Promise((r) => setTimeout(r, 100));
  }
  await herald.stop();

  // 2. Copies.
  const db = new Database(dbPath);
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
  const template = db.prepare("SELECT id, created_at FROM messages WHERE event_id = 'template'").get() as {
    id: string;
    created_at: number;
  };
  const delivery = db.prepare('SELECT id FROM deliveries WHERE msg_id = ?').get(template.id) as {
    id: string;
  };
  const attempt = db.prepare('SELECT id FROM attempts WHERE msg_id = ?').get(template.id) as { id: string };
  const appCopy = copier('applications', `id = '${appId}'`, ['id', 'uid', 'name']);
  const msgCopy = copier('messages', `id = '${template.id}'`, ['id', 'event_id', 'event_type', 'created_at']);
  const dlvCopy = copier('deliveries', `id = '${delivery.id}'`, ['id', 'msg_id', 'status', 'created_at']);
  const atmCopy = copier('attempts', `id = '${attempt.id}'`, [
    'id',
    'delivery_id',
    'msg_id',
    'succeeded',
    'status_code',
    'error_kind',
    'error_message',
    'created_at',
  ]);
  const started = Date.now();
  db.transaction(() => {
    for (let i = 0; i < APPS - 1; i++)
      appCopy.run({ id: newId('app'), uid: `customer-${i}`, name: `Customer ${i}` });
  })();
  // A message a second, ending now: the newest pages are the last hour's.
  const t0 = Date.now() - MESSAGES * 1000;
  const BATCH = 50_000;
  for (let from = 0; from < MESSAGES; from += BATCH) {
    db.transaction(() => {
      for (let i = from; i < Math.min(MESSAGES, from + BATCH); i++) {
        const at = t0 + i * 1000;
        const msgId = newId('msg', at);
        const dlvId = newId('dlv', at);
        const failed = i % 100 === 7;
        msgCopy.run({ id: msgId, event_id: `evt_${i}`, event_type: TYPES[i % TYPES.length], created_at: at });
        dlvCopy.run({ id: dlvId, msg_id: msgId, status: failed ? 'failed' : 'succeeded', created_at: at });
        atmCopy.run({
          id: newId('atmpt', at + 200),
          delivery_id: dlvId,
          msg_id: msgId,
          succeeded: failed ? 0 : 1,
          status_code: failed ? 503 : 200,
          error_kind: failed ? 'status' : null,
          error_message: failed ? 'the endpoint answered 503' : null,
          created_at: at + 200,
        });
      }
    })();
    process.stderr.write(`\r${Math.min(MESSAGES, from + BATCH).toLocaleString()} messages`);
  }
  db.exec('ANALYZE');
  db.close();
  const fillS = (Date.now() - started) / 1000;
  const sizeMb = statSync(dbPath).size / 2 ** 20;
  process.stderr.write(`\nfilled in ${fillS.toFixed(0)} s, ${sizeMb.toFixed(0)} MiB\n`);

  // 3. The dashboard's requests, each the median of 7 after one warm-up.
  herald = await serve(dbPath);
  const sample = await call(
    herald.url,
    'GET',
    `/app/${appId}/msg/evt_${Math.floor(MESSAGES / 2)}?with_content=false`,
  );
  const msgId = sample.id as string;
  const hour = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();
  const requests: [string, string | (() => Promise<unknown>)][] = [
    ['applications, first page (50)', '/app?limit=50'],
    ['application name search, a name one has (`name=big cust`)', '/app?limit=50&name=big%20cust'],
    [`application name search, a name none of ${APPS.toLocaleString()} has`, '/app?limit=50&name=umbrella'],
    ['application by uid', '/app/big'],
    ['message log, newest 50', `/app/${appId}/msg?limit=50&with_content=false`],
    ['message log, one event type', `/app/${appId}/msg?limit=50&with_content=false&event_types=order.paid`],
    [
      'message log, last hour',
      `/app/${appId}/msg?limit=50&with_content=false&after=${hour(1)}&before=${new Date().toISOString()}`,
    ],
    [
      'message log, a day a week ago',
      `/app/${appId}/msg?limit=50&with_content=false&after=${hour(192)}&before=${hour(168)}`,
    ],
    ['find by eventId', `/app/${appId}/msg/evt_${Math.floor(MESSAGES / 3)}?with_content=false`],
    ['find by message id', `/app/${appId}/msg/${msgId}?with_content=false`],
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
  for (const [label, what] of requests) {
    const run = typeof what === 'string' ? () => call(herald.url, 'GET', what) : what;
    await run();
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const s = performance.now();
      await run();
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    rows.push(`| ${label} | ${times[3]!.toFixed(1)} ms | ${times[6]!.toFixed(1)} ms |`);
  }
  await herald.stop();
  process.stdout.write(
    `${MESSAGES.toLocaleString()} messages (1% failed), ${APPS.toLocaleString()} applications, SQLite ${sizeMb.toFixed(0)} MiB\n\n| request | median | slowest of 7 |\n| --- | --- | --- |\n${rows.join('\n')}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

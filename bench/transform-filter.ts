/**
 * What payload filters and transformations cost.
 *
 *   npx tsx bench/transform-filter.ts
 *
 * 1. Recipient selection (core/filter.ts `recipients`, as fan-out runs it) of a message among
 *    50 endpoints: without filters, and with a filter on every endpoint: compiled once; with
 *    the endpoints read again per message (each message its own commit batch, the worst case:
 *    their filters come from the stored text, interned, so compiled once too); and with new
 *    filter objects per message (what it cost before the interning: every filter compiled
 *    again).
 * 2. One transformation call: a typical Slack-style handler and an identity handler, in the
 *    sandbox directly and through the worker thread the dispatcher uses.
 * 3. End to end on SQLite (store, dispatcher, receiver in this process): deliveries/s to one
 *    endpoint without a transformation and with the Slack handler. `N` (default 5,000).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recipients } from '../src/core/filter.js';
import { storedFilter } from '../src/core/payload-filter.js';
import { Dispatcher } from '../src/delivery/dispatcher.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import { TransformPool } from '../src/transform/pool.js';
import { Transformer, type WebhookIn } from '../src/transform/sandbox.js';

const N = Number(process.env.N ?? 5_000);
const ENDPOINTS = 50;
const payload = {
  id: 'ord_123',
  amount: 1500,
  currency: 'EUR',
  locale: 'de-AT',
  lines: [
    { sku: 'A1', qty: 2 },
    { sku: 'B2', qty: 1 },
  ],
};
const text = JSON.stringify(payload);
const SLACK = `function handler(webhook) {
  const o = webhook.payload;
  webhook.payload = { text: 'Order ' + o.id + ' paid: ' + o.amount + ' ' + o.currency };
  webhook.headers['x-source'] = webhook.eventType;
  return webhook;
}`;
const IDENTITY = 'function handler(webhook) { return webhook; }';

const filterOf = (i: number) => ({
  'payload.amount': { $gte: i * 40 },
  eventType: { $in: ['order.paid', 'order.refunded'] },
  $or: [{ 'payload.locale': { $regex: '^de' } }, { tags: 'vip' }],
});
const endpoints = (withFilter: boolean) =>
  Array.from({ length: ENDPOINTS }, (_, i) => ({
    id: `ep_${i}`,
    disabled: false,
    filterTypes: null,
    channels: null,
    filter: withFilter ? filterOf(i) : null,
  }));

function perMessage(label: string, run: (i: number) => number, count: number): void {
  for (let i = 0; i < Math.min(2_000, count); i++) run(i);
  const started = performance.now();
  let chosen = 0;
  for (let i = 0; i < count; i++) chosen += run(i);
  const us = ((performance.now() - started) * 1000) / count;
  console.log(`${label.padEnd(58)} ${us.toFixed(2).padStart(8)} µs/message  (${chosen / count} recipients)`);
}

function selection(): void {
  console.log(`\n1. recipient selection among ${ENDPOINTS} endpoints`);
  const message = { eventType: 'order.paid', channels: null, tags: null, payload: text };
  const plain = endpoints(false);
  perMessage('no filters', () => recipients(plain, message).length, 200_000);
  const filtered = endpoints(true);
  perMessage(
    'a filter on every endpoint, batched (compiled once)',
    () => recipients(filtered, message).length,
    50_000,
  );
  // As a commit batch reads them: endpoint rows parsed afresh, their filters by stored text.
  const texts = filtered.map((e) => JSON.stringify(e.filter));
  const read = () => filtered.map((e, i) => ({ ...e, filter: storedFilter(texts[i]!) }));
  perMessage(
    'a filter on every endpoint, endpoints read per message',
    () => recipients(read(), message).length,
    50_000,
  );
  perMessage(
    'a filter on every endpoint, new filter objects per message',
    () => recipients(endpoints(true), message).length,
    2_000,
  );
}

async function perCall(label: string, call: () => Promise<unknown>, count: number): Promise<void> {
  for (let i = 0; i < 200; i++) await call();
  const started = performance.now();
  for (let i = 0; i < count; i++) await call();
  const us = ((performance.now() - started) * 1000) / count;
  console.log(`${label.padEnd(58)} ${us.toFixed(1).padStart(8)} µs/call`);
}

async function calls(): Promise<void> {
  console.log('\n2. one transformation call');
  const input: WebhookIn = {
    eventType: 'order.paid',
    payload,
    url: 'https://hooks.example/x',
    method: 'POST',
    headers: {},
    cancel: false,
    transformationsParams: null,
  };
  const sandbox = new Transformer();
  await perCall('sandbox, identity handler', () => sandbox.run('ep_a', IDENTITY, input), 10_000);
  await perCall('sandbox, Slack handler', () => sandbox.run('ep_b', SLACK, input), 10_000);
  const pool = new TransformPool();
  await perCall(
    'worker thread (as the dispatcher), identity handler',
    () => pool.run('ep_a', IDENTITY, input),
    5_000,
  );
  await perCall(
    'worker thread (as the dispatcher), Slack handler',
    () => pool.run('ep_b', SLACK, input),
    5_000,
  );
  await pool.close();
}

async function endToEnd(code: string | null): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const store = openSqliteStore({ path: join(dir, 'bench.db') });
  let received = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.end('ok');
      if (++received === N) done();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const app = await store.createApplication({ name: 'bench' });
  const ep = await store.createEndpoint(app.id, { url: `http://127.0.0.1:${port}/hook` });
  if (code !== null)
    await store.updateEndpoint(app.id, ep.id, { transformationCode: code, transformationEnabled: true });
  const dispatcher = new Dispatcher({ store, allowNetworks: ['127.0.0.0/8'] }).start();
  const started = performance.now();
  const lanes = 64;
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next++ < N) await store.acceptMessage({ appId: app.id, eventType: 'order.paid', payload: text });
    }),
  );
  await all;
  const seconds = (performance.now() - started) / 1000;
  await dispatcher.stop();
  await store[Symbol.asyncDispose]();
  server.close();
  rmSync(dir, { recursive: true, force: true });
  return N / seconds;
}

async function main(): Promise<void> {
  selection();
  await calls();
  console.log(`\n3. end to end on SQLite, ${N} messages to one endpoint (64 ingest lanes)`);
  for (const [label, code] of [
    ['no transformation', null],
    ['Slack handler', SLACK],
    ['no transformation (again)', null],
    ['Slack handler (again)', SLACK],
  ] as const) {
    const rate = await endToEnd(code);
    console.log(`${label.padEnd(58)} ${rate.toFixed(0).padStart(8)} deliveries/s`);
  }
}

await main();

/**
 * What the SQLite store costs per delivery, phase by phase, with no HTTP at all: messages
 * accepted by 64 concurrent callers (`--producers`; group commit), then claimed and completed 128 at a
 * time with one attempt each, as the dispatcher does. CPU time of this one thread, so the
 * figures hold while other processes share the machine.
 *
 *   npx tsx bench/phases.ts                      # 20,000 messages to one endpoint
 *   npx tsx bench/phases.ts --messages 2000 --endpoints 50
 *   npx tsx bench/phases.ts --messages 2000 --endpoints 21 --skip-first
 *   npx tsx bench/phases.ts --producers 1        # one message per ingest transaction
 *
 * `--skip-first` claims as a dispatcher does while the first endpoint is saturated (a hanging
 * receiver, as in the isolation scenario): its deliveries are skipped and never claimed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newId } from '../src/core/ids.js';
import type { Attempt } from '../src/core/types.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { Completion } from '../src/store/store.js';
import { PAYLOAD } from './e2e.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '20000' },
    endpoints: { type: 'string', default: '1' },
    'skip-first': { type: 'boolean', default: false },
    producers: { type: 'string', default: '64' },
  },
});
const messages = Number(values.messages);
const endpoints = Number(values.endpoints);
const producers = Number(values.producers);
if (!(messages > 0 && endpoints > 0 && producers > 0))
  throw new Error('--messages, --endpoints and --producers must be positive');

/** CPU microseconds of this process spent in `fn`. */
async function cpu(fn: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

const dir = mkdtempSync(join(tmpdir(), 'herald-phases-'));
const store = openSqliteStore({ path: join(dir, 'phases.db') });
try {
  const app = await store.createApplication({ name: 'phases' });
  const ids: string[] = [];
  for (let i = 0; i < endpoints; i++)
    ids.push((await store.createEndpoint(app.id, { url: `http://127.0.0.1:9/?ep=${i}` })).id);
  const skipEndpoints = values['skip-first'] ? ids.slice(0, 1) : [];
  const payload = JSON.stringify(PAYLOAD);
  const deliveries = messages * (endpoints - skipEndpoints.length);
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'Herald/0.1.0',
    'webhook-id': 'msg_2b6EzcIbxLRkZ3x7Bt1OuVHmLwS',
    'webhook-timestamp': '1764201600',
    'webhook-signature': `v1,${'x'.repeat(44)}`,
  };
  let next = 0;
  const ingest = await cpu(async () => {
    const producer = async () => {
      while (next < messages) {
        next++;
        await store.acceptMessage({ appId: app.id, eventType: 'content.published', payload });
      }
    };
    await Promise.all(Array.from({ length: producers }, producer));
  });
  let claim = 0;
  let complete = 0;
  let done = 0;
  while (done < deliveries) {
    let claimed: Awaited<ReturnType<typeof store.claimDue>> = [];
    claim += await cpu(async () => {
      claimed = await store.claimDue({
        owner: 'phases',
        now: Date.now(),
        leaseMs: 120_000,
        limit: 128,
        skipEndpoints: [],
      });
    });
    if (claimed.length === 0) throw new Error(`only ${done} of ${deliveries} deliveries were due`);
    done += claimed.length;
    const now = Date.now();
    const completions: Completion[] = claimed.map((d) => {
      const attempt: Attempt = {
        id: newId('atmpt', now),
        deliveryId: d.id,
        msgId: d.msgId,
        endpointId: d.endpointId,
        appId: d.appId,
        url: 'http://127.0.0.1:9/',
        trigger: d.trigger,
        succeeded: true,
        statusCode: 200,
        responseBody: 'ok',
        durationMs: 1,
        errorKind: null,
        errorMessage: null,
        requestHeaders: headers,
        createdAt: now,
      };
      return {
        owner: 'phases',
        deliveryId: d.id,
        endpointId: d.endpointId,
        attempt,
        next: { status: 'succeeded' },
        disableEndpoint: false,
      };
    });
    complete += await cpu(async () => {
      await store.complete(completions, now, Number.MAX_SAFE_INTEGER);
    });
  }
  const per = (us: number) => (us / deliveries).toFixed(1);
  console.log(
    `SQLite store, ${messages} messages x ${endpoints} endpoint(s)${skipEndpoints.length ? ', the first skipped' : ''}, ` +
      'CPU microseconds per delivery: ' +
      `ingest ${per(ingest)}, claim ${per(claim)}, complete ${per(complete)}, ` +
      `total ${per(ingest + claim + complete)}`,
  );
} finally {
  await store[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
}

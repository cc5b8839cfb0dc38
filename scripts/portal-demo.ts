/**
 * A Herald to look at the consumer portal with: the event catalog of a small shop, three
 * endpoints on local receivers (one healthy, one answering 500, one answering 410 Gone) and
 * messages sent to them. Used by the screenshot script; the browser tests build their own.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The flags of Debian's chromium that keep a headless run quiet and on loopback (DEVELOPERS.md). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** Where Debian puts chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** The shop's event types, with descriptions, schemas and examples. */
export const SHOP_EVENT_TYPES = [
  {
    name: 'order.created',
    description: 'A customer placed an order.',
    example: { id: 'ord_1042', total: 129.5, currency: 'EUR', items: [{ sku: 'TEA-01', quantity: 2 }] },
  },
  {
    name: 'order.paid',
    description: 'The payment of an order went through.',
    example: { id: 'ord_1042', paidAt: '2026-12-03T09:14:00Z', method: 'card' },
  },
  {
    name: 'order.refunded',
    description: 'An order was refunded, in full or in part.',
    example: { id: 'ord_1042', amount: 40, reason: 'damaged' },
  },
  {
    name: 'customer.updated',
    description: "A customer's profile or address changed.",
    example: { id: 'cus_88', email: 'ada@example.com', country: 'NL' },
  },
].map(({ name, description, example }) => ({
  name,
  description,
  schemas: {
    '1': {
      type: 'object',
      title: name,
      properties: Object.fromEntries(
        Object.entries(example).map(([k, v]) => [k, { type: Array.isArray(v) ? 'array' : typeof v }]),
      ),
      required: Object.keys(example),
      examples: [example],
    },
  },
}));

/** A receiver on 127.0.0.1 answering `answer(n)` to its n-th request (from 0). */
export async function statusReceiver(
  answer: number | ((n: number) => number),
): Promise<{ port: number; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = typeof answer === 'number' ? answer : answer(n++);
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(
        status < 300
          ? '{"received":true}'
          : JSON.stringify({ error: status === 410 ? 'gone' : 'database unavailable' }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

/** A running `herald serve` on a throwaway SQLite file. */
export interface DemoHerald {
  url: string;
  admin: string;
  call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Starts `herald serve` (from dist/) on port 0 with loopback endpoints allowed. */
export async function startDemoHerald(extra: string[] = []): Promise<DemoHerald> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-portal-'));
  const admin = `demo_admin_${Math.random().toString(36).slice(2)}`;
  const bin = fileURLToPath(new URL('../bin/herald.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      bin,
      'serve',
      '--port',
      '0',
      '--db',
      join(dir, 'h.db'),
      '--allow-network',
      '127.0.0.0/8',
      '--log-level',
      'warn',
      ...extra,
    ],
    { env: { ...process.env, HERALD_ADMIN_TOKEN: admin }, stdio: ['ignore', 'pipe', 'pipe'] },
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
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  return {
    url,
    admin,
    call,
    stop: async () => {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

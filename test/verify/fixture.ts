/** Shared by the adapter tests: signed headers, and servers on 127.0.0.1 closed after the file. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll } from 'vitest';
import { parseSecret, signatureHeader } from '../../src/core/signing.js';

const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of closers.splice(0)) await c();
});

/** Runs `close` after the calling file's tests. */
export function closeAfterAll(close: () => Promise<unknown>): void {
  closers.push(close);
}

/** Listens on 127.0.0.1, port 0, until the file's tests end; returns the URL of `/hook`. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closeAfterAll(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

/** Headers of `body` signed with `secret` as Herald signs it, now, under `id` (a fresh one by default). */
export function signer(secret: string, body: string): (id?: string) => Record<string, string> {
  let n = 0;
  return (id = `msg_${++n}_${Math.random().toString(36).slice(2)}`) => {
    const ts = Math.floor(Date.now() / 1000);
    return {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': signatureHeader([parseSecret(secret)], id, ts, body),
    };
  };
}

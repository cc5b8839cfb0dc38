/**
 * What answers on the API's port while `herald serve` opens its database and runs its
 * migrations (minutes, on a large PostgreSQL table): `/healthz` 200 (the process is up),
 * `/readyz` and everything else 503 (not ready). It gives the port up just before the API
 * takes it, so an orchestrator sees a process starting, not a port refusing connections.
 * On SQLite the migrations run on the event loop (better-sqlite3 is synchronous): requests
 * wait for them instead.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const STARTING = JSON.stringify({
  status: 'error',
  detail: 'starting: opening the database and running its migrations',
});

/** Listens on `host:port`; resolves with the port it got and the function that gives it up. */
export async function listenWhileStarting(
  host: string,
  port: number,
): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(STARTING);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  let closed: Promise<void> | null = null;
  return {
    port: (server.address() as AddressInfo).port,
    // Once only: the start gives it up, and so does a start that fails on the way.
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      })),
  };
}

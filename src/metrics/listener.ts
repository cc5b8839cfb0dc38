/**
 * `--metrics-port`: `GET /metrics` on a port of its own, without a token, for a scraper
 * inside a private network (and for a worker process, which has no API); `GET /healthz`
 * (200 while the process serves) and `GET /readyz` (what `ready` says) for its orchestrator.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Listens on `host:port`; `ready` resolves with `null` when the process is ready, else what
 * is wrong. Resolves with the URL it listens at and the function that closes it. */
export async function startMetricsListener(
  host: string,
  port: number,
  render: () => Promise<string>,
  ready: () => Promise<string | null> = async () => null,
): Promise<{ url: string; close: () => Promise<void> }> {
  const json = (status: number, body: object) =>
    [status, { 'content-type': 'application/json' }, JSON.stringify(body)] as const;
  const server = createServer((request, response) => {
    const path = request.url?.split('?')[0];
    if (request.method === 'GET' && path === '/healthz') {
      const [status, headers, body] = json(200, { status: 'ok' });
      response.writeHead(status, headers).end(body);
      return;
    }
    if (request.method === 'GET' && path === '/readyz') {
      ready().then(
        (wrong) => {
          const [status, headers, body] =
            wrong === null ? json(200, { status: 'ok' }) : json(503, { status: 'error', detail: wrong });
          response.writeHead(status, headers).end(body);
        },
        (error: Error) => {
          const [status, headers, body] = json(503, { status: 'error', detail: error.message });
          response.writeHead(status, headers).end(body);
        },
      );
      return;
    }
    if (request.method !== 'GET' || path !== '/metrics') {
      response
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('only GET /metrics, /healthz and /readyz are served here\n');
      return;
    }
    render().then(
      (text) =>
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(text),
      (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

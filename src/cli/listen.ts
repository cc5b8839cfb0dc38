/**
 * The client of `herald listen`: for each `--forward-to` target, it opens (or takes up again)
 * a listener endpoint, holds its WebSocket to Herald (outbound, so it works behind NAT), and
 * forwards each delivery it is handed to the local URL byte for byte with its headers, one at a
 * time in the order handed, then reports the local answer back as the attempt's result. It
 * reconnects by itself with backoff, and says "Ready" only while a stream is connected.
 */
import { hostname } from 'node:os';
import { request as httpRequest } from 'undici';
import WebSocket from 'ws';
import type { DeliveryFrame } from '../delivery/listener-stream.js';
import { errorKindOf } from '../delivery/sender.js';
import { CliError, call } from './manage.js';

/** One local target and the event types it takes (`null`: all). */
export interface ForwardTarget {
  url: string;
  events: string[] | null;
}

/** Options of {@link listen}. */
export interface ListenOptions {
  server: string;
  token: string | undefined;
  app: string;
  /** The listener's name; with several targets, `name-1`, `name-2`, … */
  name: string;
  targets: ForwardTarget[];
  /** Where lines go (stdout), and problems (stderr). */
  out: (line: string) => void;
  err: (line: string) => void;
  /** Timeout of each local request (ms). */
  timeoutMs?: number;
}

/** Response bytes reported per attempt, as the sender keeps. */
const EXCERPT_BYTES = 20_000;
/** Reconnect delays: doubling from 0.5 s up to 15 s, reset once connected. */
const BACKOFF_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];

/** The default listener name: this machine's host name, in the characters a name may have. */
export function defaultListenerName(): string {
  return (
    hostname()
      .replace(/[^a-zA-Z0-9\-_.]/g, '-')
      .slice(0, 200) || 'listener'
  );
}

/** A listener endpoint as `PUT …/listener/{name}` answers. */
interface Opened {
  endpointId: string;
  name: string;
  secret: string;
  filterTypes: string[] | null;
}

const wsUrl = (server: string, app: string, name: string) =>
  `${server.replace(/\/+$/, '').replace(/^http/, 'ws')}/api/v1/app/${encodeURIComponent(app)}/listener/${encodeURIComponent(name)}/listen`;

/** Runs until `signal` aborts; resolves then, after closing every stream. */
export async function listen(options: ListenOptions, signal: AbortSignal): Promise<void> {
  if (!options.token)
    throw new CliError(
      'no API token: set HERALD_TOKEN or pass --token (herald serve prints one on its first start)',
    );
  const named = options.targets.map((t, i) => ({
    target: t,
    name: options.targets.length === 1 ? options.name : `${options.name}-${i + 1}`,
  }));
  const opened: { target: ForwardTarget; listener: Opened }[] = [];
  for (const { target, name } of named) {
    const listener = await call<Opened>(
      { server: options.server, token: options.token },
      'PUT',
      `/app/${encodeURIComponent(options.app)}/listener/${encodeURIComponent(name)}`,
      { filterTypes: target.events },
    );
    opened.push({ target, listener });
    // Before anything else: the local server needs the secret to verify what arrives.
    options.out(
      `endpoint ${listener.endpointId} (listener ${listener.name}) -> ${target.url}, events: ${listener.filterTypes?.join(',') ?? 'all'}`,
    );
    options.out(`  secret: ${listener.secret}`);
  }
  await Promise.all(
    opened.map(({ target, listener }) => new Stream(options, target, listener, signal).run()),
  );
}

/** One target's stream: connect, forward, report, reconnect. */
class Stream {
  private readonly label: string;

  constructor(
    private readonly options: ListenOptions,
    private readonly target: ForwardTarget,
    private readonly listener: Opened,
    private readonly signal: AbortSignal,
  ) {
    this.label = options.targets.length === 1 ? '' : ` [${listener.name}]`;
  }

  async run(): Promise<void> {
    let failures = 0;
    while (!this.signal.aborted) {
      this.options.out(
        `${failures === 0 ? 'connecting' : 'reconnecting'} to ${this.options.server}${this.label} ...`,
      );
      const outcome = await this.connectOnce(() => {
        failures = 0;
      });
      if (this.signal.aborted) return;
      if (outcome.fatal) throw new CliError(`refused${this.label}: ${outcome.reason}`);
      const wait = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]!;
      failures++;
      this.options.err(
        `not connected${this.label}: ${outcome.reason}; reconnecting in ${(wait / 1000).toFixed(1)} s`,
      );
      await sleep(wait, this.signal);
    }
  }

  /** One connection, until it closes; says why, and whether trying again can help. */
  private connectOnce(connected: () => void): Promise<{ reason: string; fatal: boolean }> {
    return new Promise((resolve) => {
      const socket = new WebSocket(wsUrl(this.options.server, this.options.app, this.listener.name), {
        headers: { authorization: `Bearer ${this.options.token}` },
        handshakeTimeout: 10_000,
        maxPayload: 64 * 1024 * 1024,
      });
      let settled = false;
      const done = (reason: string, fatal = false) => {
        if (settled) return;
        settled = true;
        this.signal.removeEventListener('abort', onAbort);
        resolve({ reason, fatal });
      };
      const onAbort = () => {
        socket.close(1000, 'listener stopped');
        done('stopped');
      };
      this.signal.addEventListener('abort', onAbort, { once: true });
      socket.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let detail = Buffer.concat(chunks).toString('utf8').slice(0, 500) || `status ${res.statusCode}`;
          try {
            const body = JSON.parse(detail) as { detail?: unknown };
            if (typeof body.detail === 'string') detail = body.detail;
          } catch {
            // Not JSON (a proxy's page): its text is the reason.
          }
          const status = res.statusCode ?? 0;
          // A token or an application refused will be refused again; a limit or a server error may pass later.
          done(`${status} ${detail}`, status === 401 || status === 403 || status === 404);
          socket.terminate();
        });
      });
      socket.on('error', (error: Error) => done(error.message || String(error)));
      socket.on('close', (code, reason) => {
        const why = reason.toString() || `connection closed (${code})`;
        // Another client holds this name, or a name the server refuses: trying again will not help.
        done(why, code === 4409 || code === 4422);
      });
      // Deliveries are forwarded one at a time, in the order handed: the local server sees them in order.
      let chain = Promise.resolve();
      socket.on('message', (data) => {
        let frame: { type?: unknown };
        try {
          frame = JSON.parse(String(data)) as { type?: unknown };
        } catch {
          return;
        }
        if (frame.type === 'hello') {
          connected();
          this.options.out(
            `Ready${this.label}: forwarding ${this.options.app}'s deliveries to ${this.target.url} (Ctrl-C to stop)`,
          );
          return;
        }
        if (frame.type !== 'delivery') return;
        const delivery = frame as unknown as DeliveryFrame;
        chain = chain.then(async () => {
          const result = await this.forward(delivery);
          if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(result));
        });
      });
    });
  }

  /** POSTs one delivery to the target and reports what came back. */
  private async forward(d: DeliveryFrame) {
    const started = performance.now();
    const at = new Date().toISOString();
    let statusCode: number | null = null;
    let body = '';
    let errorKind: string | null = null;
    let errorMessage: string | null = null;
    try {
      const response = await httpRequest(this.target.url, {
        method: 'POST',
        headers: d.headers,
        body: d.body,
        headersTimeout: this.options.timeoutMs ?? 15_000,
        bodyTimeout: this.options.timeoutMs ?? 15_000,
      });
      statusCode = response.statusCode;
      body = await excerpt(response.body);
    } catch (error) {
      errorKind = errorKindOf(error);
      errorMessage = (error as Error).message || String(error);
    }
    const durationMs = performance.now() - started;
    const outcome = statusCode !== null ? String(statusCode) : `${errorKind}: ${errorMessage}`;
    this.options.out(
      `${at}  ${d.eventType}  ${d.msgId}  ${outcome}  ${Math.round(durationMs)} ms${d.attempts > 0 ? `  (retry ${d.attempts})` : ''}${this.label}`,
    );
    return { type: 'result', id: d.id, statusCode, durationMs, body, errorKind, errorMessage };
  }
}

/** The first {@link EXCERPT_BYTES} of a body as text; the rest is not read. */
async function excerpt(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= EXCERPT_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * One HTTP POST per attempt, over one keep-alive undici Agent whose every connection passes
 * the SSRF guard. Redirects are never followed; the response body is read up to a limit
 * and the rest is never buffered.
 */
import { Agent, type Dispatcher } from 'undici';
import type { AttemptErrorKind } from '../core/types.js';
import { AddressPolicy, BlockedAddressError, DnsError, guardedConnector, type Resolver } from './ssrf.js';

/** Options of {@link HttpSender}. */
export interface SenderOptions {
  /** CIDR ranges reachable despite the SSRF block list. */
  allowNetworks: readonly string[];
  /** Resolver for host names (a stub in tests). */
  resolver?: Resolver;
  /** Bytes of response body kept per attempt. */
  maxResponseBytes: number;
  /** Upper bound of any request's timeout; also the connect timeout. */
  maxTimeoutMs: number;
  /** Connections kept per origin at most. */
  connectionsPerOrigin: number;
}

/** One request to send. */
export interface SendRequest {
  url: URL;
  /** POST unless a transformation chose PUT. */
  method?: 'POST' | 'PUT';
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Aborts the request (shutdown); the result is then `aborted`. */
  signal?: AbortSignal;
}

/** What came of a request. */
export interface SendResult {
  /** True when stopped by the caller's signal: no verdict, the delivery is released. */
  aborted: boolean;
  statusCode: number | null;
  responseBody: string;
  retryAfter: string | undefined;
  durationMs: number;
  errorKind: AttemptErrorKind | null;
  errorMessage: string | null;
}

const ERROR_KINDS: Record<string, AttemptErrorKind> = {
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
  ECONNREFUSED: 'connection_refused',
  ECONNRESET: 'connection_reset',
  EPIPE: 'connection_reset',
  UND_ERR_SOCKET: 'connection_reset',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EHOSTUNREACH: 'network',
  ENETUNREACH: 'network',
};

/** Maps an error from undici, the guard or the socket to an attempt error kind. */
export function errorKindOf(error: unknown): AttemptErrorKind {
  if (error instanceof BlockedAddressError) return 'blocked_address';
  if (error instanceof DnsError) return 'dns';
  let e: unknown = error;
  for (let depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: string }).code;
    if (code) {
      const kind = ERROR_KINDS[code];
      if (kind) return kind;
      if (code.startsWith('ERR_TLS') || code.startsWith('CERT_') || code.includes('SELF_SIGNED'))
        return 'tls';
      if (code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') return 'tls';
      // llhttp's parse errors (a bad status line, broken chunked encoding) and bodies that
      // do not match their content-length: the receiver answered, but not in HTTP.
      if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH')
        return 'invalid_response';
    }
    if (e instanceof BlockedAddressError) return 'blocked_address';
    if (e instanceof DnsError) return 'dns';
    // undici leaves `code` unset on some parse errors (a status line that is not HTTP).
    if ((e as { name?: string }).name === 'HTTPParserError') return 'invalid_response';
    e = (e as { cause?: unknown }).cause;
  }
  return 'network';
}

class DeadlineError extends Error {
  readonly code = 'ETIMEDOUT';
}

/** Sends webhook requests; see the module comment. */
export class HttpSender {
  private readonly agent: Agent;

  constructor(private readonly options: SenderOptions) {
    this.agent = new Agent({
      connect: guardedConnector({
        policy: new AddressPolicy(options.allowNetworks),
        ...(options.resolver ? { resolver: options.resolver } : {}),
        connectTimeoutMs: options.maxTimeoutMs,
      }),
      connections: options.connectionsPerOrigin,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
    });
  }

  /** Sends one POST and reports what happened; never throws. */
  send(request: SendRequest): Promise<SendResult> {
    const started = performance.now();
    return new Promise<SendResult>((resolve) => {
      let timedOut = false;
      const finish = (error: Error | null) => {
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
        const { statusCode, retryAfter } = post;
        const text = post.text();
        if (error === null) return resolve(this.result(started, statusCode, text, retryAfter, null, null));
        if (!timedOut && request.signal?.aborted) {
          return resolve({
            ...this.result(started, statusCode, text, retryAfter, null, null),
            aborted: true,
          });
        }
        const kind = timedOut ? 'timeout' : errorKindOf(error);
        // The message alone: the kind already says what class of failure it was.
        const message = timedOut
          ? `no complete response within ${request.timeoutMs} ms`
          : error.message || String(error);
        // A status that arrived before the body failed still decides the outcome; what came of
        // the body is kept.
        if (statusCode !== null)
          return resolve(this.result(started, statusCode, text, retryAfter, null, message));
        resolve(this.result(started, null, text, retryAfter, kind, message));
      };
      const post = new PostHandler(this.options.maxResponseBytes, finish);
      const timer = setTimeout(() => {
        timedOut = true;
        post.abort(new DeadlineError('request timed out'));
      }, request.timeoutMs);
      const onAbort = () => post.abort(request.signal?.reason ?? new Error('aborted'));
      if (request.signal?.aborted) onAbort();
      else request.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.agent.dispatch(
          {
            origin: request.url.origin,
            path: request.url.pathname + request.url.search,
            method: request.method ?? 'POST',
            headers: request.headers,
            body: request.body,
            headersTimeout: request.timeoutMs,
            bodyTimeout: request.timeoutMs,
          },
          post,
        );
      } catch (error) {
        post.onResponseError(null, error as Error);
      }
    });
  }

  private result(
    started: number,
    statusCode: number | null,
    responseBody: string,
    retryAfter: string | undefined,
    errorKind: AttemptErrorKind | null,
    errorMessage: string | null,
  ): SendResult {
    const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
    return {
      aborted: false,
      statusCode,
      responseBody,
      retryAfter,
      durationMs: performance.now() - started,
      errorKind: errorKind ?? (statusCode !== null && !ok ? 'http_status' : null),
      errorMessage,
    };
  }

  /** Closes idle connections and waits for in-flight requests to end. */
  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Stops reading a body once the excerpt is full. */
class ExcerptFull extends Error {}

/**
 * One POST's response as undici's dispatcher hands it over: the status, `retry-after`, and
 * at most `max` bytes of body; past that the request is aborted, which closes the
 * connection, so a 50 MB answer costs no more memory than a short one. What arrived is kept
 * even when the body fails half-way (a drip cut by the timeout).
 */
class PostHandler implements Dispatcher.DispatchHandler {
  statusCode: number | null = null;
  retryAfter: string | undefined;
  private controller: Dispatcher.DispatchController | null = null;
  /** An abort asked for before the request reached a connection. */
  private pendingAbort: Error | null = null;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private settled = false;

  constructor(
    private readonly max: number,
    private readonly done: (error: Error | null) => void,
  ) {}

  abort(reason: Error): void {
    if (this.controller) this.controller.abort(reason);
    else this.pendingAbort = reason;
  }

  /**
   * The body excerpt; a cut inside a multi-byte character decodes to U+FFFD, and so does a NUL
   * byte (PostgreSQL's text cannot hold U+0000: the attempt could not be recorded there).
   */
  text(): string {
    if (this.size === 0) return '';
    const text = (
      this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size)
    ).toString('utf8');
    return text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.pendingAbort) controller.abort(this.pendingAbort);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.statusCode = statusCode;
    const header = headers['retry-after'];
    this.retryAfter = Array.isArray(header) ? header[0] : header;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const room = this.max - this.size;
    if (room > 0) {
      this.chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      this.size += Math.min(chunk.length, room);
    }
    if (this.size >= this.max) controller.abort(new ExcerptFull('response excerpt full'));
  }

  onResponseEnd(): void {
    this.settle(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.settle(error instanceof ExcerptFull ? null : error);
  }

  private settle(error: Error | null): void {
    if (this.settled) return;
    this.settled = true;
    this.done(error);
  }
}

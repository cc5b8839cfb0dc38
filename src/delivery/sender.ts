/**
 * One HTTP POST per attempt, over one keep-alive undici Agent whose every connection passes
 * the SSRF guard. Redirects are never followed; the response body is read up to a limit
 * and the rest is never buffered.
 */
import { Agent } from 'undici';
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
  async send(request: SendRequest): Promise<SendResult> {
    const started = performance.now();
    // One controller per request serves both the deadline and the caller's abort.
    const controller = new AbortController();
    const signal = controller.signal;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DeadlineError('request timed out'));
    }, request.timeoutMs);
    const onAbort = () => controller.abort(request.signal?.reason);
    if (request.signal?.aborted) onAbort();
    else request.signal?.addEventListener('abort', onAbort, { once: true });
    let statusCode: number | null = null;
    let retryAfter: string | undefined;
    const excerpt = { text: '' };
    try {
      const response = await this.agent.request({
        origin: request.url.origin,
        path: request.url.pathname + request.url.search,
        method: 'POST',
        headers: request.headers,
        body: request.body,
        headersTimeout: request.timeoutMs,
        bodyTimeout: request.timeoutMs,
        signal,
      });
      statusCode = response.statusCode;
      const header = response.headers['retry-after'];
      retryAfter = Array.isArray(header) ? header[0] : header;
      await readExcerpt(response.body, this.options.maxResponseBytes, excerpt);
      return this.result(started, statusCode, excerpt.text, retryAfter, null, null);
    } catch (error) {
      if (!timedOut && request.signal?.aborted) {
        return { ...this.result(started, statusCode, excerpt.text, retryAfter, null, null), aborted: true };
      }
      const kind = timedOut ? 'timeout' : errorKindOf(error);
      const message = timedOut ? `no complete response within ${request.timeoutMs} ms` : String(error);
      // A status that arrived before the body failed still decides the outcome; what came of
      // the body is kept.
      if (statusCode !== null)
        return this.result(started, statusCode, excerpt.text, retryAfter, null, message);
      return this.result(started, null, excerpt.text, retryAfter, kind, message);
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
    }
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

/**
 * Reads at most `max` bytes of a body into `into.text` and stops: the rest is discarded by
 * destroying the stream, so a 50 MB answer costs no more memory than a short one. `into`
 * holds what arrived even when the body fails half-way (a drip cut by the timeout).
 */
async function readExcerpt(
  body: AsyncIterable<Buffer> & { destroy(): void },
  max: number,
  into: { text: string },
): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  // A cut inside a multi-byte character decodes to U+FFFD rather than failing.
  const decode = () => new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks, size));
  try {
    for await (const chunk of body) {
      const room = max - size;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(chunk.length, room);
      if (size >= max) {
        body.destroy();
        break;
      }
    }
  } finally {
    into.text = decode();
  }
}

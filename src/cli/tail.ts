/**
 * The client of `herald tail`: reads an application's attempt stream (Server-Sent Events,
 * `GET /api/v1/app/{app}/attempt/stream`) and hands each attempt to `line`, until the signal
 * aborts. A dropped stream is opened again, with a second's pause.
 */
import { CliError } from './manage.js';

/** Options of {@link tail}. */
export interface TailOptions {
  server: string;
  token: string | undefined;
  app: string;
  endpoint?: string;
  events?: string[];
  /** Called with each attempt, as the stream's JSON. */
  line(data: unknown): void;
  /** Where connection news goes (stderr). */
  status(text: string): void;
}

/** Streams attempts until `signal` aborts. */
export async function tail(options: TailOptions, signal: AbortSignal): Promise<void> {
  if (!options.token)
    throw new CliError(
      'no API token: set HERALD_TOKEN or pass --token (herald serve prints one on its first start)',
    );
  const url = new URL(
    `${options.server.replace(/\/+$/, '')}/api/v1/app/${encodeURIComponent(options.app)}/attempt/stream`,
  );
  if (options.endpoint) url.searchParams.set('endpoint', options.endpoint);
  if (options.events?.length) url.searchParams.set('event_types', options.events.join(','));
  while (!signal.aborted) {
    let response: Response;
    try {
      response = await fetch(url, { headers: { authorization: `Bearer ${options.token}` }, signal });
    } catch (error) {
      if (signal.aborted) return;
      options.status(
        `cannot reach Herald at ${options.server}: ${(error as Error).message}; retrying in 1 s`,
      );
      await pause(1_000, signal);
      continue;
    }
    if (!response.ok) {
      const text = await response.text();
      let detail = text;
      try {
        detail = (JSON.parse(text) as { detail?: string }).detail ?? text;
      } catch {
        // Not JSON: the text says it.
      }
      throw new CliError(`the attempt stream was refused (${response.status}): ${detail}`);
    }
    options.status(`tailing ${options.app}'s attempts (Ctrl-C to stop)`);
    try {
      await read(response, options);
    } catch (error) {
      if (signal.aborted) return;
      options.status(`the stream dropped: ${(error as Error).message}; reconnecting`);
    }
    if (!signal.aborted) await pause(1_000, signal);
  }
}

/** Reads `event: attempt` records off the stream. */
async function read(response: Response, options: TailOptions): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const record = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = record
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (data) options.line(JSON.parse(data));
      end = buffer.indexOf('\n\n');
    }
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
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

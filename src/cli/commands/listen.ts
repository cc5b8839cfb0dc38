/**
 * `herald listen`, `herald trigger` and `herald tail`: webhooks on a laptop. `listen` brings an
 * application's deliveries to a local URL over an outbound stream, `trigger` sends an event
 * type's example, and `tail` shows attempts as they happen.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { CliError, call, request } from '../manage.js';
import { appPath, clientOf, commaList, type Managed, managed, seg } from './shared.js';

/** A target being read off the command line, in the order given. */
interface Target {
  url: string;
  events: string[] | null;
}

function localUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw Object.assign(
      new InvalidArgumentError('must be an absolute http(s) URL, like http://localhost:3000/webhooks'),
      {
        cause,
      },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('must use http or https');
  return url.toString();
}

/** `--set path=value`: a dotted path into the payload; the value as JSON when it parses, else as text. */
function assignment(value: string, previous: [string[], unknown][] = []): [string[], unknown][] {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('must be path=value, like --set order.amount=42');
  const path = value.slice(0, eq).split('.');
  if (path.some((p) => p === ''))
    throw new InvalidArgumentError(`${value.slice(0, eq)} is not a dotted path`);
  const text = value.slice(eq + 1);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the text itself (--set customer.name=Ada).
  }
  return [...previous, [path, parsed]];
}

/** `payload` with `value` at `path`, objects made on the way as needed. */
function setPath(payload: Record<string, unknown>, path: string[], value: unknown): void {
  let node: Record<string, unknown> = payload;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** The first example of an event type's newest schema version, if it has one. */
function exampleOf(schemas: Record<string, { examples?: unknown[]; example?: unknown }> | null): unknown {
  if (!schemas) return undefined;
  const versions = Object.keys(schemas).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const schema = schemas[v];
    if (Array.isArray(schema?.examples) && schema.examples.length > 0) return schema.examples[0];
    if (schema?.example !== undefined) return schema.example;
  }
  return undefined;
}

interface AttemptLine {
  id: string;
  msgId: string;
  endpointId: string;
  responseStatusCode: number;
  responseDurationMs: number;
  status: number;
  timestamp: string;
  errorKind: string | null;
  errorMessage: string | null;
  eventType?: string | null;
  nextAttempt?: string | null;
}

/** One attempt in a line: time, event type, message, endpoint, outcome, duration, next try. */
function attemptLine(a: AttemptLine): string {
  const outcome =
    a.responseStatusCode > 0
      ? String(a.responseStatusCode)
      : `${a.errorKind ?? 'error'}${a.errorMessage ? `: ${a.errorMessage}` : ''}`;
  const next = a.nextAttempt ? `  next try ${a.nextAttempt}` : '';
  return `${a.timestamp}  ${a.eventType ?? '-'}  ${a.msgId}  ${a.endpointId}  ${a.status === 0 ? 'ok' : 'FAIL'} ${outcome}  ${a.responseDurationMs} ms${next}`;
}

/** Ctrl-C (or SIGTERM) as an abort signal; the process then ends with 0. */
function interrupted(): AbortSignal {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return stop.signal;
}

/** Adds `listen`, `trigger` and `tail`. */
export function listenCommands(program: Command): void {
  const targets: Target[] = [];
  let eventsFirst: string[] | null = null;
  managed(
    program
      .command('listen')
      .description(
        "forward an application's deliveries to a local URL, over an outbound stream (no public URL needed)",
      ),
  )
    .requiredOption('--app <app>', 'application id or uid')
    .requiredOption(
      '--forward-to <url>',
      'local URL to POST each delivery to (repeatable: each takes the --events after it)',
      (value: string) => {
        targets.push({ url: localUrl(value), events: targets.length === 0 ? eventsFirst : null });
        return value;
      },
    )
    .option(
      '--events <types>',
      'event types the --forward-to before it receives, comma-separated (all if none)',
      (value: string) => {
        const list = commaList(value);
        const last = targets.at(-1);
        if (last) last.events = [...(last.events ?? []), ...list];
        else eventsFirst = [...(eventsFirst ?? []), ...list];
        return value;
      },
    )
    .option(
      '--name <name>',
      "the listener's name: the same name takes the same endpoint and secret again (default: this machine's host name)",
    )
    .action(async (o: Managed & { app: string; name?: string }) => {
      const { listen, defaultListenerName } = await import('../listen.js');
      const out = (line: string) => process.stdout.write(`${line}\n`);
      const err = (line: string) => process.stderr.write(`${line}\n`);
      await listen(
        {
          server: o.server,
          token: o.token,
          app: o.app,
          name: o.name ?? defaultListenerName(),
          targets,
          out,
          err,
        },
        interrupted(),
      );
    });

  managed(
    program
      .command('trigger')
      .description("send an event type's example payload (from its schema) to an application"),
  )
    .argument('<event-type>', 'the event type to send')
    .requiredOption('--app <app>', 'application id or uid')
    .option(
      '--set <path=value>',
      'change the example: a dotted path and a value (JSON or text); repeatable',
      assignment,
      [],
    )
    .option('--payload <file>', 'send this JSON file instead of the example')
    .option('--wait', 'wait for every delivery to end and print each attempt', false)
    .option(
      '--timeout <seconds>',
      'how long --wait waits at most',
      (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0)
          throw new InvalidArgumentError('must be a number of seconds above 0');
        return n;
      },
      30,
    )
    .action(
      async (
        eventType: string,
        o: Managed & {
          app: string;
          set: [string[], unknown][];
          payload?: string;
          wait: boolean;
          timeout: number;
        },
      ) => {
        const client = clientOf(o);
        let payload: unknown;
        if (o.payload !== undefined) {
          try {
            payload = JSON.parse(readFileSync(o.payload, 'utf8'));
          } catch (cause) {
            throw new CliError(`--payload ${o.payload}: ${(cause as Error).message}`, { cause });
          }
        } else {
          const type = await call<{ schemas: Record<string, { examples?: unknown[] }> | null }>(
            client,
            'GET',
            `/event-type/${seg(eventType)}`,
          );
          payload = exampleOf(type.schemas);
          if (payload === undefined)
            throw new CliError(
              `event type ${eventType} has no example in its schema (schemas.1.examples); pass --payload file.json`,
            );
        }
        if (o.set.length > 0) {
          if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
            throw new CliError('--set needs a payload that is a JSON object');
          for (const [path, value] of o.set) setPath(payload as Record<string, unknown>, path, value);
        }
        const msg = await call<{ id: string }>(client, 'POST', appPath(o.app, '/msg'), {
          eventType,
          payload,
        });
        if (o.json && !o.wait) process.stdout.write(`${JSON.stringify(msg)}\n`);
        else process.stdout.write(`sent ${msg.id} (${eventType}) to ${o.app}\n`);
        if (!o.wait) return;
        const ok = await waitFor(o, msg.id, eventType);
        if (!ok) process.exitCode = 1;
      },
    );

  managed(
    program.command('tail').description("show an application's attempts as they happen (Ctrl-C to stop)"),
  )
    .requiredOption('--app <app>', 'application id or uid')
    .option('--endpoint <endpoint>', "only this endpoint's attempts (id or uid)")
    .option('--events <types>', 'only these event types, comma-separated', commaList)
    .action(async (o: Managed & { app: string; endpoint?: string; events?: string[] }) => {
      const { tail } = await import('../tail.js');
      await tail(
        {
          server: o.server,
          token: o.token,
          app: o.app,
          ...(o.endpoint ? { endpoint: o.endpoint } : {}),
          ...(o.events ? { events: o.events } : {}),
          line: (data) =>
            process.stdout.write(`${o.json ? JSON.stringify(data) : attemptLine(data as AttemptLine)}\n`),
          status: (text) => process.stderr.write(`${text}\n`),
        },
        interrupted(),
      );
    });
}

/** `trigger --wait`: prints each attempt of the message as it appears, until every delivery has ended. */
async function waitFor(
  o: Managed & { app: string; timeout: number },
  msgId: string,
  eventType: string,
): Promise<boolean> {
  const client = clientOf(o);
  const seen = new Set<string>();
  const deadline = Date.now() + o.timeout * 1000;
  for (;;) {
    const attempts = await call<{ data: AttemptLine[] }>(
      client,
      'GET',
      appPath(o.app, `/attempt/msg/${seg(msgId)}`),
      undefined,
    );
    for (const a of [...attempts.data].reverse()) {
      if (seen.has(a.id)) continue;
      seen.add(a.id);
      process.stdout.write(`${o.json ? JSON.stringify(a) : attemptLine({ ...a, eventType })}\n`);
    }
    const { body } = await request<{ data: { id: string; status: number }[] }>(
      client,
      'GET',
      appPath(o.app, `/msg/${seg(msgId)}/endpoint`),
      { query: { limit: '250' } },
    );
    const open = body.data.filter((d) => d.status === 1 || d.status === 3);
    if (open.length === 0 && (body.data.length === 0 || seen.size > 0)) {
      const failed = body.data.filter((d) => d.status === 2).length;
      if (!o.json)
        process.stdout.write(
          body.data.length === 0
            ? 'no endpoint of the application takes this event type\n'
            : `${body.data.length - failed} of ${body.data.length} deliveries succeeded\n`,
        );
      return failed === 0;
    }
    if (Date.now() > deadline) {
      process.stdout.write(`still waiting for ${open.length} deliveries after ${o.timeout} s\n`);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The `herald` command line. */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseCorsOrigins } from '../api/cors.js';
import { HeraldError } from '../core/errors.js';
import { DISPATCHER_DEFAULTS, WAKE_BACKOFF_MAX_MS } from '../delivery/config.js';
import { LISTENER_SWEEPER_DEFAULTS } from '../delivery/listener-sweeper.js';
import { INBOUND_RETENTION_DEFAULTS } from '../store/inbound-retention.js';
import { generateMainKey } from '../store/secret-box.js';
import { addManagementCommands } from './commands/index.js';
import { defaultLogFormat, LOG_FORMATS } from './log.js';
import { CliError } from './manage.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535)
    throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number');
  return n;
}

/** A parser of whole numbers from `min` to `max` (the message names both). */
function wholeNumberIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** A parser of whole numbers from 1 to `max`. */
const countUpTo = (max: number) => wholeNumberIn(1, max);

const DAY_MS = 86_400_000;

/**
 * The inbound body retention in ms: null (the body goes with its row) for 0 and for a body
 * retention no shorter than the row's, which would never find a body to expunge.
 */
function inboundBodyMs(bodyDays: number, rowDays: number): number | null {
  return bodyDays === 0 || bodyDays >= rowDays ? null : bodyDays * DAY_MS;
}

/** A number of days from 0 (off) to 100 years. */
function daysOrZero(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 36_500)
    throw new InvalidArgumentError('must be a whole number of days from 0 (off) to 36500');
  return n;
}

function baseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    // Commander's error takes a message only; the cause is kept on it all the same.
    throw Object.assign(new InvalidArgumentError('must be an absolute http(s) URL'), { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('must use http or https');
  if (url.search || url.hash) throw new InvalidArgumentError('must not have a query or fragment');
  return url.toString().replace(/\/+$/, '');
}

/** `--cors-origin` values checked; a bad one stops the start, naming it. */
function corsOrigins(values: string[]): string[] {
  try {
    return parseCorsOrigins(values);
  } catch (error) {
    throw new CliError(`--cors-origin: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * `--portal-frame-ancestors`: CSP source expressions separated by spaces. Anything that could
 * end the directive (`;`, `,`) or break the header (control characters) is refused.
 */
function frameAncestors(value: string): string {
  const sources = value.trim().split(/\s+/);
  if (value.trim() === '' || sources.some((s) => /[;,\p{Cc}]/u.test(s)))
    throw new InvalidArgumentError(
      'must be CSP sources separated by spaces, e.g. "\'self\' https://app.example.com"',
    );
  return sources.join(' ');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A parser of HTTP status codes from `min` to 599. */
function statusCode(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > 599)
      throw new InvalidArgumentError(`must be a status code from ${min} to 599`);
    return n;
  };
}

function share(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('must be a number from 0 to 1');
  return n;
}

const program = new Command('herald')
  .description('Self-hosted webhooks: durable, signed, retried delivery.')
  .version(version)
  .showHelpAfterError();

program
  .command('serve')
  .description('run the API and the dispatcher (SQLite by default)')
  .addOption(
    new Option('--port <port>', 'port to listen on').default(8071).env('HERALD_PORT').argParser(port),
  )
  .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1').env('HERALD_HOST'))
  .addOption(
    new Option('--public-url <url>', 'base URL clients reach the API at, for links it returns')
      .env('HERALD_PUBLIC_URL')
      .argParser(baseUrl),
  )
  .addOption(
    new Option(
      '--cors-origin <origin>',
      'origin browser pages may call /api/v1 from (repeatable or comma-separated; default *, any)',
    )
      .default([])
      .argParser(collect),
  )
  .addOption(
    new Option(
      '--portal-frame-ancestors <sources>',
      'pages that may show the consumer portal in an iframe (CSP frame-ancestors, e.g. "\'self\' https://app.example.com")',
    )
      .default('*')
      .env('HERALD_PORTAL_FRAME_ANCESTORS')
      .argParser(frameAncestors),
  )
  .addOption(
    new Option('--db <path>', 'SQLite file, or a postgres:// URL')
      .default('./herald.db')
      .env('HERALD_DATABASE_URL'),
  )
  .addOption(
    new Option('--role <role>', 'what to run')
      .choices(['all', 'api', 'worker'])
      .default('all')
      .env('HERALD_ROLE'),
  )
  .addOption(
    new Option('--allow-network <cidr>', 'private range endpoints may reach (repeatable), e.g. 127.0.0.0/8')
      .default([])
      .argParser(collect),
  )
  .addOption(
    new Option('--log-level <level>', 'log level')
      .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info')
      .env('HERALD_LOG_LEVEL'),
  )
  .addOption(
    new Option('--log-format <format>', 'log lines on stderr (default: pretty on a terminal, else json)')
      .choices(LOG_FORMATS)
      .env('HERALD_LOG_FORMAT'),
  )
  .addOption(
    new Option('--header-style <style>', 'webhook-* or svix-* headers')
      .choices(['standard', 'svix'])
      .default('standard')
      .env('HERALD_HEADER_STYLE'),
  )
  .addOption(
    new Option(
      '--lease-ms <ms>',
      "lease of claimed deliveries: how soon a dead worker's deliveries are taken over",
    )
      .default(DISPATCHER_DEFAULTS.leaseMs)
      .env('HERALD_LEASE_MS')
      .argParser(wholeNumber),
  )
  .addOption(
    new Option(
      '--wake-backoff-ms <ms>',
      `longest wait (0 to ${WAKE_BACKOFF_MAX_MS}) before a worker whose wake-ups kept finding nothing (other workers took the work) answers the next; 0: at once`,
    )
      .default(DISPATCHER_DEFAULTS.wakeBackoffMs)
      .env('HERALD_WAKE_BACKOFF_MS')
      .argParser(wholeNumberIn(0, WAKE_BACKOFF_MAX_MS)),
  )
  .addOption(
    new Option(
      '--dispatcher-stall-ms <ms>',
      'health reports the dispatcher in error (503) once its loop has not turned this long while work is due',
    )
      .default(DISPATCHER_DEFAULTS.stallMs)
      .env('HERALD_DISPATCHER_STALL_MS')
      .argParser(countUpTo(3_600_000)),
  )
  .addOption(
    new Option(
      '--retention-days <days>',
      "days a message's payload and its attempts' response bodies are kept, unless the message sets payloadRetentionPeriod (0: for ever)",
    )
      .default(90)
      .env('HERALD_RETENTION_DAYS')
      .argParser(daysOrZero),
  )
  .addOption(
    new Option(
      '--retention-rows-days <days>',
      'days after which a message whose deliveries are done is deleted with its deliveries and attempts (0: never)',
    )
      .default(0)
      .env('HERALD_RETENTION_ROWS_DAYS')
      .argParser(daysOrZero),
  )
  .addOption(
    new Option('--inbound-max-age-days <days>', "days a source's received requests are kept")
      .default(INBOUND_RETENTION_DEFAULTS.maxAgeMs / DAY_MS)
      .env('HERALD_INBOUND_MAX_AGE_DAYS')
      .argParser(countUpTo(36_500)),
  )
  .addOption(
    new Option(
      '--inbound-body-days <days>',
      "days a source's received request keeps its body; the row stays until --inbound-max-age-days (default: --retention-days; 0: the body goes with the row)",
    )
      .env('HERALD_INBOUND_BODY_DAYS')
      .argParser(daysOrZero),
  )
  .addOption(
    new Option('--inbound-max-requests <n>', 'received requests kept per source (the oldest go first)')
      .default(INBOUND_RETENTION_DEFAULTS.maxPerSource)
      .env('HERALD_INBOUND_MAX_REQUESTS')
      .argParser(countUpTo(100_000_000)),
  )
  .addOption(
    new Option(
      '--listener-idle-days <days>',
      'days a herald listen endpoint may go unused before it is disabled',
    )
      .default(LISTENER_SWEEPER_DEFAULTS.idleMs / DAY_MS)
      .env('HERALD_LISTENER_IDLE_DAYS')
      .argParser(countUpTo(36_500)),
  )
  .option('--no-migrate', 'refuse to start on a database with pending migrations (run herald migrate first)')
  .addOption(
    new Option('--metrics-port <port>', 'also serve GET /metrics on this port, without a token (on --host)')
      .env('HERALD_METRICS_PORT')
      .argParser(port),
  )
  .option('--metrics-public', 'serve GET /metrics on the API port without a token (a private network)', false)
  .option(
    '--metrics-per-endpoint',
    'count attempts per endpoint too: one series each (a small install)',
    false,
  )
  .option(
    '--no-pg-prepared-statements',
    'PostgreSQL: send every statement unnamed, for a proxy that does not keep named prepared statements (env HERALD_PG_PREPARED_STATEMENTS=false)',
  )
  .option(
    '--no-trace-propagation',
    'with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT), send no traceparent header to endpoints (env HERALD_TRACE_PROPAGATION=false)',
  )
  .action(async (o) => {
    const fromEnv = process.env.HERALD_ALLOW_NETWORK?.split(',').filter(Boolean) ?? [];
    // Loaded here, not at the top: the server (Fastify, the stores, the dispatcher) costs
    // every other command about half a second to load.
    const { serve } = await import('./serve.js');
    await serve({
      port: o.port,
      host: o.host,
      db: o.db,
      role: o.role,
      allowNetwork: [...fromEnv, ...o.allowNetwork],
      logLevel: o.logLevel,
      logFormat: o.logFormat ?? defaultLogFormat(),
      headerStyle: o.headerStyle,
      leaseMs: o.leaseMs,
      wakeBackoffMs: o.wakeBackoffMs,
      stallMs: o.dispatcherStallMs,
      adminToken: process.env.HERALD_ADMIN_TOKEN || undefined,
      mainKey: process.env.HERALD_MAIN_KEY || undefined,
      publicUrl: o.publicUrl,
      portalFrameAncestors: o.portalFrameAncestors,
      corsOrigins: corsOrigins([...(process.env.HERALD_CORS_ORIGIN?.split(',') ?? []), ...o.corsOrigin]),
      retention: {
        payloadMs: o.retentionDays === 0 ? null : o.retentionDays * DAY_MS,
        rowsMs: o.retentionRowsDays === 0 ? null : o.retentionRowsDays * DAY_MS,
      },
      inboundRetention: {
        maxAgeMs: o.inboundMaxAgeDays * DAY_MS,
        maxPerSource: o.inboundMaxRequests,
        bodyMaxAgeMs: inboundBodyMs(o.inboundBodyDays ?? o.retentionDays, o.inboundMaxAgeDays),
      },
      migrate: o.migrate,
      pgPreparedStatements:
        o.pgPreparedStatements && process.env.HERALD_PG_PREPARED_STATEMENTS?.trim().toLowerCase() !== 'false',
      listenerIdleDays: o.listenerIdleDays,
      metrics: { port: o.metricsPort, public: o.metricsPublic, perEndpoint: o.metricsPerEndpoint },
      tracePropagation:
        o.tracePropagation && process.env.HERALD_TRACE_PROPAGATION?.trim().toLowerCase() !== 'false',
      version,
    });
  });

program
  .command('receive')
  .description('run a local receiver that prints each delivery and what it answered')
  .addOption(new Option('--port <port>', 'port to listen on').default(8072).argParser(port))
  .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1'))
  .option('--secret <whsec>', "the endpoint's secret, to verify signatures")
  .option('--strict', 'answer 401 to a missing or bad signature (needs --secret)', false)
  .addOption(
    new Option('--status <code>', 'status code to answer with').default(200).argParser(statusCode(200)),
  )
  .addOption(
    new Option('--fail-rate <share>', 'share of requests (0 to 1, spread evenly) answered --fail-status')
      .default(0)
      .argParser(share),
  )
  .addOption(
    new Option('--fail-status <code>', 'status code of the requests --fail-rate fails')
      .default(500)
      .argParser(statusCode(300)),
  )
  .action(async (o) => {
    const { receive } = await import('./receive.js');
    await receive({
      port: o.port,
      host: o.host,
      secret: o.secret,
      strict: o.strict,
      status: o.status,
      failRate: o.failRate,
      failStatus: o.failStatus,
    });
  });

/** `--db` as serve takes it, for the commands that work on the database itself. */
const dbOption = () =>
  new Option('--db <path>', 'SQLite file, or a postgres:// URL')
    .default('./herald.db')
    .env('HERALD_DATABASE_URL');

program
  .command('migrate')
  .description("apply pending migrations to the database and exit (a deploy step; see serve's --no-migrate)")
  .addOption(dbOption())
  .action(async (o) => {
    const { migrateCommand } = await import('./database.js');
    await migrateCommand(o.db);
  });

program
  .command('backup')
  .description('copy the SQLite database to <file>, online, while herald serve runs')
  .argument('<file>', 'the copy to write (must not exist)')
  .addOption(dbOption())
  .action(async (file: string, o) => {
    const { backupCommand } = await import('./database.js');
    await backupCommand(o.db, file);
  });

program
  .command('key')
  .description('main keys for encrypting secrets at rest')
  .command('generate')
  .description('print a new random HERALD_MAIN_KEY')
  .action(() => {
    process.stdout.write(`${generateMainKey()}\n`);
  });

addManagementCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CliError || error instanceof HeraldError) {
    process.stderr.write(`herald: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

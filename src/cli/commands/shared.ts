/** What every management command shares: its options, the client they make, and flag parsers. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ClientOptions } from '../manage.js';

/** Options every management command has. */
export interface Managed {
  server: string;
  token: string | undefined;
  json?: boolean;
}

/** A page of a list route's answer. */
export interface Page<T> {
  data: T[];
  iterator: string | null;
  prevIterator?: string | null;
  done: boolean;
}

/** Adds `--server`, `--token` and `--json` to a management command. */
export function managed(command: Command): Command {
  return command
    .addOption(
      new Option('--server <url>', "Herald's address").default('http://127.0.0.1:8071').env('HERALD_SERVER'),
    )
    .addOption(new Option('--token <token>', 'API token').env('HERALD_TOKEN'))
    .option('--json', "print the API's JSON instead of a table");
}

/** Adds `--limit` and `--iterator` to a list command. */
export function paged(command: Command): Command {
  return command
    .option('--limit <n>', 'how many to list, 1 to 250', pageSize, 50)
    .option('--iterator <iterator>', 'continue after this one (a list prints it when there are more)');
}

/** The client options out of a command's options. */
export const clientOf = (o: Managed): ClientOptions => ({ server: o.server, token: o.token });

/** A path segment: an id or uid as the user typed it. */
export const seg = encodeURIComponent;

/** `/app/{app}` and what follows. */
export const appPath = (app: string, rest = '') => `/app/${seg(app)}${rest}`;

/** `/app/{app}/endpoint/{endpoint}` and what follows. */
export const endpointPath = (app: string, endpoint: string, rest = '') =>
  appPath(app, `/endpoint/${seg(endpoint)}${rest}`);

/** The query of a list command's page. */
export const pageQuery = (o: { limit: number; iterator?: string }) => ({
  limit: String(o.limit),
  iterator: o.iterator,
});

/** Collects a repeatable flag. */
export function repeatable(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A comma-separated list, added to what earlier uses of the flag gave. */
export function commaList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

/** A JSON flag. */
export function jsonValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (cause) {
    // Commander's error takes a message only; the cause is kept on it all the same.
    throw Object.assign(new InvalidArgumentError('must be valid JSON'), { cause });
  }
}

function pageSize(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 250)
    throw new InvalidArgumentError('must be a whole number from 1 to 250');
  return n;
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Help text of a {@link moment} flag. */
export const MOMENT_HELP = 'an ISO 8601 time, or how long ago: 30m, 12h, 7d';

/** A point in time: ISO 8601, or a duration ago (`90s`, `30m`, `12h`, `7d`); as ISO 8601. */
export function moment(value: string): string {
  const ago = /^(\d+)([smhd])$/.exec(value.trim());
  if (ago)
    return new Date(Date.now() - Number(ago[1]) * UNIT_MS[ago[2] as keyof typeof UNIT_MS]).toISOString();
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`must be ${MOMENT_HELP}`);
  return new Date(ms).toISOString();
}

/**
 * A `herald` command line for the user to run next, about one endpoint: it names `--server`
 * too when this command was given one on its command line (not from HERALD_SERVER).
 */
export function heraldCommand(current: Command, what: string, app: string, endpoint: string): string {
  const server = current.getOptionValueSource('server') === 'cli' ? ` --server ${current.opts().server}` : '';
  return `herald ${what}${server} --app ${app} --endpoint ${endpoint}`;
}

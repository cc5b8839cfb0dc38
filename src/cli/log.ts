/**
 * Where `herald serve` logs go: stderr, in one format for the whole process (the dispatcher
 * thread's lines are written here too): pino's JSON lines for a log collector, or
 * pino-pretty's lines for a person at a terminal.
 */
import { type DestinationStream, pino } from 'pino';

/** The formats of `--log-format`. */
export const LOG_FORMATS = ['pretty', 'json'] as const;
/** How log lines are written. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The format when none is chosen: pretty for a person at a terminal, JSON for anything else. */
export function defaultLogFormat(stderr: { isTTY?: boolean } = process.stderr): LogFormat {
  return stderr.isTTY === true ? 'pretty' : 'json';
}

/**
 * The stream every log line of the process goes to, as pino's JSON text. Pretty lines are
 * made from it in the same call, not in a transport's thread, so a line logged just before
 * an exit (a dead dispatcher thread) still reaches stderr; pino-pretty is loaded only then.
 */
export async function logDestination(format: LogFormat): Promise<DestinationStream> {
  const stderr = pino.destination(2);
  if (format === 'json') return stderr;
  const { prettyFactory } = await import('pino-pretty');
  const prettify = prettyFactory({
    // Colours only where a terminal shows them (hasColors also honours NO_COLOR, FORCE_COLOR).
    colorize: process.stderr.isTTY === true && process.stderr.hasColors(),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return { write: (line: string) => stderr.write(prettify(line)) };
}

/** Runs the real `herald` command as a person does, and polls a Herald's API until something shows. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { HeraldProcess } from '../serve.js';

const BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));
const exec = promisify(execFile);

/** What a `herald` run printed, and its exit code. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/herald.js ...args` with `env` added to this process's environment. */
export async function herald(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The environment that points the CLI at `server` with its admin token. */
export const cliEnv = (server: HeraldProcess) => ({ HERALD_SERVER: server.url, HERALD_TOKEN: server.token });

/** Runs `herald` against `server`; fails the test, with what it printed, unless it exits 0. */
export async function ok(server: HeraldProcess, args: readonly string[]): Promise<string> {
  const r = await herald(args, cliEnv(server));
  if (r.code !== 0) throw new Error(`herald ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** A JSON answer as a test reads it: field by field, each checked by `expect`. */
// biome-ignore lint/suspicious/noExplicitAny: narrowing every answer would only restate the expectations
export type Json = any;

/** Calls `/api/v1{path}` of `server` with its admin token. */
export async function api(
  server: HeraldProcess,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; headers: Headers; body: Json }> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** Reads until `check` holds (the dispatcher works in another process: its results show in the API). */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 400 && !check(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    value = await read();
  }
  if (!check(value)) throw new Error(`condition not reached; last read: ${JSON.stringify(value)}`);
  return value;
}

/** The JSON log lines of a `herald serve` (pino writes them to stderr). */
export function logLines(server: HeraldProcess): Record<string, unknown>[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A long-running `herald` command (listen, tail) as a child process whose output a test waits on. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));

/** A running `herald …`. */
export interface Spawned {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  stdout(): string;
  /** Resolves with the first match of `pattern` in the output after `from` (a length of it); rejects if it exits first. */
  waitFor(pattern: RegExp, from?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code once it exits by itself. */
  exited(): Promise<number | null>;
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

/** Starts `node bin/herald.js ...args` with `env` added. */
export function spawnHerald(args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  running.add(child);
  let out = '';
  let stdout = '';
  let exited: number | null | undefined;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waits = new Set<{ check: () => void; fail: (error: Error) => void }>();
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
    for (const wait of waits) wait.check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const wait of waits) wait.check();
  });
  child.once('exit', (code) => {
    exited = code;
    running.delete(child);
    for (const wait of waits) wait.fail(new Error(`herald ${args[0]} exited with ${code}:\n${out}`));
  });
  return {
    child,
    output: () => out,
    stdout: () => stdout,
    waitFor: (pattern, from = 0) =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        const wait = {
          check: () => {
            const match = pattern.exec(out.slice(from));
            if (!match) return;
            waits.delete(wait);
            resolve(match);
          },
          fail: reject,
        };
        waits.add(wait);
        wait.check();
        if (exited !== undefined && waits.has(wait))
          wait.fail(new Error(`herald ${args[0]} exited with ${exited}:\n${out}`));
      }),
    exited: () => exit,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (exited !== undefined) return resolve(exited);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

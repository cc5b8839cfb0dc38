/**
 * Transformations: an endpoint's JavaScript `function handler(webhook)` that reshapes what is
 * sent (payload, url, method, headers) or cancels it, run in QuickJS compiled to WebAssembly
 * (quickjs-emscripten), not `node:vm`, which is no security boundary. Each handler gets a
 * runtime of its own with a memory cap and a CPU-time cap per call (an interrupt handler
 * stops it past its thread's CPU time, {@link cpuDeadline}); the context has no `require`,
 * `process`, network, filesystem or timers: QuickJS has none unless the host adds them, and
 * Herald adds nothing. The compiled handler is kept per endpoint and code version, so a
 * tenant's handler never shares a runtime with another endpoint's; within it nothing of one
 * call reaches the next: the global object and the built-ins are frozen, the code's top
 * level runs again for each call (its bindings are new each time), and a call that leaves
 * promise jobs queued has its runtime disposed.
 *
 * Calls run on the caller's thread, synchronously (`pool.ts` runs them in worker threads):
 * a handler that loops costs its endpoint one CPU cap (50 ms) per attempt, then fails it.
 */

import { openSync, readSync } from 'node:fs';
import {
  getQuickJS,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSWASMModule,
} from 'quickjs-emscripten';
import { HeraldError, ValidationError } from '../core/errors.js';
import { checkEndpointUrl, checkHeaders } from '../core/rules.js';

/** Bounds of a transformation. */
export const TRANSFORM_LIMITS = {
  /** Heap of one handler's runtime. */
  memoryBytes: 16 * 1024 * 1024,
  /** Stack of one handler's runtime (deep recursion fails cleanly before it). */
  stackBytes: 512 * 1024,
  /** CPU time of one call (the thread's, where Linux gives it; else wall time). */
  cpuMs: 50,
  /** Compiled handlers kept; the least recently used beyond this are disposed. */
  cacheEntries: 256,
  /**
   * CPU time to compile the code and run its top level, before the call's own (a handler of
   * a few hundred lines compiles in well under a millisecond).
   */
  loadMs: 100,
  /** Characters of the handler's result (the JSON of the changed webhook). */
  resultMaxLength: 5 * 1024 * 1024,
};

/** What a handler is given. */
export interface WebhookIn {
  eventType: string;
  payload: unknown;
  url: string;
  method: 'POST';
  /** The custom headers the request will carry (the endpoint's and the message's). */
  headers: Record<string, string>;
  cancel: false;
  transformationsParams: Record<string, unknown> | null;
}

/** What a handler returned, checked. */
export interface WebhookOut {
  payload: unknown;
  url: string;
  method: 'POST' | 'PUT';
  headers: Record<string, string>;
  cancel: boolean;
}

/** A handler threw, looped past its CPU cap, ran out of memory, or returned something invalid. */
export class TransformationError extends HeraldError {
  override readonly code = 'transformation_error';
}

/** Why code cannot be saved as a transformation. */
export interface CompileProblem {
  message: string;
  /** 1-based line of the code, when the compiler names one. */
  line: number | null;
}

const FILE = 'transformation.js';

let wasm: Promise<QuickJSWASMModule> | undefined;
/** The QuickJS WebAssembly module, loaded once per process (about 10 ms). */
const quickjs = () => {
  wasm ??= getQuickJS();
  return wasm;
};

interface DumpedError {
  name?: string;
  message?: string;
  lineNumber?: number;
  stack?: string;
}

/** A QuickJS error as a message and line, without trusting its shape. */
function describe(vm: QuickJSContext, handle: QuickJSHandle): CompileProblem {
  let dumped: unknown;
  try {
    dumped = vm.dump(handle);
  } catch {
    dumped = 'the handler failed, and its error could not be read';
  }
  handle.dispose();
  if (typeof dumped !== 'object' || dumped === null) return { message: String(dumped), line: null };
  const e = dumped as DumpedError;
  const line =
    typeof e.lineNumber === 'number'
      ? e.lineNumber
      : Number(new RegExp(`${FILE}:(\\d+)`).exec(e.stack ?? '')?.[1] ?? Number.NaN);
  const message = `${e.name ?? 'Error'}: ${e.message ?? String(dumped)}`;
  return { message, line: Number.isFinite(line) ? line : null };
}

const NO_CPU_CLOCK = -1;
let schedstat: number | undefined;
/**
 * The CPU time this thread has run, in nanoseconds (Linux: `/proc/thread-self/schedstat`,
 * opened once per thread and read in about 3 µs), or `null` where there is none. Node 20 has
 * no per-thread CPU clock of its own (`process.cpuUsage()` is the whole process's, all
 * threads; `process.threadCpuUsage()` came in Node 23.9).
 */
function threadCpuNs(): number | null {
  if (schedstat === undefined) {
    try {
      schedstat = openSync('/proc/thread-self/schedstat', 'r');
    } catch {
      schedstat = NO_CPU_CLOCK;
    }
  }
  if (schedstat === NO_CPU_CLOCK) return null;
  const buffer = Buffer.alloc(64);
  const n = readSync(schedstat, buffer, 0, 64, 0);
  const ns = Number(buffer.toString('latin1', 0, n).split(' ', 1)[0]);
  return Number.isFinite(ns) ? ns : null;
}

/**
 * An interrupt handler that stops the code once this thread has spent `ms` of CPU time on
 * it. CPU time is never more than wall time, so the clock is read only past `ms` of wall time,
 * then at most once a millisecond; without a thread CPU clock, it is wall time.
 */
export function cpuDeadline(ms: number): () => boolean {
  const wall0 = performance.now();
  const cpu0 = threadCpuNs();
  let checked = wall0;
  return () => {
    const now = performance.now();
    if (now - wall0 < ms) return false;
    if (cpu0 === null) return true;
    if (now - checked < 1) return false;
    checked = now;
    return ((threadCpuNs() ?? Number.POSITIVE_INFINITY) - cpu0) / 1e6 >= ms;
  };
}

/**
 * Freezes the global object and everything reachable from it (the built-ins, their
 * prototypes): a handler cannot keep anything there from one call to the next, or change
 * what the next call's code sees. Run once per load, before the code's top level.
 */
const FREEZE = `(function () {
  const seen = new Set();
  const stack = [globalThis];
  while (stack.length > 0) {
    const o = stack.pop();
    if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) continue;
    seen.add(o);
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      if (d === undefined) continue;
      if ('value' in d) stack.push(d.value);
      else stack.push(d.get, d.set);
    }
    stack.push(Object.getPrototypeOf(o));
    Object.freeze(o);
  }
})()`;

/** One handler loaded in its own runtime, ready to call. */
class Loaded {
  private constructor(
    private readonly runtime: QuickJSRuntime,
    private readonly vm: QuickJSContext,
    private readonly entry: QuickJSHandle,
  ) {}

  /** Loads `code`: compiles it, runs its top level, and finds `handler`; or says why not. */
  static load(module: QuickJSWASMModule, code: string): Loaded | CompileProblem {
    const runtime = module.newRuntime();
    runtime.setMemoryLimit(TRANSFORM_LIMITS.memoryBytes);
    runtime.setMaxStackSize(TRANSFORM_LIMITS.stackBytes);
    const vm = runtime.newContext();
    const fail = (problem: CompileProblem) => {
      vm.dispose();
      runtime.dispose();
      return problem;
    };
    runtime.setInterruptHandler(cpuDeadline(TRANSFORM_LIMITS.loadMs));
    // A script on its own first: then its braces balance, and nothing in it can close the
    // function it is wrapped in below.
    const script = vm.evalCode(code, FILE, { compileOnly: true });
    if (script.error) return fail(describe(vm, script.error));
    script.value.dispose();
    const frozen = vm.evalCode(FREEZE, 'herald.js');
    if (frozen.error) return fail(describe(vm, frozen.error));
    frozen.value.dispose();
    // The code's top level as a function (on the code's own first line, so lines keep their
    // numbers), run once per call: its bindings are made anew each time.
    const make = vm.evalCode(
      `(function () {${code}\n;return typeof handler === 'function' ? handler : undefined;\n})`,
      FILE,
    );
    if (make.error) return fail(describe(vm, make.error));
    const first = vm.callFunction(make.value, vm.undefined);
    if (first.error) {
      make.value.dispose();
      return fail(describe(vm, first.error));
    }
    const defined = vm.typeof(first.value) === 'function';
    first.value.dispose();
    if (!defined) {
      make.value.dispose();
      return fail({ message: 'the code must define function handler(webhook)', line: null });
    }
    const factory = vm.evalCode(
      '(function (make) { return function (input) { return JSON.stringify(make()(JSON.parse(input))); }; })',
      'herald.js',
    );
    const entry = factory.error ? factory : vm.callFunction(factory.value, vm.undefined, make.value);
    if (!factory.error) factory.value.dispose();
    make.value.dispose();
    if (entry.error) return fail(describe(vm, entry.error));
    return new Loaded(runtime, vm, entry.value);
  }

  /** Whether a call left promise jobs queued (they must never run on a later call). */
  leftJobs(): boolean {
    return this.runtime.hasPendingJob();
  }

  /** Calls the handler with the webhook as JSON; its result as JSON text, or a TransformationError. */
  call(input: string): string {
    const { vm, runtime } = this;
    runtime.setInterruptHandler(cpuDeadline(TRANSFORM_LIMITS.cpuMs));
    const arg = vm.newString(input);
    const result = vm.callFunction(this.entry, vm.undefined, arg);
    arg.dispose();
    if (result.error) {
      const { message, line } = describe(vm, result.error);
      const why =
        message === 'InternalError: interrupted'
          ? `the handler ran past its CPU limit of ${TRANSFORM_LIMITS.cpuMs} ms`
          : /out of memory/i.test(message)
            ? `the handler ran out of memory (limit ${TRANSFORM_LIMITS.memoryBytes / 1024 / 1024} MiB)`
            : `the handler threw ${message}${line === null ? '' : ` (line ${line})`}`;
      throw new TransformationError(why);
    }
    const type = vm.typeof(result.value);
    const text = type === 'string' ? vm.getString(result.value) : undefined;
    result.value.dispose();
    if (text === undefined) throw new TransformationError('the handler must return the webhook object');
    return text;
  }

  dispose(): void {
    this.entry.dispose();
    this.vm.dispose();
    this.runtime.dispose();
  }
}

/**
 * Whether `code` can be saved as a transformation: it compiles, its top level runs within the
 * CPU cap, and it defines `handler`. `null` if so.
 */
export async function checkTransformation(code: string): Promise<CompileProblem | null> {
  const loaded = Loaded.load(await quickjs(), code);
  if (loaded instanceof Loaded) {
    loaded.dispose();
    return null;
  }
  return loaded;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The handler's result, checked against what Herald can send. */
function checkResult(text: string, input: WebhookIn): WebhookOut {
  if (text.length > TRANSFORM_LIMITS.resultMaxLength)
    throw new TransformationError(
      `the webhook returned is over ${TRANSFORM_LIMITS.resultMaxLength} characters`,
    );
  let out: unknown;
  try {
    out = JSON.parse(text);
  } catch {
    throw new TransformationError('the handler must return the webhook object');
  }
  if (!isPlainObject(out)) throw new TransformationError('the handler must return the webhook object');
  const cancel = out.cancel ?? false;
  if (typeof cancel !== 'boolean') throw new TransformationError('webhook.cancel must be true or false');
  if (cancel) return { payload: null, url: input.url, method: 'POST', headers: {}, cancel: true };
  if (!('payload' in out) || out.payload === undefined)
    throw new TransformationError('webhook.payload is missing: return the webhook with its payload');
  const method = out.method ?? 'POST';
  if (method !== 'POST' && method !== 'PUT')
    throw new TransformationError('webhook.method must be POST or PUT');
  const url = out.url ?? input.url;
  if (typeof url !== 'string') throw new TransformationError('webhook.url must be a string');
  const headers = out.headers ?? {};
  if (!isPlainObject(headers) || !Object.values(headers).every((v) => typeof v === 'string'))
    throw new TransformationError('webhook.headers must be an object of strings');
  try {
    return {
      payload: out.payload,
      url: url === input.url ? url : checkEndpointUrl('webhook.url', url),
      method,
      headers: checkHeaders('webhook.headers', headers as Record<string, string>),
      cancel: false,
    };
  } catch (error) {
    if (error instanceof ValidationError) throw new TransformationError(error.message, { cause: error });
    throw error;
  }
}

/** Runs endpoints' transformations, keeping each compiled handler per endpoint and code. */
export class Transformer {
  private readonly loaded = new Map<string, Loaded>();

  /**
   * Runs `code` (the transformation of endpoint `endpointId`) on `input`. Throws a
   * {@link TransformationError} for anything the handler did wrong.
   */
  async run(endpointId: string, code: string, input: WebhookIn): Promise<WebhookOut> {
    const key = `${endpointId}\n${code}`;
    let handler = this.loaded.get(key);
    if (handler) {
      // Most recently used last.
      this.loaded.delete(key);
    } else {
      const loaded = Loaded.load(await quickjs(), code);
      if (!(loaded instanceof Loaded))
        throw new TransformationError(
          `the code does not load: ${loaded.message}${loaded.line === null ? '' : ` (line ${loaded.line})`}`,
        );
      handler = loaded;
      this.dropVersions(endpointId);
      while (this.loaded.size >= TRANSFORM_LIMITS.cacheEntries) {
        const oldest = this.loaded.keys().next().value as string;
        this.loaded.get(oldest)?.dispose();
        this.loaded.delete(oldest);
      }
    }
    let text: string;
    try {
      text = handler.call(JSON.stringify(input));
    } catch (error) {
      // A handler stopped mid-way (interrupted, out of memory) may have left its context
      // broken: the next call loads it afresh.
      handler.dispose();
      throw error;
    }
    // Promise jobs a call queued would run in a later one: its runtime goes, the next call
    // loads the code afresh.
    if (handler.leftJobs()) handler.dispose();
    else this.loaded.set(key, handler);
    return checkResult(text, input);
  }

  /** Disposes the endpoint's handlers of older code versions. */
  private dropVersions(endpointId: string): void {
    for (const [key, handler] of this.loaded) {
      if (key.startsWith(`${endpointId}\n`)) {
        handler.dispose();
        this.loaded.delete(key);
      }
    }
  }

  /** Disposes every compiled handler. */
  dispose(): void {
    for (const handler of this.loaded.values()) handler.dispose();
    this.loaded.clear();
  }
}

/** What {@link tryTransformation} answers. */
export type TryOutcome =
  | { ok: true; webhook: WebhookOut }
  | { ok: false; error: string; line: number | null };

/**
 * Runs `code` once on `input` in a runtime of its own (`POST …/transformation/test`): the
 * changed webhook, or why it failed.
 */
export async function tryTransformation(code: string, input: WebhookIn): Promise<TryOutcome> {
  const loaded = Loaded.load(await quickjs(), code);
  if (!(loaded instanceof Loaded)) return { ok: false, error: loaded.message, line: loaded.line };
  try {
    return { ok: true, webhook: checkResult(loaded.call(JSON.stringify(input)), input) };
  } catch (error) {
    if (error instanceof TransformationError) return { ok: false, error: error.message, line: null };
    throw error;
  } finally {
    loaded.dispose();
  }
}

/**
 * Runs transformations off the dispatcher's thread: one worker thread holds the compiled
 * handlers (`worker-entry.ts`) and takes one call at a time; each call has a wall-clock limit
 * ({@link POOL_LIMITS.wallMs}) past which the worker is terminated and a fresh one takes the
 * calls still queued. QuickJS's interrupt handler stops a handler at its CPU cap between
 * bytecode steps, but not inside one native operation (filling a 100,000-element array near
 * the memory cap took 7 s on the main thread, measured): only a thread can be stopped then.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type CompileProblem,
  TransformationError,
  type TryOutcome,
  type WebhookIn,
  type WebhookOut,
} from './sandbox.js';

/** Bounds of the pool. */
export const POOL_LIMITS = {
  /** Wall-clock time one call may take in the worker before the worker is terminated. */
  wallMs: 1_000,
  /** Calls waiting at most; past it a call fails at once rather than queue without end. */
  queueMax: 10_000,
};

/** What the worker is asked: run an endpoint's handler, check code, or try code once. */
export type PoolTask =
  | { kind: 'run'; endpointId: string; code: string; input: WebhookIn }
  | { kind: 'check'; code: string }
  | { kind: 'try'; code: string; input: WebhookIn };

/** A call sent to the worker. */
export type PoolRequest = PoolTask & { id: number };

/** The worker's answer to a {@link PoolRequest}. */
export type PoolReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

interface Pending {
  request: PoolRequest;
  resolve: (value: unknown) => void;
  reject: (error: TransformationError) => void;
}

// Under tsx (the tests, `npm run bench`) this module is TypeScript, and so is its worker.
const TS = import.meta.url.endsWith('.ts');
const ENTRY = new URL(TS ? './worker-entry.ts' : './worker-entry.js', import.meta.url);

/** The worker from TypeScript source: tsx's loader is registered in it first. */
function tsWorker(): Worker {
  // tsx's ESM entry (its `import` export), found from its package.json.
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  const tsx = pathToFileURL(join(dirname(pkg), 'dist/esm/api/index.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY.href)}); })`;
  return new Worker(boot, { eval: true });
}

/** See the module comment. */
export class TransformPool {
  private worker: Worker | null = null;
  /** Whether {@link TransformPool.worker} has loaded QuickJS and takes calls. */
  private ready = false;
  private readonly queue: Pending[] = [];
  private current: { pending: Pending; timer: NodeJS.Timeout } | null = null;
  private nextId = 1;
  private closed = false;

  /** Runs endpoint `endpointId`'s `code` on `input`; rejects with a TransformationError. */
  run(endpointId: string, code: string, input: WebhookIn): Promise<WebhookOut> {
    return this.call({ kind: 'run', endpointId, code, input }) as Promise<WebhookOut>;
  }

  /** `checkTransformation` in the worker: why `code` cannot be saved, or `null`. */
  check(code: string): Promise<CompileProblem | null> {
    return this.call({ kind: 'check', code }) as Promise<CompileProblem | null>;
  }

  /** `tryTransformation` in the worker. */
  try(code: string, input: WebhookIn): Promise<TryOutcome> {
    return this.call({ kind: 'try', code, input }) as Promise<TryOutcome>;
  }

  private call(task: PoolTask): Promise<unknown> {
    if (this.closed) return Promise.reject(new TransformationError('the transformation pool is closed'));
    if (this.queue.length >= POOL_LIMITS.queueMax)
      return Promise.reject(new TransformationError('too many transformations waiting; try again later'));
    return new Promise<unknown>((resolve, reject) => {
      this.queue.push({ request: { ...task, id: this.nextId++ }, resolve, reject });
      this.next();
    });
  }

  private start(): Worker {
    const worker = TS ? tsWorker() : new Worker(ENTRY);
    worker.unref();
    worker.on('message', (reply: PoolReply | 'ready') => {
      if (reply !== 'ready') return this.answered(reply);
      if (this.worker !== worker) return;
      this.ready = true;
      this.next();
    });
    worker.on('error', (error) => this.lost(worker, `the transformation worker failed: ${error.message}`));
    worker.on('exit', () => this.lost(worker, 'the transformation worker exited'));
    return worker;
  }

  private next(): void {
    if (this.current || this.closed || this.queue.length === 0) return;
    if (!this.worker) {
      this.ready = false;
      this.worker = this.start();
    }
    if (!this.ready) return;
    const worker = this.worker;
    const pending = this.queue.shift() as Pending;
    const timer = setTimeout(() => {
      this.fail(`the handler ran past its time limit of ${POOL_LIMITS.wallMs} ms (stopped)`);
      this.worker = null;
      void worker.terminate();
      this.next();
    }, POOL_LIMITS.wallMs);
    this.current = { pending, timer };
    worker.postMessage(pending.request);
  }

  private fail(message: string): void {
    const current = this.current;
    if (!current) return;
    clearTimeout(current.timer);
    this.current = null;
    current.pending.reject(new TransformationError(message));
  }

  private answered(reply: PoolReply): void {
    const current = this.current;
    if (!current || current.pending.request.id !== reply.id) return;
    clearTimeout(current.timer);
    this.current = null;
    if (reply.ok) current.pending.resolve(reply.value);
    else current.pending.reject(new TransformationError(reply.error));
    this.next();
  }

  /** The worker died on its own: the call it held fails, the queue goes to a new one. */
  private lost(worker: Worker, message: string): void {
    if (this.worker !== worker) return;
    const booting = !this.ready;
    this.worker = null;
    this.ready = false;
    this.fail(message);
    // One that never became ready would fail again: what waits fails now, and the next call
    // tries a new worker.
    if (booting) for (const p of this.queue.splice(0)) p.reject(new TransformationError(message));
    this.next();
  }

  /** Fails what waits and stops the worker. */
  async close(): Promise<void> {
    this.closed = true;
    this.fail('the transformation pool is closed');
    for (const p of this.queue.splice(0))
      p.reject(new TransformationError('the transformation pool is closed'));
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }
}

let shared: TransformPool | undefined;
/** The API's pool (saving and trying code), made on first use; its worker never keeps the process up. */
export function sharedTransformPool(): TransformPool {
  shared ??= new TransformPool();
  return shared;
}

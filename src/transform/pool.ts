/**
 * Runs transformations off the dispatcher's thread, in a few worker threads
 * (`worker-entry.ts`, {@link POOL_LIMITS.workers}) that take one call at a time each. At most
 * one call of an endpoint runs at a time, and a waiting call of another endpoint goes before
 * it: a handler that loops or stalls holds one worker, never all, so other endpoints'
 * transformations go on beside it. Each call has a wall-clock limit
 * ({@link POOL_LIMITS.wallMs}) past which its worker is terminated and a fresh one started. QuickJS's interrupt handler stops a handler at its CPU cap between
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
  /** Worker threads of a pool (each about 10 MiB with QuickJS loaded). */
  workers: 2,
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

/** One worker thread of the pool and the call it runs. */
interface Slot {
  worker: Worker;
  /** Whether it has loaded QuickJS and takes calls. */
  ready: boolean;
  current: { pending: Pending; timer: NodeJS.Timeout } | null;
}

/** The endpoint a call counts against (at most one of its calls runs at a time), if any. */
const keyOf = (request: PoolRequest): string | null => (request.kind === 'run' ? request.endpointId : null);

/** See the module comment. */
export class TransformPool {
  private readonly slots: (Slot | null)[];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  /** `workers` threads at most (started as calls come). */
  constructor(workers = POOL_LIMITS.workers) {
    this.slots = Array.from({ length: Math.max(1, workers) }, () => null);
  }

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

  private start(index: number): Slot {
    const worker = TS ? tsWorker() : new Worker(ENTRY);
    const slot: Slot = { worker, ready: false, current: null };
    worker.unref();
    worker.on('message', (reply: PoolReply | 'ready') => {
      if (this.slots[index] !== slot) return;
      if (reply !== 'ready') return this.answered(slot, reply);
      slot.ready = true;
      this.next();
    });
    worker.on('error', (error) =>
      this.lost(index, slot, `the transformation worker failed: ${error.message}`),
    );
    worker.on('exit', () => this.lost(index, slot, 'the transformation worker exited'));
    return slot;
  }

  /** The first waiting call whose endpoint has none running, taken off the queue. */
  private take(): Pending | undefined {
    const running = new Set<string>();
    for (const slot of this.slots) {
      const key = slot?.current ? keyOf(slot.current.pending.request) : null;
      if (key !== null) running.add(key);
    }
    const at = this.queue.findIndex((p) => {
      const key = keyOf(p.request);
      return key === null || !running.has(key);
    });
    return at < 0 ? undefined : this.queue.splice(at, 1)[0];
  }

  private next(): void {
    if (this.closed) return;
    for (let index = 0; index < this.slots.length && this.queue.length > 0; index++) {
      let slot = this.slots[index];
      if (!slot) {
        slot = this.start(index);
        this.slots[index] = slot;
      }
      if (!slot.ready || slot.current) continue;
      const pending = this.take();
      if (!pending) return;
      const worker = slot.worker;
      const timer = setTimeout(() => {
        this.fail(slot, `the handler ran past its time limit of ${POOL_LIMITS.wallMs} ms (stopped)`);
        this.slots[index] = null;
        void worker.terminate();
        this.next();
      }, POOL_LIMITS.wallMs);
      slot.current = { pending, timer };
      worker.postMessage(pending.request);
    }
  }

  private fail(slot: Slot, message: string): void {
    const current = slot.current;
    if (!current) return;
    clearTimeout(current.timer);
    slot.current = null;
    current.pending.reject(new TransformationError(message));
  }

  private answered(slot: Slot, reply: PoolReply): void {
    const current = slot.current;
    if (!current || current.pending.request.id !== reply.id) return;
    clearTimeout(current.timer);
    slot.current = null;
    if (reply.ok) current.pending.resolve(reply.value);
    else current.pending.reject(new TransformationError(reply.error));
    this.next();
  }

  /** A worker died on its own: the call it held fails, the queue goes to the others or a new one. */
  private lost(index: number, slot: Slot, message: string): void {
    if (this.slots[index] !== slot) return;
    this.slots[index] = null;
    this.fail(slot, message);
    // One that never became ready would fail again: what waits fails now, and the next call
    // tries a new worker.
    if (!slot.ready) for (const p of this.queue.splice(0)) p.reject(new TransformationError(message));
    this.next();
  }

  /** Fails what waits and stops the workers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0))
      p.reject(new TransformationError('the transformation pool is closed'));
    const slots = this.slots.splice(0).filter((s): s is Slot => s !== null);
    for (const slot of slots) this.fail(slot, 'the transformation pool is closed');
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

let shared: TransformPool | undefined;
/** The API's pool (saving and trying code), made on first use; its worker never keeps the process up. */
export function sharedTransformPool(): TransformPool {
  shared ??= new TransformPool();
  return shared;
}

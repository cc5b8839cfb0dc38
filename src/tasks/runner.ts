/**
 * The task runner: it does background tasks (recover, replay-missing, bulk-replay,
 * expunge-all-contents, and any kind a handler is registered for) in batches, outside the
 * request that started them. Each task is a durable row (`Store.createTask`); a runner holds
 * it under a lease that every batch renews, and records the batch's cursor and counts as it
 * goes. A runner that stops gives its tasks back (another takes them at once); one that dies
 * leaves leases that expire, and any runner (this process's next start, or another API
 * process) takes the task over at its cursor. A task taken over too often, or of a kind no
 * handler knows, fails visibly: none stays `running` with nobody working on it.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { type Clock, systemClock, type Timer } from '../core/clock.js';
import { HeraldError, StoreUnavailableError } from '../core/errors.js';
import type { BackgroundTask } from '../core/types.js';
import { currentCause, withCause } from '../store/cause.js';
import type { Store } from '../store/store.js';
import { endTaskSpan, spanContext, startTaskSpan } from '../tracing/tracing.js';

/** What one batch of a task did. */
export interface TaskStep {
  /** Where the next batch starts. */
  cursor: string | null;
  /** What the task reports so far (replaces the task's `data`). */
  data: Record<string, unknown>;
  /** Nothing is left to do. */
  done: boolean;
}

/** Does one kind of task, a batch at a time. */
export interface TaskHandler {
  /** The kind it does, in Svix's words (`endpoint.recover`). */
  readonly kind: string;
  /** One batch of `task` from its cursor, of at most `batchSize` records, in a short transaction of its own. */
  step(task: BackgroundTask, store: Store, batchSize: number): Promise<TaskStep>;
}

/** Options of {@link TaskRunner}; every field but the store has a default. */
export interface TaskRunnerOptions {
  store: Store;
  handlers?: readonly TaskHandler[];
  logger?: Logger;
  /** Time of the lease timers. Default: the system clock (the store stamps the leases with its own). */
  clock?: Clock;
  /** Records a batch looks at, at most. Default 500: a few ms of one transaction on SQLite. */
  batchSize?: number;
  /** How long a runner holds a task without a batch; a dead runner's tasks wait this long. Default 60 s. */
  leaseMs?: number;
  /** A task whose runners died during it more often than this fails. Default 5. */
  maxRuns?: number;
  /** Who holds the leases. Default a random id. */
  owner?: string;
}

/** How one run of a task ended: done, failed, given back for another runner, or lost to one. */
type RunEnd = 'finished' | 'failed' | 'given back' | 'lost';

/** The key of a task's params that holds the trace context of the request that started it. */
const TRACE_PARAM = 'traceContext';

/** Input of {@link TaskRunner.submit}. */
export interface TaskRequest {
  kind: string;
  appId: string | null;
  endpointId: string | null;
  params: Record<string, unknown>;
  /** What the task reports before its first batch. */
  data: Record<string, unknown>;
}

/** Does the background tasks of a store; see the file's head. */
export class TaskRunner {
  readonly owner: string;
  /** `batch` (task) after each recorded batch, `settled` (task) once it ends or is given back here. */
  readonly events = new EventEmitter();
  private readonly store: Store;
  private readonly handlers = new Map<string, TaskHandler>();
  private readonly logger: Logger | undefined;
  private readonly clock: Clock;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly maxRuns: number;
  private readonly active = new Map<string, Promise<void>>();
  private takeover: Timer | null = null;
  /** The claim under way, so that a stop waits for the tasks it brings too. */
  private claiming: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(options: TaskRunnerOptions) {
    this.store = options.store;
    this.logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.batchSize = options.batchSize ?? 500;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.maxRuns = options.maxRuns ?? 5;
    this.owner = options.owner ?? `tasks-${randomUUID()}`;
    for (const handler of options.handlers ?? []) this.register(handler);
  }

  /** Adds the handler of a kind of task (one per kind). */
  register(handler: TaskHandler): this {
    if (this.handlers.has(handler.kind))
      throw new Error(`a handler of ${handler.kind} tasks is registered already`);
    this.handlers.set(handler.kind, handler);
    return this;
  }

  /** Whether a handler of `kind` is registered. */
  handles(kind: string): boolean {
    return this.handlers.has(kind);
  }

  /** Takes over the tasks nobody holds now, and again each lease period. */
  start(): this {
    this.stopping = false;
    this.takeoverNow();
    return this;
  }

  /** Takes over what nobody holds now, then looks again a lease period later. */
  private takeoverNow(): void {
    this.claiming = this.takeOver();
    void this.claiming.finally(() => {
      if (!this.stopping) this.scheduleTakeover(this.leaseMs);
    });
  }

  /**
   * Creates a task held by this runner and starts it; resolves with it as created (`running`).
   * The cause of the submit (the request's trace context, src/store/cause.ts) is kept in the
   * task's params as `traceContext`, which the API never shows: every run of the task, by
   * whichever runner, is traced as its child.
   */
  async submit(request: TaskRequest): Promise<BackgroundTask> {
    if (!this.handlers.has(request.kind)) throw new Error(`no handler of ${request.kind} tasks`);
    const cause = currentCause();
    const params = cause === null ? request.params : { ...request.params, [TRACE_PARAM]: cause };
    const task = await this.store.createTask({
      ...request,
      params,
      owner: this.owner,
      leaseMs: this.leaseMs,
    });
    this.launch(task);
    return task;
  }

  /** Resolves once no task runs here (the tasks started meanwhile included). */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.all(this.active.values());
  }

  /** Stops taking tasks; the batches under way finish and their tasks are given back. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.takeover?.cancel();
    this.takeover = null;
    await this.claiming;
    await Promise.all(this.active.values());
  }

  private scheduleTakeover(ms: number): void {
    this.takeover?.cancel();
    this.takeover = this.clock.setTimer(() => {
      if (!this.stopping) this.takeoverNow();
    }, ms);
  }

  /** Claims the running tasks whose runner gave them back or died, and runs them. */
  private async takeOver(): Promise<void> {
    try {
      for (const task of await this.store.claimTasks(this.owner, this.leaseMs, 16)) {
        this.logger?.info(
          { taskId: task.id, kind: task.kind, runs: task.runs },
          'background task taken over',
        );
        this.launch(task);
      }
    } catch (error) {
      this.logger?.warn(
        { err: error },
        'could not look for background tasks to take over; trying again later',
      );
    }
  }

  private launch(task: BackgroundTask): void {
    if (this.active.has(task.id)) return;
    const run = this.run(task).finally(() => {
      this.active.delete(task.id);
      this.events.emit('settled', task.id);
    });
    this.active.set(task.id, run);
  }

  /**
   * Runs `task` in the span of this run (with tracing on), which is then the cause of its
   * writes: the `background_task.finished` event joins the task's trace.
   */
  private async run(task: BackgroundTask): Promise<void> {
    const stored = task.params[TRACE_PARAM];
    const span = startTaskSpan(task, typeof stored === 'string' ? stored : null);
    if (span === null) {
      await this.runTask(task);
      return;
    }
    let end: RunEnd = 'failed';
    try {
      end = await withCause(spanContext(span), () => this.runTask(task));
    } finally {
      endTaskSpan(span, end);
    }
  }

  /** Runs `task` to its end here; resolves with how this run ended (for its span). */
  private async runTask(task: BackgroundTask): Promise<RunEnd> {
    const scope = { taskId: task.id, kind: task.kind, appId: task.appId, endpointId: task.endpointId };
    const handler = this.handlers.get(task.kind);
    let current = task;
    try {
      if (!handler) {
        await this.fail(current, `no handler of ${task.kind} tasks in this Herald`);
        return 'failed';
      }
      if (task.runs > this.maxRuns) {
        await this.fail(
          current,
          `interrupted ${task.runs - 1} times (its runner died during it each time); start it again`,
        );
        return 'failed';
      }
      for (;;) {
        if (this.stopping) {
          await this.store.releaseTask(current.id, this.owner);
          this.logger?.info(scope, 'background task given back at shutdown; the next runner resumes it');
          return 'given back';
        }
        const step = await handler.step(current, this.store, this.batchSize);
        const status = step.done ? 'finished' : 'running';
        const held = await this.store.advanceTask(current.id, this.owner, {
          cursor: step.cursor,
          data: step.data,
          status,
          leaseMs: this.leaseMs,
        });
        if (!held) {
          this.logger?.warn(
            scope,
            'background task lost its lease to another runner; leaving it to that one',
          );
          return 'lost';
        }
        current = { ...current, cursor: step.cursor, data: step.data, status };
        this.events.emit('batch', current);
        if (step.done) {
          this.logger?.info({ ...scope, data: step.data }, 'background task finished');
          return 'finished';
        }
        // Let requests in between batches.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      if (error instanceof StoreUnavailableError) {
        // The database is away for now, not the task wrong: give it back for the next
        // takeover (a lease period later) to resume at its cursor.
        this.logger?.warn({ ...scope, err: error }, 'background task paused: the store is unavailable');
        await this.store.releaseTask(current.id, this.owner).catch(() => undefined);
        return 'given back';
      }
      // What the task's reader sees: Herald's own message, or a generic one (a driver's text
      // can name tables and files); the whole error goes to the log.
      const reason =
        error instanceof HeraldError
          ? error.message
          : 'an internal error stopped it (the server log has the cause)';
      if (!(error instanceof HeraldError))
        this.logger?.error({ ...scope, err: error }, 'background task failed');
      await this.fail(current, reason).catch((again: unknown) => {
        // The store itself failed (closed, unreachable): the lease expires and a runner resumes it.
        this.logger?.error(
          { ...scope, err: again },
          'background task stopped; a runner resumes it once its lease expires',
        );
      });
      return 'failed';
    }
  }

  private async fail(task: BackgroundTask, reason: string): Promise<void> {
    await this.store.advanceTask(task.id, this.owner, {
      cursor: task.cursor,
      data: { ...task.data, error: reason },
      status: 'failed',
      leaseMs: this.leaseMs,
    });
    this.logger?.warn({ taskId: task.id, kind: task.kind, reason }, 'background task failed');
  }
}

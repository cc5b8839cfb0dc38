/**
 * Group commit: callers submit items one by one; everything submitted in the same turn of
 * the event loop (up to `maxItems`) is written by one call of `commit`, in one transaction,
 * and every caller is answered after that commit. Ingest is then bound by transactions per
 * second, not by one fsync per message.
 */

/** Per-item outcome of a commit: a value, or the error for that item alone. */
export type ItemResult<O> = { ok: true; value: O } | { ok: false; error: unknown };

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/** Told of each batch committed (or failed): how many items, and how long the commit took (ms). */
export type GroupCommitListener = (size: number, durationMs: number) => void;

/** Collects items and commits them in batches; see the module comment. */
export class GroupCommit<I, O> {
  private queue: Waiting<I, O>[] = [];
  private readonly listeners = new Set<GroupCommitListener>();
  private scheduled = false;
  private running: Promise<void> | null = null;

  constructor(
    private readonly commit: (items: I[]) => ItemResult<O>[] | Promise<ItemResult<O>[]>,
    private readonly maxItems = 512,
  ) {}

  /** Calls `listener` after each batch (metrics); returns the unsubscribe function. */
  onCommit(listener: GroupCommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Queues `item`; resolves with its result once the batch holding it has committed. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Waits until everything submitted so far has been committed or failed. */
  async flush(): Promise<void> {
    while (this.queue.length > 0 || this.running) {
      if (this.running) await this.running;
      else await this.drain();
    }
  }

  private async drain(): Promise<void> {
    this.scheduled = false;
    if (this.running) {
      // One batch at a time; whatever arrives meanwhile joins the next batch.
      await this.running;
      if (this.queue.length > 0 && !this.scheduled && !this.running) await this.drain();
      return;
    }
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxItems);
      this.running = this.commitBatch(batch);
      await this.running;
      this.running = null;
    }
  }

  private told(size: number, started: number): void {
    if (this.listeners.size === 0) return;
    const ms = performance.now() - started;
    for (const listener of this.listeners) listener(size, ms);
  }

  private async commitBatch(batch: Waiting<I, O>[]): Promise<void> {
    let results: ItemResult<O>[];
    const started = performance.now();
    try {
      results = await this.commit(batch.map((w) => w.item));
    } catch (error) {
      this.told(batch.length, started);
      for (const w of batch) w.reject(error);
      return;
    }
    this.told(batch.length, started);
    batch.forEach((w, i) => {
      const result = results[i];
      if (result === undefined) w.reject(new Error('group commit returned too few results'));
      else if (result.ok) w.resolve(result.value);
      else w.reject(result.error);
    });
  }
}

/**
 * Copies a SQLite file's WAL back into the database from a thread of its own. Without it,
 * the store's connection checkpoints inside the commit that crosses `wal_autocheckpoint`
 * (10,000 pages): every few seconds under load one commit copied and synced 40 MB, and every
 * API request waiting for it took 50-150 ms more (`npm run bench` latency on a busy machine).
 * The thread checkpoints every 250 ms in PASSIVE mode, which never blocks the writer or
 * readers, so the store's own checkpoint finds the WAL almost all copied and only finishes
 * the job (the last frames, then the WAL starts over; a checkpoint from another connection
 * cannot restart it while the writer keeps writing). The thread's connection reads and
 * writes no rows, so it does not disturb the store's page cache.
 */
import { Worker } from 'node:worker_threads';

/** How often the thread copies what the WAL gained. */
export const CHECKPOINT_INTERVAL_MS = 250;

/** What the thread needs. */
export interface CheckpointThreadData {
  path: string;
  intervalMs: number;
}

/** Messages from the thread. */
export type FromCheckpointThread = { type: 'ready' } | { type: 'failed'; message: string };

/** A running checkpoint thread. */
export interface CheckpointThread {
  /** Stops checkpointing and closes the thread's connection. */
  stop(): Promise<void>;
}

/**
 * Starts checkpointing the WAL of the database at `path` every `intervalMs`; resolves once
 * the thread's connection is open. `onFailure` hears of a checkpoint that failed or of the
 * thread's death; the store's own checkpoints keep the WAL bounded meanwhile, as without
 * the thread.
 */
export function startCheckpointThread(
  path: string,
  onFailure: (message: string) => void,
  intervalMs = CHECKPOINT_INTERVAL_MS,
): Promise<CheckpointThread> {
  const data: CheckpointThreadData = { path, intervalMs };
  const worker = new Worker(new URL('./checkpoint-entry.js', import.meta.url), { workerData: data });
  let stopping = false;
  return new Promise((resolve, reject) => {
    let started = false;
    worker.on('message', (message: FromCheckpointThread) => {
      if (message.type === 'failed') {
        onFailure(message.message);
        return;
      }
      started = true;
      resolve({
        stop: () => {
          stopping = true;
          const exited = new Promise<void>((done) => worker.once('exit', () => done()));
          worker.postMessage('stop');
          return exited;
        },
      });
    });
    worker.on('error', (error) => {
      if (!started) reject(error);
      else if (!stopping) onFailure(error.message);
    });
    worker.on('exit', (code) => {
      if (stopping) return;
      if (!started) reject(new Error(`the checkpoint thread exited with code ${code} before it started`));
      else onFailure(`the checkpoint thread exited with code ${code}`);
    });
  });
}

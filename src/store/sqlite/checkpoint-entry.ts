/** The checkpoint thread's code: see `checkpoint-thread.ts`. */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CheckpointThreadData, FromCheckpointThread } from './checkpoint-thread.js';

const port = parentPort;
if (!port) throw new Error('checkpoint-entry.js runs as a worker thread');
const data = workerData as CheckpointThreadData;
const db = new Database(data.path, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
// This connection writes nothing, so it would never checkpoint on its own anyway.
db.pragma('wal_autocheckpoint = 0');

const send = (message: FromCheckpointThread) => port.postMessage(message);
let failed = false;
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
    failed = false;
  } catch (error) {
    // Said once per run of failures, not every interval.
    if (!failed) send({ type: 'failed', message: (error as Error).message });
    failed = true;
  }
}, data.intervalMs);

port.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.close();
});
send({ type: 'ready' });

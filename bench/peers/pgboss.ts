/**
 * The pg-boss peer: PostgreSQL-backed queue, one job per delivery, fetched in batches of 64
 * (pg-boss's throughput setting) and sent concurrently, 8 attempts with exponential backoff.
 * pg-boss 10 is the last major that runs on Node 20 (11 and later need Node 22).
 * Run by the bench: `tsx bench/peers/pgboss.ts <database url> <endpoint url>`.
 */
import PgBoss from 'pg-boss';
import { type DeliveryJob, deliver, serveIngest } from './common.js';

const [database, ...endpoints] = process.argv.slice(2);
const boss = new PgBoss({ connectionString: database!, max: 16 });
boss.on('error', (error) => console.error('pg-boss:', error));
await boss.start();
const queue = 'deliveries';
await boss.createQueue(queue);
const BATCH = 64;
// pg-boss 10 waits out its polling interval after every fetch; a full batch means more is
// waiting, so the worker is told to fetch again at once (notifyWorker), as is an idle worker
// when new jobs arrive. Without this it peaks at 64 jobs per 0.5 s.
const workerId = await boss.work<DeliveryJob>(
  queue,
  { batchSize: BATCH, pollingIntervalSeconds: 0.5 },
  async (jobs) => {
    const results = await Promise.allSettled(jobs.map((job) => deliver(job.data)));
    const failed = jobs.filter((_, i) => results[i]!.status === 'rejected').map((j) => j.id);
    if (failed.length > 0) await boss.fail(queue, failed);
    if (jobs.length === BATCH) boss.notifyWorker(workerId);
  },
);
await serveIngest(endpoints, async (jobs) => {
  await boss.insert(
    jobs.map((data) => ({ name: queue, data, retryLimit: 7, retryDelay: 5, retryBackoff: true })),
  );
  boss.notifyWorker(workerId);
});

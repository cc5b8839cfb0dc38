/**
 * The BullMQ peer: Redis-backed queue, one job per delivery, a worker with concurrency 64
 * (BullMQ's throughput setting), 8 attempts with exponential backoff from 5 s.
 * Run by the bench: `tsx bench/peers/bullmq.ts <endpoint url>`.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { type DeliveryJob, deliver, serveIngest } from './common.js';

// BullMQ needs a constructed client under ESM; workers block, so retries per request are off.
const connection = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null });
const name = `herald-bench-${process.pid}`;
const queue = new Queue<DeliveryJob>(name, { connection });
await queue.obliterate({ force: true }).catch(() => undefined);
new Worker<DeliveryJob>(name, async (job) => deliver(job.data), { connection, concurrency: 64 });
await serveIngest(process.argv.slice(2), async (jobs) => {
  await queue.addBulk(
    jobs.map((data) => ({
      name: 'deliver',
      data,
      opts: { attempts: 8, backoff: { type: 'exponential', delay: 5_000 }, removeOnComplete: true },
    })),
  );
});

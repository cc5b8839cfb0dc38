/**
 * CPU time of `herald serve` (every thread, from /proc) per end-to-end delivery, for one or
 * more builds run in turn, round after round: a measure that a busy machine moves less than
 * a rate. Each build is a checkout with `dist/` built (`npm run build`); its own
 * `bench/harness.ts` starts its `herald serve` on a fresh SQLite file and a receiver.
 *
 *   git worktree add /tmp/before d2c51d7 && ln -s "$PWD/node_modules" /tmp/before/ \
 *     && (cd /tmp/before && npm run build)
 *   npm run build && npx tsx bench/cpu-per-delivery.ts /tmp/before "$PWD"
 *
 * `N` (default 25,000) messages after 2,000 to warm up, from 64 lanes to one endpoint;
 * `ROUNDS` (default 3). Prints each run, then each build's median [runs].
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PAYLOAD } from './e2e.js';

const N = Number(process.env.N ?? 25_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARM_UP = 2_000;
/** Clock ticks per second of /proc's CPU times (USER_HZ). */
const TICKS_PER_SECOND = 100;
const message = {
  eventType: 'content.published',
  payload: PAYLOAD,
};

/** CPU ticks the process has used, user and system, all threads. */
function ticks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const roots = process.argv.slice(2).map((r) => resolve(r));
  if (roots.length === 0)
    throw new Error('usage: npx tsx bench/cpu-per-delivery.ts <checkout> [<checkout> …]');
  const runs = new Map<string, { us: number[]; rate: number[] }>(roots.map((r) => [r, { us: [], rate: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const root of roots) {
      const h = await import(pathToFileURL(`${root}/bench/harness.ts`).href);
      const receiver = await h.startReceiver();
      const herald = await h.startHerald();
      try {
        const app = await herald.post('/app', { name: 'bench' });
        await herald.post(`/app/${app.id}/endpoint`, { url: `${receiver.url}?ep=0` });
        const send = () => herald.send(`/app/${app.id}/msg`, message);
        await h.lanes(WARM_UP, 64, send);
        await h.until(receiver.count, WARM_UP);
        await receiver.reset();
        const before = ticks(herald.pid);
        const started = performance.now();
        await h.lanes(N, 64, send);
        await h.until(receiver.count, N);
        const seconds = (performance.now() - started) / 1000;
        const us = ((ticks(herald.pid) - before) / TICKS_PER_SECOND / N) * 1e6;
        runs.get(root)!.us.push(us);
        runs.get(root)!.rate.push(N / seconds);
        console.log(`${root}: ${us.toFixed(0)} us CPU per delivery, ${(N / seconds).toFixed(0)}/s`);
      } finally {
        await herald.stop();
        await receiver.stop();
      }
    }
  }
  for (const [root, r] of runs)
    console.log(
      `${root}: median ${median(r.us).toFixed(0)} us per delivery [${r.us.map((u) => u.toFixed(0)).join(', ')}], median ${median(r.rate).toFixed(0)}/s`,
    );
}

await main();

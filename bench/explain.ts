/**
 * The plans PostgreSQL actually ran in an end-to-end run, with their row counts and buffers:
 * starts a server of its own (bench/own-postgres.ts) with `auto_explain` loaded (`log_analyze`,
 * `log_buffers`, nested statements, `SAMPLE_RATE` of the statements, default 0.05), runs
 * `bench/cpu-per-delivery.ts` once against it (`STORE=postgres`; `N`, `WORKERS` as there)
 * and leaves the server's log in `LOG_DIR` (default a new directory under the system's
 * temporary one), whose path it prints. `grep -c 'Seq Scan on deliveries'` in it, or the
 * index names, show which plans the sessions kept (BENCHMARKS.md, fourteenth session).
 *
 *   npm run build && WORKERS=1 N=15000 npx tsx bench/explain.ts
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOwnPostgres } from './own-postgres.js';

const logDir = process.env.LOG_DIR ?? mkdtempSync(join(tmpdir(), 'herald-explain-'));
if (process.getuid?.() === 0) {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString());
  chownSync(logDir, id('-u'), id('-g'));
}
const server = await startOwnPostgres({
  shared_preload_libraries: 'auto_explain',
  'auto_explain.log_min_duration': '0',
  'auto_explain.log_analyze': 'on',
  'auto_explain.log_buffers': 'on',
  'auto_explain.log_nested_statements': 'on',
  'auto_explain.sample_rate': process.env.SAMPLE_RATE ?? '0.05',
  logging_collector: 'on',
  log_directory: logDir,
});
try {
  execFileSync('npx', ['tsx', 'bench/cpu-per-delivery.ts', process.cwd()], {
    stdio: 'inherit',
    env: { ...process.env, STORE: 'postgres', HERALD_BENCH_PG_URL: server.url, ROUNDS: '1' },
  });
} finally {
  await server.stop();
}
console.log(`auto_explain's plans: ${logDir}`);

/**
 * Where PostgreSQL spends its time in an end-to-end run, statement by statement: starts a
 * server of its own (bench/own-postgres.ts) with `pg_stat_statements` loaded (planning
 * tracked too), runs `bench/cpu-per-delivery.ts` once against it (`STORE=postgres`; `N`,
 * `WORKERS` as there), then prints the statements by total execution time: calls, rows,
 * execution and planning milliseconds, and shared buffers read per call (from the cache or
 * not). Calls per delivery show the batch sizes (claims, completions, ingest commits);
 * planning time shows what preparing would save; buffers per call far above the rows a call
 * writes show a scan.
 *
 *   npm run build && WORKERS=4 N=20000 npx tsx bench/statements.ts
 */
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { startOwnPostgres } from './own-postgres.js';

const server = await startOwnPostgres({
  shared_preload_libraries: 'pg_stat_statements',
  'pg_stat_statements.track': 'all',
  'pg_stat_statements.track_planning': 'on',
});
const admin = new pg.Client({ connectionString: server.url });
await admin.connect();
try {
  await admin.query('CREATE EXTENSION pg_stat_statements');
  execFileSync('npx', ['tsx', 'bench/cpu-per-delivery.ts', process.cwd()], {
    stdio: 'inherit',
    env: { ...process.env, STORE: 'postgres', HERALD_BENCH_PG_URL: server.url, ROUNDS: '1' },
  });
  const { rows } = await admin.query(
    `SELECT calls, rows, round(total_exec_time::numeric, 1) AS exec_ms, round(total_plan_time::numeric, 1) AS plan_ms,
       round((shared_blks_hit + shared_blks_read)::numeric / nullif(calls, 0), 1) AS blocks_per_call,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 120) AS statement
     FROM pg_stat_statements WHERE query !~* '^\\s*(CREATE|ALTER|DROP|COMMENT|--)'
     ORDER BY total_exec_time + total_plan_time DESC LIMIT 20`,
  );
  console.table(rows);
} finally {
  await admin.end();
  await server.stop();
}

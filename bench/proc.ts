/**
 * Pure readers of Linux's /proc figures and of PostgreSQL's wait events, for the CPU cost
 * per delivery of `npm run bench` (issue 22). Kept apart from the processes they measure so
 * that a test can feed them text.
 */

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
export const TICKS_PER_SECOND = 100;

/**
 * utime + stime of a `/proc/<pid>/stat` line, in clock ticks: every thread of the process,
 * those that have ended included. The command name, in parentheses, may hold spaces and
 * parentheses, so the fields are counted from the last `)`.
 */
export function statTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is the 1st field, utime the 12th, stime the 13th.
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  return ticks;
}

/** The whole machine's idle (idle + iowait) and total clock ticks, from `/proc/stat`'s first line. */
export function machineTicks(procStat: string): { idle: number; total: number } {
  const line = procStat.split('\n')[0]!;
  if (!line.startsWith('cpu ')) throw new Error(`not /proc/stat: ${line.slice(0, 40)}`);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
  // counted in user and nice, so the last two are left out of the total.
  const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: (t[3] ?? 0) + (t[4] ?? 0), total: t.reduce((a, b) => a + b, 0) };
}

/** One row of `pg_stat_activity` as the wait sampler reads it. */
export interface ActivityRow {
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
}

/**
 * The class a sampled backend falls in: `idle` (no transaction open, waiting for the next
 * statement: not backend work), `CPU` (active and waiting for nothing), `Client` while a
 * transaction is open (waiting for the client's next statement mid-transaction), and
 * otherwise PostgreSQL's wait_event_type, with the WAL's I/O and light-weight locks apart
 * (`IO: WAL`, `LWLock: WAL`) because a queue's commits meet there.
 */
export function waitClass(row: ActivityRow): string {
  if (row.state === 'idle') return 'idle';
  const type = row.wait_event_type;
  if (type === null) return 'CPU';
  const event = row.wait_event ?? '';
  if ((type === 'IO' || type === 'LWLock') && event.startsWith('WAL')) return `${type}: WAL`;
  return type;
}

/** Shares of the non-idle samples by class (0-1), and the idle samples' share of all. */
export function waitShares(counts: Record<string, number>): {
  busy: Record<string, number>;
  idle: number;
  samples: number;
} {
  const samples = Object.values(counts).reduce((a, b) => a + b, 0);
  const idle = counts.idle ?? 0;
  const working = samples - idle;
  const busy: Record<string, number> = {};
  for (const [k, n] of Object.entries(counts)) if (k !== 'idle' && working > 0) busy[k] = n / working;
  return { busy, idle: samples > 0 ? idle / samples : 0, samples };
}

/** The value at quantile `q` (0-1) of `values`, sorted in place; NaN when empty. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  values.sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.floor(q * values.length))]!;
}

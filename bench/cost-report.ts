/**
 * The CPU-cost part of `npm run bench`'s report (issue 22): CPU per delivery by process,
 * where PostgreSQL's backends wait, worker scaling, and the issue's targets met or not.
 */
import { BYSTANDERS, type Cost, SELF } from './cost.js';
import { waitShares } from './proc.js';

const LABELS: Record<string, string> = {
  raw: 'raw POST',
  engine: 'engine, SQLite (one process)',
  pg1: 'engine, PostgreSQL, 1 worker',
  pg2: 'engine, PostgreSQL, 2 workers',
  relay: 'relay (e2e ceiling)',
  e2e: 'e2e, SQLite',
  pge2e1: 'e2e, PostgreSQL, 1 worker',
  pge2e2: 'e2e, PostgreSQL, 2 workers',
  pge2e3: 'e2e, PostgreSQL, 3 workers',
  pge2e4: 'e2e, PostgreSQL, 4 workers',
  bullmq: 'peer BullMQ',
  pgboss: 'peer pg-boss',
  fanout: 'fan-out x50, SQLite',
  pgfanout: 'fan-out x50, PostgreSQL',
  isolation: 'isolation, SQLite',
};
/** The wait classes in the order they are shown; any other lands in `other`. */
const CLASSES = [
  'CPU',
  'Lock',
  'LWLock',
  'LWLock: WAL',
  'IO',
  'IO: WAL',
  'Client',
  'IPC',
  'Activity',
  'Timeout',
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const us = (x: number) => Math.round(x).toLocaleString('en-US');
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const total = (c: Cost) => c.sender + (c.pg ?? 0);

/**
 * ` (by run: …)`: `key`'s figure over `baseKey`'s, run by run (the runs measured them in
 * turn, on the same machine load), when both have more than one run; else ''. With two
 * runs the median is the higher value, so the pairs say more than the medians' ratio.
 */
function byRun(
  costs: Record<string, Cost[]>,
  key: string,
  f: (c: Cost) => number,
  baseKey: string,
  g: (c: Cost) => number,
  what = 'by run',
): string {
  const a = costs[key] ?? [];
  const b = costs[baseKey] ?? [];
  if (a.length < 2 || a.length !== b.length) return '';
  return ` (${what}: ${a.map((c, i) => (f(c) / g(b[i]!)).toFixed(2)).join(', ')})`;
}

/** The share of Lock waits among the non-idle backend samples of `runs`, summed over runs. */
function shares(runs: Cost[]): ReturnType<typeof waitShares> {
  const counts: Record<string, number> = {};
  for (const c of runs) for (const [k, n] of Object.entries(c.waits ?? {})) counts[k] = (counts[k] ?? 0) + n;
  return waitShares(counts);
}

/** Prints the tables and the targets; nothing if no run measured costs. */
export function reportCosts(costs: Record<string, Cost[]>, rates: Record<string, number[]>): void {
  const keys = Object.keys(LABELS).filter((k) => costs[k]?.length);
  const cell = (key: string, role: string) =>
    costs[key]!.some((c) => role in c.us) ? us(m(key, (c) => c.us[role] ?? 0)) : '';
  if (keys.length === 0) return;
  const m = (key: string, f: (c: Cost) => number) => median(costs[key]!.map(f));
  console.log(
    '\nCPU µs per delivery, by process (utime + stime of every thread, /proc/<pid>/stat; median of the runs). ' +
      '"Sender" is the processes that deliver: Herald\'s, or the relay, or a peer (its Redis not counted). ' +
      'Sender + PostgreSQL is the figure that does not depend on how busy the machine is; "other" is the ' +
      "machine's busy time beyond every process counted (other users of the machine, PostgreSQL's background " +
      'processes included).\n',
  );
  console.log(
    '| scenario | sender + PostgreSQL | sender | PostgreSQL backends (seen) | sender by process | receiver | load generator | PostgreSQL background | other | machine idle |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const key of keys) {
    const runs = costs[key]!;
    const roles = [...new Set(runs.flatMap((c) => Object.keys(c.us)))].filter((r) => !BYSTANDERS.has(r));
    const byProcess = roles.map((r) => `${r} ${us(m(key, (c) => c.us[r] ?? 0))}`).join(', ');
    const hasPg = runs.every((c) => c.pg !== null);
    console.log(
      `| ${LABELS[key]} | ${us(m(key, total))} | ${us(m(key, (c) => c.sender))} | ${
        hasPg ? `${us(m(key, (c) => c.pg!))} (${m(key, (c) => c.pgBackends)})` : ''
      } | ${byProcess} | ${cell(key, 'receiver')} | ${cell(key, SELF)} | ${hasPg ? us(m(key, (c) => c.pgBackground!)) : ''} | ${us(m(key, (c) => c.other))} | ${pct(m(key, (c) => c.idle))} |`,
    );
  }
  const sqlite = costs.e2e?.length ? m('e2e', (c) => c.sender) : null;
  const engine = costs.engine?.length ? m('engine', (c) => c.sender) : null;
  const fanout = costs.fanout?.length ? m('fanout', (c) => c.sender) : null;
  const ratioLines: string[] = [];
  const sender = (c: Cost) => c.sender;
  for (const [key, base, baseKey, baseLabel] of [
    ['pge2e1', sqlite, 'e2e', "SQLite's e2e Herald"],
    ['pge2e2', sqlite, 'e2e', "SQLite's e2e Herald"],
    ['pge2e3', sqlite, 'e2e', "SQLite's e2e Herald"],
    ['pge2e4', sqlite, 'e2e', "SQLite's e2e Herald"],
    ['pgboss', sqlite, 'e2e', "SQLite's e2e Herald"],
    ['pgfanout', fanout, 'fanout', "SQLite's fan-out Herald"],
    ['pg1', engine, 'engine', "SQLite's engine"],
    ['pg2', engine, 'engine', "SQLite's engine"],
  ] as const) {
    if (base === null || !costs[key]?.length) continue;
    ratioLines.push(
      `${LABELS[key]}: sender + PostgreSQL ${us(m(key, total))} µs against ${baseLabel} ${us(base)} µs: ${(m(key, total) / base).toFixed(2)} ×${byRun(costs, key, total, baseKey, sender)}`,
    );
  }
  if (sqlite !== null && costs.relay?.length)
    ratioLines.push(
      `e2e, SQLite: Herald ${us(sqlite)} µs against the relay's ${us(m('relay', sender))} µs: ${(sqlite / m('relay', sender)).toFixed(2)} ×${byRun(costs, 'e2e', sender, 'relay', sender)}`,
    );
  if (ratioLines.length > 0) console.log(`\nThe deciding ratio:\n- ${ratioLines.join('\n- ')}`);

  const waited = keys.filter((k) => costs[k]!.some((c) => c.waits !== null));
  if (waited.length > 0) {
    console.log(
      "\nWhere PostgreSQL's serving backends wait (pg_stat_activity sampled every 25 ms from a connection of its own): " +
        'share of the samples of backends in a statement or a transaction, by wait class ("CPU": active, no wait ' +
        'event; "Client": waiting for the client inside a transaction); "idle" is the idle backends\' share of all samples.\n',
    );
    // The classes seen in some scenario, and Lock always (a target is about it).
    const seen = CLASSES.filter((k) => k === 'Lock' || waited.some((key) => shares(costs[key]!).busy[k]));
    console.log(`| scenario | samples | ${seen.join(' | ')} | other | idle |`);
    console.log(`| --- | --- | ${seen.map(() => '---').join(' | ')} | --- | --- |`);
    for (const key of waited) {
      const s = shares(costs[key]!);
      const other = Object.entries(s.busy)
        .filter(([k]) => !seen.includes(k))
        .reduce((a, [, v]) => a + v, 0);
      console.log(
        `| ${LABELS[key]} | ${s.samples} | ${seen.map((k) => pct(s.busy[k] ?? 0)).join(' | ')} | ${pct(other)} | ${pct(s.idle)} |`,
      );
    }
  }

  const scaling = [1, 2, 3, 4].map((w) => `pge2e${w}`).filter((k) => costs[k]?.length);
  if (scaling.length > 1) {
    const one = m(scaling[0]!, total);
    console.log(
      '\nWorker scaling on PostgreSQL (1 API process, end to end): CPU per delivery should not grow with the workers\n',
    );
    console.log('| workers | deliveries/s | Herald + PostgreSQL µs | growth from the first | Lock waits |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const key of scaling) {
      const t = m(key, total);
      console.log(
        `| ${key.slice(5)} | ${us(median(rates[key] ?? [0]))} | ${us(t)} | ${pct(t / one - 1)} | ${pct(shares(costs[key]!).busy.Lock ?? 0)} |`,
      );
    }
  }
  reportTargets(costs, rates);
}

/** Issue 22's targets that this run can judge, each met or not, with its figures. */
function reportTargets(costs: Record<string, Cost[]>, rates: Record<string, number[]>): void {
  const rate = (k: string) => (rates[k]?.length ? median(rates[k]) : null);
  const cpu = (k: string, f: (c: Cost) => number) => (costs[k]?.length ? median(costs[k].map(f)) : null);
  const lines: string[] = [];
  const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const e2e = rate('e2e');
  const relay = rate('relay');
  const pge2e1 = rate('pge2e1');
  if (e2e !== null && relay !== null)
    lines.push(
      `SQLite e2e ≥ 0.7 × the relay, in deliveries/s: ${(e2e / relay).toFixed(2)} (${verdict(e2e / relay >= 0.7)})`,
    );
  // The relay answers after its forward, Herald before its delivery: their rates on a
  // saturated machine compare less well than their costs, the rate a free core would give.
  const relayCpu = cpu('relay', (c) => c.sender);
  const heraldCpu = cpu('e2e', (c) => c.sender);
  if (relayCpu !== null && heraldCpu !== null)
    lines.push(
      `… in CPU per delivery (the relay's µs over Herald's on SQLite, the rate ratio where CPU is what limits): ${us(relayCpu)} / ${us(heraldCpu)} = ${(relayCpu / heraldCpu).toFixed(2)} (${verdict(relayCpu / heraldCpu >= 0.7)})${byRun(
        costs,
        'relay',
        (c) => c.sender,
        'e2e',
        (c) => c.sender,
      )}`,
    );
  const pairs = (a: number[] = [], b: number[] = []) =>
    a.length > 1 && a.length === b.length
      ? ` (by run: ${a.map((x, i) => (x / b[i]!).toFixed(2)).join(', ')})`
      : '';
  if (e2e !== null && pge2e1 !== null)
    lines.push(
      `PostgreSQL e2e (1 worker) ≥ 0.7 × SQLite e2e: ${(pge2e1 / e2e).toFixed(2)} (${verdict(pge2e1 / e2e >= 0.7)})${pairs(rates.pge2e1, rates.e2e)}`,
    );
  const sqlite = cpu('e2e', (c) => c.sender);
  const pg = cpu('pge2e1', total);
  if (sqlite !== null && pg !== null)
    lines.push(
      `Herald + PostgreSQL CPU per delivery ≤ 1.5 × Herald's on SQLite (e2e, 1 worker): ${us(pg)} / ${us(sqlite)} µs = ${(pg / sqlite).toFixed(2)} (${verdict(pg / sqlite <= 1.5)})${byRun(costs, 'pge2e1', total, 'e2e', (c) => c.sender)}`,
    );
  const four = cpu('pge2e4', total);
  if (pg !== null && four !== null)
    lines.push(
      `CPU per delivery from 1 to 4 workers grows < 15 %: ${us(pg)} → ${us(four)} µs, ${pct(four / pg - 1)} (${verdict(four / pg - 1 < 0.15)})${byRun(costs, 'pge2e4', total, 'pge2e1', total, '4 workers over 1, by run')}`,
    );
  const locks = [1, 2, 3, 4]
    .map((w) => `pge2e${w}`)
    .filter((k) => costs[k]?.some((c) => c.waits))
    .map((k) => shares(costs[k]!).busy.Lock ?? 0);
  if (locks.length > 0) {
    const worst = Math.max(...locks);
    lines.push(
      `Lock waits < 5 % of backend samples, 1-4 workers: at most ${pct(worst)} (${verdict(worst < 0.05)})`,
    );
  }
  if (lines.length > 0) console.log(`\nIssue 22's targets in this run:\n- ${lines.join('\n- ')}`);
}

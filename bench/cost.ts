/**
 * CPU time per delivery of every process a scenario involves (issue 22), read from /proc:
 * each Herald process, the PostgreSQL backends serving the scenario's database, the
 * receiver, the load generator (this process), and the machine's idle time; and, on
 * PostgreSQL, where the backends wait, sampled from `pg_stat_activity`.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { type ActivityRow, machineTicks, statTicks, TICKS_PER_SECOND, waitClass } from './proc.js';

/** A process to measure, under the name it is reported by. */
export interface Proc {
  /**
   * `receiver`, `hanging receiver`, or a process that delivers: Herald's (`herald …`), the
   * relay, a peer sender; those count in {@link Cost.sender}.
   */
  role: string;
  pid: number;
}

/** What one window measured. */
export interface Cost {
  deliveries: number;
  seconds: number;
  /** CPU µs per delivery by role; `PostgreSQL backends` is the sum of the serving backends. */
  us: Record<string, number>;
  /** µs per delivery of the processes that deliver (Herald's, or the relay, or a peer), summed. */
  sender: number;
  /** The serving backends' µs per delivery, or null off PostgreSQL. */
  pg: number | null;
  /** How many serving backends were seen. */
  pgBackends: number;
  /** PostgreSQL's own background processes (WAL writer, checkpointer…): the server is shared. */
  pgBackground: number | null;
  /** The machine's idle share (idle + iowait of every core) over the window. */
  idle: number;
  /** µs per delivery the machine spent busy beyond every process counted here. */
  other: number;
  /** Backend samples by {@link waitClass}, or null off PostgreSQL. */
  waits: Record<string, number> | null;
}

export const SELF = 'load generator (bench process)';
export const PG_ROLE = 'PostgreSQL backends';
/** The roles that do not deliver: what they cost is the set-up's, not the sender's. */
export const BYSTANDERS = new Set(['receiver', 'hanging receiver', SELF, PG_ROLE]);
const BACKGROUND = ['walwriter', 'checkpointer', 'background writer', 'autovacuum launcher'];

function ticksOf(pid: number): number | null {
  try {
    return statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // ended, or not Linux
  }
}

function machine(): { idle: number; total: number } {
  try {
    return machineTicks(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return { idle: 0, total: 0 };
  }
}

/**
 * The serving backends of a database: every backend on it (client backends, autovacuum
 * workers) but the sampler's own, first CPU ticks and last seen. One that appears during the
 * window counts from zero (it was born in it); one that ends counts until its last sample
 * (a backend born and gone between two samples is missed).
 */
class PgSampler {
  private readonly base = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly background = new Map<number, number>();
  readonly waits: Record<string, number> = {};
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly client: pg.Client,
    private readonly everyMs: number,
  ) {}

  private async sample(mode: 'first' | 'wait' | 'last'): Promise<void> {
    const first = mode === 'first';
    const { rows } = await this.client.query<ActivityRow & { pid: number; backend_type: string }>(
      `SELECT pid, state, wait_event_type, wait_event, backend_type FROM pg_stat_activity
        WHERE (datname = current_database() AND pid <> pg_backend_pid()) OR backend_type = ANY($1)`,
      [BACKGROUND],
    );
    for (const row of rows) {
      const ticks = ticksOf(row.pid);
      if (BACKGROUND.includes(row.backend_type)) {
        if (first && ticks !== null) this.background.set(row.pid, ticks);
        continue;
      }
      if (ticks === null) continue;
      if (!this.base.has(row.pid)) this.base.set(row.pid, first ? ticks : 0);
      this.last.set(row.pid, ticks);
      if (mode === 'wait') {
        const k = waitClass(row);
        this.waits[k] = (this.waits[k] ?? 0) + 1;
      }
    }
  }

  async start(): Promise<void> {
    await this.sample('first');
    const loop = () => {
      this.timer = setTimeout(() => {
        this.running = this.sample('wait').then(() => {
          if (!this.stopped) loop();
        });
      }, this.everyMs);
    };
    loop();
  }

  /** Ends sampling; CPU ticks of the serving backends and of the background processes. */
  async stop(): Promise<{ ticks: number; backends: number; background: number }> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.sample('last');
    let ticks = 0;
    for (const [pid, base] of this.base) ticks += (this.last.get(pid) ?? base) - base;
    let background = 0;
    for (const [pid, base] of this.background) background += (ticksOf(pid) ?? base) - base;
    return { ticks, backends: this.base.size, background };
  }
}

let lastCost: Cost | null = null;

/**
 * Starts a window over `procs` (and this process, as the load generator, unless listed),
 * and, given `pgUrl`, over the backends of that database with their wait events sampled
 * every `waitEveryMs`. The returned function ends it for `deliveries` and keeps the figures
 * for {@link takeCost}.
 */
export async function startCost(
  procs: Proc[],
  pgUrl?: string,
  waitEveryMs = 25,
): Promise<(deliveries: number) => Promise<Cost>> {
  const all = procs.some((p) => p.pid === process.pid) ? procs : [...procs, { role: SELF, pid: process.pid }];
  let sampler: PgSampler | null = null;
  let client: pg.Client | null = null;
  if (pgUrl) {
    client = new pg.Client(pgUrl);
    await client.connect();
    sampler = new PgSampler(client, waitEveryMs);
    await sampler.start();
  }
  const before = all.map((p) => ticksOf(p.pid) ?? 0);
  const machineBefore = machine();
  const started = performance.now();
  return async (deliveries) => {
    const after = all.map((p, i) => ticksOf(p.pid) ?? before[i]!);
    const machineAfter = machine();
    const seconds = (performance.now() - started) / 1000;
    const pgTicks = sampler ? await sampler.stop() : null;
    await client?.end();
    const perDelivery = (ticks: number) => ((ticks / TICKS_PER_SECOND) * 1e6) / deliveries;
    const us: Record<string, number> = {};
    let counted = 0;
    for (const [i, p] of all.entries()) {
      const ticks = after[i]! - before[i]!;
      counted += ticks;
      us[p.role] = (us[p.role] ?? 0) + perDelivery(ticks);
    }
    if (pgTicks) {
      us[PG_ROLE] = perDelivery(pgTicks.ticks);
      counted += pgTicks.ticks + pgTicks.background;
    }
    const total = machineAfter.total - machineBefore.total;
    const idle = machineAfter.idle - machineBefore.idle;
    const sender = Object.entries(us)
      .filter(([role]) => !BYSTANDERS.has(role))
      .reduce((sum, [, v]) => sum + v, 0);
    lastCost = {
      deliveries,
      seconds,
      us,
      sender,
      pg: pgTicks ? us[PG_ROLE]! : null,
      pgBackends: pgTicks?.backends ?? 0,
      pgBackground: pgTicks ? perDelivery(pgTicks.background) : null,
      idle: total > 0 ? idle / total : 0,
      other: Math.max(0, perDelivery(total - idle - counted)),
      waits: sampler ? sampler.waits : null,
    };
    return lastCost;
  };
}

/** The figures of the last window since the last call, or null. */
export function takeCost(): Cost | null {
  const cost = lastCost;
  lastCost = null;
  return cost;
}

/**
 * Attempts committed by other processes, for `Store.onAttempts` (what `herald tail` streams):
 * with `--role api` beside separate workers, the attempts are committed in the workers.
 *
 * A process with attempt listeners keeps one session of its own that LISTENs on the schema's
 * attempts channel and holds a shared advisory lock on the channel's key: that lock is how
 * the other processes know someone is tailing. A process that completes attempts looks for the
 * lock at most once a second, and only while it is held sends, after each commit, a NOTIFY
 * naming the attempts and their deliveries' next states. Nobody tailing, nothing is sent: the
 * NOTIFY (which serialises the commits that send one) stays off the delivery path. The
 * listening process reads the named attempts by id and tells its listeners. The attempts of
 * this process's own sessions are told directly (`AttemptEvents`), so their echo is ignored.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Attempt } from '../../core/types.js';
import { type AttemptRow, toAttempt } from '../rows.js';
import type { Completion, DeliveryNext } from '../store.js';

/** What the feed needs of the store's connection. */
export interface FeedConnection {
  /** The pool's client options, for the feed's own listening session. */
  readonly config: pg.PoolConfig;
  /** A statement on the pool. */
  q<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Whether a server process id is one of this store's pool sessions. */
  ownSession(pid: number): boolean;
}

/** One attempt as a notification names it. */
interface Named {
  id: string;
  next: DeliveryNext;
}

/** NOTIFY payloads are limited to 8,000 bytes. */
const PAYLOAD_MAX = 7_000;
/** How long a look for tailing processes is trusted. */
const LOOK_MS = 1_000;

/** The attempts channel of a schema, and the advisory lock key that says someone listens on it. */
export function attemptsChannel(schema: string): { channel: string; key: number } {
  const hash = createHash('sha256').update(`attempts:${schema}`).digest();
  return {
    channel: `herald_attempts_${hash.toString('hex').slice(0, 32)}`,
    key: hash.readInt32BE(0),
  };
}

/** Advisory locks taken with one bigint key show it in pg_locks as classid (high) and objid (low). */
const LOCK_CLASS = 0x4845_5241; // "HERA"

export class AttemptFeed {
  private client: pg.Client | null = null;
  private opening: Promise<void> | null = null;
  private lookedAt = Number.NEGATIVE_INFINITY;
  private tailed = false;
  private closed = false;

  constructor(
    private readonly conn: FeedConnection,
    private readonly channel: string,
    private readonly key: number,
    /** Told the attempts other processes committed. */
    private readonly heard: (events: { attempt: Attempt; next: DeliveryNext }[]) => void,
  ) {}

  /** The advisory lock's key as one bigint: "HERA" above the channel's 32 bits. */
  private get lockKey(): string {
    return ((BigInt(LOCK_CLASS) << 32n) | BigInt(this.key >>> 0)).toString();
  }

  /** Starts hearing other processes' attempts (while this process has listeners). */
  start(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.opening ??= this.open().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private async open(): Promise<void> {
    const client = new pg.Client(this.conn.config);
    client.on('error', () => {
      // Its end follows; the listeners hear nothing more from other processes until a restart of the feed.
    });
    client.on('end', () => {
      if (this.client === client) this.client = null;
    });
    client.on('notification', (n) => {
      if (this.conn.ownSession(n.processId) || !n.payload) return;
      void this.read(n.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      await client.query('SELECT pg_advisory_lock_shared($1::bigint)', [this.lockKey]);
    } catch {
      await client.end().catch(() => undefined);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
  }

  /** Stops hearing them: the session ends, and with it the lock that made others send. */
  async stop(): Promise<void> {
    await this.opening;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  /** Whether some process tails this schema's attempts, looked up at most once a second. */
  private async someoneTails(): Promise<boolean> {
    const now = Date.now();
    if (now - this.lookedAt < LOOK_MS) return this.tailed;
    this.lookedAt = now;
    const { rows } = await this.conn.q<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND classid = $1::oid AND objid = $2::oid AND objsubid = 1 AND granted`,
      [LOCK_CLASS, this.key >>> 0],
    );
    this.tailed = (rows[0]?.n ?? 0) > 0;
    return this.tailed;
  }

  /** After `completions` committed: names their attempts to the tailing processes, if any. */
  async committed(completions: readonly Completion[]): Promise<void> {
    if (this.closed) return;
    const named: Named[] = completions.flatMap((c) =>
      c.attempt ? [{ id: c.attempt.id, next: c.next }] : [],
    );
    if (named.length === 0 || !(await this.someoneTails())) return;
    let chunk: string[] = [];
    let size = 2;
    const send = async () => {
      if (chunk.length > 0)
        await this.conn.q('SELECT pg_notify($1, $2)', [this.channel, `[${chunk.join(',')}]`]);
      chunk = [];
      size = 2;
    };
    for (const n of named) {
      const json = JSON.stringify(n);
      if (size + json.length + 1 > PAYLOAD_MAX) await send();
      chunk.push(json);
      size += json.length + 1;
    }
    await send();
  }

  /** Reads the attempts a notification names and tells the listeners. */
  private async read(payload: string): Promise<void> {
    let named: Named[];
    try {
      named = JSON.parse(payload) as Named[];
    } catch {
      return;
    }
    try {
      const { rows } = await this.conn.q<AttemptRow>(
        'SELECT * FROM attempts WHERE id = ANY($1::text[]) ORDER BY id',
        [named.map((n) => n.id)],
      );
      const next = new Map(named.map((n) => [n.id, n.next]));
      this.heard(rows.map((r) => ({ attempt: toAttempt(r), next: next.get(r.id)! })));
    } catch {
      // The stream misses these attempts; the attempt log has them.
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }
}

/**
 * One stream connection per listener endpoint across processes (`Store.holdListener`): a
 * session-level advisory lock keyed by the endpoint id, taken with `pg_try_advisory_lock` on
 * one session of this process kept for the purpose (opened at the first hold), so that a
 * second API process refuses the name while the first holds it. The lock goes with the
 * session: a process that dies gives back its listeners at once. Keys are 32 bits of the
 * id's SHA-256 under a class of their own; two ids that share one refuse each other (a
 * 1 in 4 billion chance a pair).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

/** The advisory lock class of listener endpoints ("LSTN"). */
const LISTENER_CLASS = 0x4c53_544e;

const keyOf = (endpointId: string) => createHash('sha256').update(endpointId).digest().readInt32BE(0);

export class ListenerLocks {
  private client: pg.Client | null = null;
  private opening: Promise<pg.Client> | null = null;
  private closed = false;

  constructor(private readonly config: pg.PoolConfig) {}

  private session(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.opening ??= (async () => {
      const client = new pg.Client(this.config);
      client.on('error', () => {
        // Its end follows.
      });
      client.on('end', () => {
        // Its locks went with it: the next hold opens a new session.
        if (this.client === client) this.client = null;
      });
      await client.connect();
      this.client = client;
      return client;
    })().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  /** See `Store.holdListener`. */
  async hold(endpointId: string): Promise<(() => void) | null> {
    if (this.closed) return null;
    const client = await this.session();
    const key = keyOf(endpointId);
    const { rows } = await client.query<{ held: boolean }>(
      'SELECT pg_try_advisory_lock($1::int, $2::int) AS held',
      [LISTENER_CLASS, key],
    );
    if (!rows[0]?.held) return null;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      // A session that ended since holds nothing any more: nothing to give back.
      if (this.client === client)
        void client
          .query('SELECT pg_advisory_unlock($1::int, $2::int)', [LISTENER_CLASS, key])
          .catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    await this.client?.end().catch(() => undefined);
    this.client = null;
  }
}

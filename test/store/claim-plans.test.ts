/**
 * The plans PostgreSQL keeps for the claims (PostgreSQL only). A session's prepared claim is
 * planned on the statistics of the moment and kept; made while the queue was small, it must
 * still read the oldest due deliveries in order when a backlog comes, not scan and sort all
 * of them at every claim (a worker drained 100,000 due deliveries at 2,600/s rising to
 * 7,300/s that way, against 8,200-9,300/s in order: BENCHMARKS.md, fourteenth session).
 * Checked on the generic plans, forced, over the statistics of a small queue, fixed
 * (autovacuum off on the table); and what can serve which claim at all with deliveries_due
 * dropped and sequential scans priced out, which no statistics decide.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLAIM_DUE_NEXT, CLAIM_DUE_SKIPPING_NEXT, NEXT_DUE } from '../../src/store/postgres/deliveries.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { acceptMany, claimFor, successOf } from '../helpers.js';
import { PG_URL } from '../pg.js';

const schema = `cp${process.pid}_${Date.now().toString(36)}`;

beforeAll(() => quietQueue());

afterAll(async () => {
  const client = new pg.Client(PG_URL);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/** Every node of a plan, depth first. */
function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/**
 * A queue as a quiet day leaves it: 2,000 deliveries over two endpoints, all but 10 delivered,
 * vacuumed and analyzed.
 */
async function quietQueue(): Promise<void> {
  const store = await openPostgresStore({ url: PG_URL, schema });
  try {
    const app = await store.createApplication({ name: 'claim plans' });
    for (const n of [1, 2]) await store.createEndpoint(app.id, { url: `https://receiver.invalid/${n}` });
    await acceptMany(store, app.id, 1_000);
    const now = Date.now();
    const claimed = await claimFor(store, now, 2_000);
    expect(claimed).toHaveLength(2_000);
    await store.complete(
      claimed.map((d) => successOf(d, now)),
      now,
      86_400_000,
    );
    await acceptMany(store, app.id, 5);
  } finally {
    await store[Symbol.asyncDispose]();
  }
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await client.connect();
  await client.query('ALTER TABLE deliveries SET (autovacuum_enabled = false)');
  await client.query('VACUUM ANALYZE deliveries');
  await client.end();
}

/**
 * The generic plan of `text` with `params`, as `EXPLAIN (FORMAT JSON)` gives it (nothing is
 * run); with the index `without` dropped first and sequential scans priced out, inside a
 * transaction rolled back after.
 */
async function genericPlan(text: string, params: unknown[], without?: string): Promise<PlanNode[]> {
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await client.connect();
  try {
    await client.query('BEGIN');
    if (without) {
      await client.query(`DROP INDEX ${without}`);
      await client.query('SET LOCAL enable_seqscan = off');
    }
    await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
    await client.query(`PREPARE claim AS ${text}`);
    const literals = params.map((p) =>
      typeof p === 'string' ? `'${p}'` : Array.isArray(p) ? `'{}'` : String(p),
    );
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) EXECUTE claim${literals.length > 0 ? `(${literals.join(', ')})` : ''}`,
    );
    return nodes(rows[0]!['QUERY PLAN'][0].Plan);
  } finally {
    await client.query('ROLLBACK');
    await client.end();
  }
}

const indexesOf = (plan: PlanNode[]) => plan.map((n) => n['Index Name']).filter(Boolean);

describe('the claims’ plans, made while the queue is small (PostgreSQL)', () => {
  it('read the due deliveries in order from deliveries_due, and sort none of them', async () => {
    const now = Date.now();
    const params = [now, 128, now + 60_000, 'w'];
    const claim = await genericPlan(CLAIM_DUE_NEXT, params);
    expect(indexesOf(claim)).toContain('deliveries_due');
    expect(indexesOf(claim)).not.toContain('deliveries_endpoint_due');
    expect(claim.filter((n) => n['Node Type'] === 'Sort')).toEqual([]);
    expect(claim.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'deliveries')).toEqual(
      [],
    );
    const next = await genericPlan(NEXT_DUE, []);
    expect(indexesOf(next)).toEqual(['deliveries_due']);
    expect(next.map((n) => n['Node Type'])).toContain('Limit');
  });

  it('cannot be planned on deliveries_endpoint_due, whatever the statistics say', async () => {
    // With deliveries_due gone, what else could serve a claim across endpoints: a plan on
    // deliveries_endpoint_due scans and sorts every due delivery (what PostgreSQL chose, with
    // deliveries_due there, when it believed the queue small).
    const now = Date.now();
    const claim = await genericPlan(CLAIM_DUE_NEXT, [now, 128, now + 60_000, 'w'], 'deliveries_due');
    expect(indexesOf(claim)).not.toContain('deliveries_endpoint_due');
    const next = await genericPlan(NEXT_DUE, [], 'deliveries_due');
    expect(indexesOf(next)).not.toContain('deliveries_endpoint_due');
  });

  it('past saturated endpoints, can still go endpoint by endpoint through deliveries_endpoint_due', async () => {
    const now = Date.now();
    const claim = await genericPlan(
      CLAIM_DUE_SKIPPING_NEXT,
      [now, 128, now + 60_000, 'w', []],
      'deliveries_due',
    );
    expect(indexesOf(claim)).toContain('deliveries_endpoint_due');
  });
});

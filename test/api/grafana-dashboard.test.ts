/**
 * docs/grafana/herald.json queries only what Herald exports: every metric named in its
 * PromQL is one that `GET /metrics` of a real `herald serve` on the store under test lists
 * (by its `# TYPE` line, so a counter nobody incremented yet counts, with a histogram's
 * `_bucket`, `_sum` and `_count`). The PostgreSQL pool's panel is the one that SQLite has no
 * series for.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HeraldProcess, startHerald } from '../serve.js';
import { db } from '../store-under-test.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}

const dashboard = JSON.parse(
  readFileSync(new URL('../../docs/grafana/herald.json', import.meta.url), 'utf8'),
) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query: string | { query: string } }[] };
};

/** PostgreSQL's pool exists on PostgreSQL only. */
const POSTGRES_ONLY = new Set(['herald_db_pool_connections']);

/** What every panel's datasource names: the dashboard's data source variable. */
const DATASOURCE = '$' + '{datasource}';

/** The metric names a PromQL expression reads: identifiers not called as functions. */
function metricsOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // label lists
  const names = new Set<string>();
  for (const m of bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)) {
    if (m[2] === undefined && !/^(?:and|or|unless|bool|offset)$/.test(m[1]!)) names.add(m[1]!);
  }
  return [...names];
}

/** Every sample name a `/metrics` text can hold, from its `# TYPE` lines and its samples. */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      names.add(name);
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name}${s}`);
      if (kind === 'summary') for (const s of ['_sum', '_count']) names.add(`${name}${s}`);
    } else if (line && !line.startsWith('#')) names.add(line.split(/[{ ]/, 1)[0]!);
  }
  return names;
}

const queries = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr }))),
  ...dashboard.templating.list
    .filter((v) => typeof v.query === 'object')
    // label_values(metric, label): the metric is its first argument.
    .map((v) => ({
      panel: `$${v.name}`,
      expr: (v.query as { query: string }).query.replace(/^label_values\(([^,]+),.*\)$/, '$1'),
    })),
];

let server: HeraldProcess;

beforeAll(async () => {
  server = await startHerald(['--metrics-public']);
});

afterAll(async () => {
  await server.stop();
});

describe('docs/grafana/herald.json', () => {
  it('is a dashboard whose panels each have a unique id and query the $datasource variable', () => {
    expect(dashboard.uid).toBe('herald-overview');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe(DATASOURCE);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });

  it('queries only metrics that /metrics exports, Herald’s own ones all among them', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const have = exported(text);
    const missing: string[] = [];
    const used = new Set<string>();
    for (const { panel, expr } of queries) {
      const names = metricsOf(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        used.add(name.replace(/_(bucket|sum|count)$/, ''));
        if (!have.has(name) && !(db === 'sqlite' && POSTGRES_ONLY.has(name)))
          missing.push(`${panel}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
    // On PostgreSQL the pool's series is there, so the exception above is SQLite's alone.
    if (db === 'postgres') for (const name of POSTGRES_ONLY) expect(have.has(name)).toBe(true);
    // And the dashboard shows every metric of Herald's own (herald_*), none left out.
    const own = [...have].filter((n) => n.startsWith('herald_') && !/_(bucket|sum|count)$/.test(n));
    expect(own.filter((n) => !used.has(n))).toEqual([]);
  });

  it('reads metric names out of PromQL, leaving out functions, labels and ranges', () => {
    expect(
      metricsOf(
        'histogram_quantile(0.99, sum by (le) (rate(herald_delivery_latency_seconds_bucket{job=~"$job"}[$__rate_interval])))',
      ),
    ).toEqual(['herald_delivery_latency_seconds_bucket']);
    expect(metricsOf('sum(rate(a_total{x="y"}[5m])) / sum(rate(b_total[5m]))')).toEqual([
      'a_total',
      'b_total',
    ]);
    expect(metricsOf('max(herald_oldest_due_delivery_age_seconds{job=~"$job"}) > bool 30')).toEqual([
      'herald_oldest_due_delivery_age_seconds',
    ]);
  });
});

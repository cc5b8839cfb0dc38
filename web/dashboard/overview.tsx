/**
 * The overview: messages accepted and attempts per minute, the success rate, deliveries
 * pending and how long the oldest due one has waited, and the endpoints failing now, as
 * charts over the last hour (by minute) or the last day (by hour), from the store through
 * `GET /api/v1/stats/activity`: every API and worker process of the database is counted,
 * and a restart loses nothing. The figures above the charts are the queue now and the
 * window's totals; the page reads them again every 15 s (hour) or minute (day).
 */
import { Activity } from 'lucide-preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ok } from '../shared/api.ts';
import type { paths } from '../shared/api-types.ts';
import { EmptyState, ErrorNote, Loading, PageHeader, useLoad } from '../shared/ui.tsx';
import { useDash } from './session.ts';

type ActivityOut = paths['/api/v1/stats/activity']['get']['responses']['200']['content']['application/json'];
type Window = ActivityOut['window'];

const REFRESH_MS: Record<Window, number> = { hour: 15_000, day: 60_000 };
const WINDOW_WORDS: Record<Window, { label: string; span: string; per: string }> = {
  hour: { label: 'Last hour', span: 'the last hour', per: 'per minute' },
  day: { label: 'Last day', span: 'the last 24 hours', per: 'per minute, averaged over each hour' },
};

/** `45 s`, `12 min`, `3.5 h`; `none late` for 0. */
export function waited(seconds: number): string {
  if (seconds < 1) return 'none late';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** A wait on an axis: `0 s`, `30 s`, then as {@link waited}. */
const waitTick = (seconds: number) => (seconds < 120 ? `${seconds} s` : waited(seconds));
/** Axis steps of whole numbers (counts of deliveries, endpoints). */
const WHOLE_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1e6, 1e7,
];

/** The bucket of a window. */
const unitOf = (w: Window) => (w === 'hour' ? 'minute' : 'hour');
const count = (n: number) => n.toLocaleString('en-US');
const perMinute = (n: number) => (Number.isInteger(n) || n >= 10 ? n.toFixed(0) : n.toFixed(1));

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** One line or bar series of a {@link Chart}: its label, values, colour, scale and unit. */
interface Series {
  label: string;
  values: (number | null)[];
  color: string;
  scale: string;
  /** How a value of it reads (axis ticks and the hover legend). */
  format: (v: number) => string;
  bars?: boolean;
  /** Its values are whole numbers: the axis ticks only those. */
  whole?: boolean;
}

/**
 * A uPlot chart over the window's buckets, as wide as its container: one axis per scale (the
 * first on the left, a second on the right), the time below, a legend under it.
 */
function Chart(props: {
  title: string;
  summary: string;
  x: number[];
  series: Series[];
  bucketSeconds: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const { x, series, bucketSeconds } = props;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const muted = cssVar('--pico-muted-color', '#777');
    const grid = cssVar('--pico-muted-border-color', '#e5e5e5');
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const scales = [...new Set(series.map((s) => s.scale))];
    const formatOf = (scale: string) => series.find((s) => s.scale === scale)!.format;
    const height = 180;
    const plot = new uPlot(
      {
        width: el.clientWidth || 600,
        height,
        legend: { show: false },
        // Room on the right for the last time label, where no second axis stands.
        padding: [8, scales.length > 1 ? 0 : 28, 0, 0],
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true, range: (_u, min, max) => [min - bucketSeconds / 2, max + bucketSeconds / 2] },
          // A share runs 0 to 100; a count or a wait from 0 to its highest.
          ...Object.fromEntries(
            scales.map((s) => [
              s,
              { range: (_u: uPlot, _min: number, max: number) => [0, s === '%' ? 100 : Math.max(max, 1)] },
            ]),
          ),
        },
        axes: [
          { ...axis },
          ...scales.map((scale, i) => ({
            ...axis,
            scale,
            side: i === 0 ? 3 : 1,
            ...(series.filter((s) => s.scale === scale).every((s) => s.whole) ? { incrs: WHOLE_STEPS } : {}),
            size: 60,
            ...(i > 0 ? { grid: { show: false } } : {}),
            values: (_u: uPlot, ticks: number[]) => ticks.map(formatOf(scale)),
          })),
        ],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            scale: s.scale,
            stroke: s.color,
            width: 1.75,
            spanGaps: false,
            points: { show: false },
            ...(s.bars
              ? {
                  fill: `color-mix(in srgb, ${s.color} 30%, transparent)`,
                  paths: uPlot.paths.bars!({ size: [0.7, 24] }),
                }
              : {}),
          })),
        ],
      },
      [x, ...series.map((s) => s.values)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [x, series, bucketSeconds]);
  return (
    <article class="card overview-chart">
      <h2>{props.title}</h2>
      <figure>
        <div ref={box} class="chart" role="img" aria-label={`${props.title}: ${props.summary}`} />
        <figcaption class="legend">
          {series.map((s) => (
            <span key={s.label}>
              <i style={{ background: s.color, ...(s.bars ? {} : { height: '3px' }) }} />
              {s.label}
            </span>
          ))}
        </figcaption>
      </figure>
    </article>
  );
}

function Stat(props: { label: string; value: string; note?: string; href?: string }) {
  return (
    <article class="card stat-card">
      <span class="muted">{props.label}</span>
      <strong>{props.href ? <a href={props.href}>{props.value}</a> : props.value}</strong>
      {props.note && <small class="muted">{props.note}</small>}
    </article>
  );
}

/** The window's figures and chart series, from the API's buckets. */
function figures(a: ActivityOut) {
  const minutes = a.bucketSeconds / 60;
  const sum = (k: 'accepted' | 'succeeded' | 'failed') => a.data.reduce((n, b) => n + b[k], 0);
  const accepted = sum('accepted');
  const succeeded = sum('succeeded');
  const failed = sum('failed');
  const attempts = succeeded + failed;
  return {
    accepted,
    succeeded,
    failed,
    attempts,
    windowMinutes: a.data.length * minutes,
    // Nothing happened: nothing accepted or attempted, and no snapshot saw a queue.
    empty:
      accepted === 0 &&
      attempts === 0 &&
      a.data.every((b) => !b.pending && !b.sending && !b.failingEndpoints),
    // Each point stands in the middle of its bucket.
    x: a.data.map((b) => Date.parse(b.start) / 1000 + a.bucketSeconds / 2),
    rate: (k: 'accepted' | 'succeeded' | 'failed') => a.data.map((b) => b[k] / minutes),
    success: a.data.map((b) => {
      const all = b.succeeded + b.failed;
      return all === 0 ? null : Math.round((b.succeeded / all) * 1000) / 10;
    }),
    gauge: (k: 'pending' | 'oldestDueSeconds' | 'failingEndpoints') => a.data.map((b) => b[k]),
  };
}

function Charts({ activity }: { activity: ActivityOut }) {
  const [colors] = useState(() => ({
    primary: cssVar('--pico-primary', '#0172ad'),
    ok: cssVar('--ok', '#16794a'),
    bad: cssVar('--bad', '#b42318'),
    warn: cssVar('--warn', '#8a5a00'),
  }));
  const f = figures(activity);
  const words = WINDOW_WORDS[activity.window];
  const { bucketSeconds } = activity;
  const unit = unitOf(activity.window);
  const highest = (values: (number | null)[]) => Math.max(0, ...values.map((v) => v ?? 0));
  return (
    <div class="overview-charts">
      <Chart
        title={`Messages accepted and attempts, ${words.per}`}
        summary={`${count(f.accepted)} messages accepted and ${count(f.attempts)} attempts (${count(f.failed)} failed) in ${words.span}.`}
        x={f.x}
        bucketSeconds={bucketSeconds}
        series={[
          {
            label: 'Messages accepted',
            values: f.rate('accepted'),
            color: colors.primary,
            scale: 'n',
            format: perMinute,
          },
          {
            label: 'Attempts succeeded',
            values: f.rate('succeeded'),
            color: colors.ok,
            scale: 'n',
            format: perMinute,
          },
          {
            label: 'Attempts failed',
            values: f.rate('failed'),
            color: colors.bad,
            scale: 'n',
            format: perMinute,
          },
        ]}
      />
      <Chart
        title={`Success rate of attempts, per ${unit}`}
        summary={
          f.attempts === 0
            ? `no attempt in ${words.span}.`
            : `${((f.succeeded / f.attempts) * 100).toFixed(1)} % of ${count(f.attempts)} attempts succeeded in ${words.span}; the lowest ${unit} was ${Math.min(...f.success.filter((v) => v !== null))} %.`
        }
        x={f.x}
        bucketSeconds={bucketSeconds}
        series={[
          {
            label: 'Attempts that succeeded (%)',
            values: f.success,
            color: colors.ok,
            scale: '%',
            format: (v) => `${v}%`,
            bars: true,
          },
        ]}
      />
      <Chart
        title="Deliveries pending and the oldest's wait"
        summary={`at most ${count(highest(f.gauge('pending')))} deliveries pending and the oldest due one waiting ${waited(highest(f.gauge('oldestDueSeconds')))}, in ${words.span}.`}
        x={f.x}
        bucketSeconds={bucketSeconds}
        series={[
          {
            label: 'Deliveries pending',
            values: f.gauge('pending'),
            color: colors.primary,
            scale: 'n',
            format: count,
            whole: true,
          },
          {
            label: 'Oldest due delivery waiting',
            values: f.gauge('oldestDueSeconds'),
            color: colors.warn,
            scale: 's',
            format: waitTick,
            whole: true,
          },
        ]}
      />
      <Chart
        title="Endpoints failing"
        summary={`at most ${count(highest(f.gauge('failingEndpoints')))} endpoints with deliveries waiting for a retry, in ${words.span}.`}
        x={f.x}
        bucketSeconds={bucketSeconds}
        series={[
          {
            label: 'Endpoints with deliveries waiting for a retry',
            values: f.gauge('failingEndpoints'),
            color: colors.bad,
            scale: 'n',
            format: count,
            whole: true,
            bars: true,
          },
        ]}
      />
    </div>
  );
}

export function Overview() {
  const { api } = useDash();
  const [view, setView] = useState<Window>('hour');
  const { data, error, reload } = useLoad(
    () => ok(api.GET('/api/v1/stats/activity', { params: { query: { window: view } } })),
    [view],
  );
  useEffect(() => {
    const timer = setInterval(reload, REFRESH_MS[view]);
    return () => clearInterval(timer);
  }, [view, reload]);
  const f = data && figures(data);
  const words = WINDOW_WORDS[view];
  return (
    <section>
      <PageHeader
        title="Overview"
        sub="From the store: every API and worker process of this database. The queue now, and what happened over the window."
        actions={
          <fieldset class="window-switch" aria-label="Window">
            {(['hour', 'day'] as const).map((w) => (
              <button
                key={w}
                type="button"
                class={w === view ? '' : 'outline secondary'}
                aria-pressed={w === view}
                onClick={() => setView(w)}
              >
                {WINDOW_WORDS[w].label}
              </button>
            ))}
          </fieldset>
        }
      />
      <ErrorNote error={error} />
      {!data && !error && <Loading what="the activity" />}
      {data && f && (
        <>
          <div class="stat-grid overview-stats">
            <Stat
              label="Deliveries pending"
              value={count(data.now.pending)}
              note={`${count(data.now.sending)} sending now`}
            />
            <Stat label="Oldest due delivery waiting" value={waited(data.now.oldestDueSeconds)} note="now" />
            <Stat
              label="Endpoints failing now"
              value={count(data.now.failingEndpoints)}
              note={`${count(data.now.retrying)} deliveries waiting for a retry`}
              {...(data.now.failingEndpoints > 0 ? { href: '#/failures' } : {})}
            />
            <Stat
              label="Success rate"
              value={f.attempts ? `${((f.succeeded / f.attempts) * 100).toFixed(1)} %` : '—'}
              note={`${count(f.succeeded)} of ${count(f.attempts)} attempts, ${words.span}`}
            />
            <Stat
              label="Messages accepted"
              value={count(f.accepted)}
              note={`${words.span} · ${perMinute(f.accepted / f.windowMinutes)} a minute`}
            />
            <Stat
              label="Attempts"
              value={count(f.attempts)}
              note={`${words.span} · ${perMinute(f.attempts / f.windowMinutes)} a minute · ${count(f.failed)} failed`}
            />
          </div>
          {f.empty ? (
            <EmptyState
              icon={<Activity size={32} aria-hidden="true" />}
              title={`Nothing happened in ${words.span}`}
            >
              No message was accepted and no attempt made. Send a message (
              <code>POST /api/v1/app/&#123;app_id&#125;/msg</code>) and it shows here within a minute; the
              queue is snapshotted once a minute by the running server.
            </EmptyState>
          ) : (
            <Charts activity={data} />
          )}
          <p class="muted">
            The last {unitOf(view)} is still counting. The queue's charts show the highest of its snapshots in
            each {unitOf(view)}; a gap is a time no server was running. See <a href="#/failures">Failures</a>{' '}
            for what is failing, grouped by endpoint and cause.
          </p>
        </>
      )}
    </section>
  );
}

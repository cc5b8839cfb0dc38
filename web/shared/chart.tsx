/**
 * An endpoint's last day as a small uPlot chart: success rate per hour (bars of the share of
 * attempts that succeeded) and the median response time (a line, its own axis on the right).
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Attempt } from './api.ts';

/** Per hour of the last day: its start (s), success share (%), median duration (ms); null when nothing was sent. */
export function hourly(
  attempts: Attempt[],
  now = Date.now(),
): [number[], (number | null)[], (number | null)[]] {
  const hour = 3_600_000;
  const end = Math.ceil(now / hour) * hour;
  const starts = Array.from({ length: 24 }, (_, i) => end - (24 - i) * hour);
  const buckets = starts.map(() => ({ ok: 0, all: 0, ms: [] as number[] }));
  for (const a of attempts) {
    const i = Math.floor((new Date(a.timestamp).getTime() - starts[0]!) / hour);
    const b = buckets[i];
    if (!b) continue;
    b.all++;
    if (a.status === 0) b.ok++;
    b.ms.push(a.responseDurationMs);
  }
  const median = (ms: number[]) => {
    const s = [...ms].sort((x, y) => x - y);
    return s[Math.floor(s.length / 2)] ?? null;
  };
  // Each bar stands in the middle of its hour.
  return [
    starts.map((s) => (s + hour / 2) / 1000),
    buckets.map((b) => (b.all ? Math.round((b.ok / b.all) * 1000) / 10 : null)),
    buckets.map((b) => (b.all ? median(b.ms) : null)),
  ];
}

/** Reads a CSS variable of the page, so the chart follows the theme. */
function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** The chart of {@link hourly}, as wide as its container. */
export function DeliveryChart({ attempts }: { attempts: Attempt[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const primary = cssVar('--pico-primary', '#0172ad');
    const muted = cssVar('--pico-muted-color', '#777');
    const grid = cssVar('--pico-muted-border-color', '#e5e5e5');
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const plot = new uPlot(
      {
        width: el.clientWidth || 600,
        height: 160,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true, range: (_u, min, max) => [min - 1800, max + 1800] },
          rate: { range: [0, 100] },
          ms: { range: (_u, _min, max) => [0, Math.max(max, 10)] },
        },
        axes: [
          { ...axis },
          { ...axis, scale: 'rate', values: (_u, ticks) => ticks.map((t) => `${t}%`), size: 48 },
          {
            ...axis,
            scale: 'ms',
            side: 1,
            values: (_u, ticks) => ticks.map((t) => `${t} ms`),
            size: 64,
            grid: { show: false },
          },
        ],
        series: [
          {},
          {
            label: 'Attempts succeeded',
            scale: 'rate',
            stroke: primary,
            fill: `color-mix(in srgb, ${primary} 22%, transparent)`,
            paths: uPlot.paths.bars!({ size: [0.7, 40] }),
            value: (_u, v) => (v == null ? '–' : `${v}%`),
          },
          {
            label: 'Median response',
            scale: 'ms',
            stroke: muted,
            width: 1.5,
            spanGaps: false,
            points: { size: 4 },
            value: (_u, v) => (v == null ? '–' : `${v} ms`),
          },
        ],
      },
      hourly(attempts),
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 160 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [attempts]);
  return (
    <figure style={{ margin: 0 }}>
      <div
        ref={box}
        class="chart"
        role="img"
        aria-label="Share of attempts that succeeded and median response time, per hour, last 24 hours"
      />
      <figcaption class="legend">
        <span>
          <i style={{ background: 'var(--pico-primary)' }} />
          Attempts that succeeded, per hour
        </span>
        <span>
          <i style={{ background: 'var(--pico-muted-color)', height: '2px' }} />
          Median response time
        </span>
      </figcaption>
    </figure>
  );
}

/** Draws the bench results as an SVG bar chart (no dependency: the SVG is written by hand). */

/** One bar: a label, the median and its spread, and a note after the figure. */
export interface Bar {
  label: string;
  median: number;
  min: number;
  max: number;
  /** Printed after the median, e.g. the ratio to the raw limit. */
  note: string;
}

/** A titled group of bars on one scale, with the unit printed after each median. */
export interface Panel {
  title: string;
  unit: string;
  bars: Bar[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const LABEL_WIDTH = 540;
const PLOT_WIDTH = 520;
const ROW_HEIGHT = 26;

/** The rows of one panel from `top`; returns the SVG and the height used. */
function drawPanel(panel: Panel, top: number): { svg: string; height: number } {
  const scaleMax = Math.max(...panel.bars.map((b) => b.max)) * 1.05 || 1;
  const x = (v: number) => LABEL_WIDTH + (v / scaleMax) * PLOT_WIDTH;
  const rows = panel.bars.map((b, i) => {
    const y = top + 30 + i * ROW_HEIGHT;
    const mid = y + ROW_HEIGHT / 2;
    const figure = b.median >= 100 ? Math.round(b.median).toLocaleString('en-US') : b.median.toFixed(1);
    return [
      `<text x="${LABEL_WIDTH - 8}" y="${mid + 4}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y + 4}" width="${x(b.median) - LABEL_WIDTH}" height="${ROW_HEIGHT - 8}" fill="${i === 0 && panel.unit === '/s' ? '#999' : '#3b6fb6'}"/>`,
      `<line x1="${x(b.min)}" x2="${x(b.max)}" y1="${mid}" y2="${mid}" stroke="#222"/>`,
      `<text x="${x(b.max) + 6}" y="${mid + 4}">${figure}${esc(panel.unit)}${b.note ? ` ${esc(b.note)}` : ''}</text>`,
    ].join('');
  });
  const heading = `<text x="12" y="${top + 18}" font-weight="bold">${esc(panel.title)}</text>`;
  return { svg: [heading, ...rows].join('\n'), height: 30 + panel.bars.length * ROW_HEIGHT + 16 };
}

/** An SVG of panels of horizontal bars (median, min-max whiskers) under a title, with a caption. */
export function barChart(title: string, panels: Panel[], caption: string): string {
  let y = 36;
  const parts: string[] = [];
  for (const panel of panels) {
    if (panel.bars.length === 0) continue;
    const drawn = drawPanel(panel, y);
    parts.push(drawn.svg);
    y += drawn.height;
  }
  const height = y + 40;
  const width = LABEL_WIDTH + PLOT_WIDTH + 160;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">
<title>${esc(title)}</title>
<rect width="100%" height="100%" fill="white"/>
<text x="12" y="24" font-size="16" font-weight="bold">${esc(title)}</text>
${parts.join('\n')}
<text x="12" y="${height - 16}">${esc(caption)}</text>
</svg>
`;
}

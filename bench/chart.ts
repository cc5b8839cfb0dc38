/** Draws the bench results as an SVG bar chart (no dependency: the SVG is written by hand). */

/** One bar: a label, the median and its spread, and its ratio to the raw limit. */
export interface Bar {
  label: string;
  median: number;
  min: number;
  max: number;
  ratio: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** An SVG of horizontal bars (deliveries/s, min-max whiskers) with a caption line. */
export function barChart(title: string, bars: Bar[], caption: string): string {
  const labelWidth = 430;
  const plotWidth = 520;
  const rowHeight = 26;
  const top = 50;
  const height = top + bars.length * rowHeight + 60;
  const width = labelWidth + plotWidth + 140;
  const scaleMax = Math.max(...bars.map((b) => b.max)) * 1.05;
  const x = (v: number) => labelWidth + (v / scaleMax) * plotWidth;
  const rows = bars.map((b, i) => {
    const y = top + i * rowHeight;
    const mid = y + rowHeight / 2;
    return [
      `<text x="${labelWidth - 8}" y="${mid + 4}" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${x(b.median) - labelWidth}" height="${rowHeight - 8}" fill="${i === 0 ? '#999' : '#3b6fb6'}"/>`,
      `<line x1="${x(b.min)}" x2="${x(b.max)}" y1="${mid}" y2="${mid}" stroke="#222"/>`,
      `<text x="${x(b.max) + 6}" y="${mid + 4}">${Math.round(b.median).toLocaleString('en-US')}/s (${b.ratio.toFixed(2)})</text>`,
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">
<title>${esc(title)}</title>
<rect width="100%" height="100%" fill="white"/>
<text x="12" y="24" font-size="16" font-weight="bold">${esc(title)}</text>
${rows.join('\n')}
<text x="12" y="${height - 24}">${esc(caption)}</text>
</svg>
`;
}

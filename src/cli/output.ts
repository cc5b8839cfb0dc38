/** How the management commands print: plain-text tables and fields for people, JSON for machines. */

/** One column of a {@link table}: its header and how a row fills it. */
export interface Column<T> {
  header: string;
  cell: (row: T) => string;
}

/** Rows under upper-case headers, columns two spaces apart; `none` when there are no rows. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], none: string): string {
  if (rows.length === 0) return `${none}\n`;
  const cells = [
    columns.map((c) => c.header),
    ...rows.map((row) => columns.map((c) => oneLine(c.cell(row)))),
  ];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells
    .map((line) =>
      line
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** `name: value` lines, the values aligned. */
export function fields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(...pairs.map(([name]) => name.length)) + 1;
  return pairs
    .map(([name, value]) => `${`${name}:`.padEnd(width)} ${oneLine(value)}`.trimEnd())
    .join('\n')
    .concat('\n');
}

/** An API time (ISO 8601) to the second, in UTC; `-` for none. */
export function time(iso: string | null | undefined): string {
  if (!iso) return '-';
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}

/** A list of names, or what an empty one means. */
export function list(values: readonly string[] | null | undefined, empty: string): string {
  return values && values.length > 0 ? values.join(',') : empty;
}

/** The paging fields of a list's answer. */
export interface PageOf<T> {
  data: T[];
  iterator: string | null;
  prevIterator?: string | null;
  done: boolean;
}

/**
 * What to add to see the next page, when there is one. A page read towards newer rows (a
 * list with `--after` alone starts at the oldest page after it) goes on with its
 * `prevIterator`, `-` and a key, given with `=` so that it is not read as an option.
 */
export function more(page: PageOf<unknown>, newer = false): string {
  if (page.done) return '';
  if (newer) return page.prevIterator ? `more: add --iterator=${page.prevIterator}\n` : '';
  return page.iterator === null ? '' : `more: add --iterator ${page.iterator}\n`;
}

/** Prints a list route's page: its table and how to see more, or with `--json` the page itself. */
export function showPage<T>(
  options: { json?: boolean },
  page: PageOf<T>,
  columns: readonly Column<T>[],
  none: string,
  newer = false,
): void {
  show(options, page, () => table(page.data, columns, none).concat(more(page, newer)));
}

/** Prints `value` as JSON with `--json`, else what `human` makes of it. */
export function show(options: { json?: boolean }, value: unknown, human: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : human());
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

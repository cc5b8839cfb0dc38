/**
 * The pieces the portal and the dashboard build their pages from, on Pico CSS: a page
 * header, a table, an empty state, a state badge, a labelled form field that shows the
 * API's message beside it, a confirmation dialog, and a loader of API data.
 */
import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.ts';

/** What a load is doing: its data, its error, and a way to load again. */
export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
}

/** Loads `load()` now and whenever `deps` change; the last answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [turn, setTurn] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const mine = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === latest.current && setState({ data, loading: false }),
      (error: Error) => mine === latest.current && setState({ error, loading: false }),
    );
  }, [...deps, turn]);
  const reload = useCallback(() => setTurn((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** A page's title, a line under it, and its actions on the right. */
export function PageHeader(props: {
  title: ComponentChildren;
  sub?: ComponentChildren;
  actions?: ComponentChildren;
}) {
  return (
    <div class="page-header">
      <div>
        <h1>{props.title}</h1>
        {props.sub && <p class="muted">{props.sub}</p>}
      </div>
      {props.actions && <div class="actions">{props.actions}</div>}
    </div>
  );
}

/** What is not there yet, and what to do about it. */
export function EmptyState(props: { icon?: ComponentChildren; title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      {props.icon}
      <p class="empty-title">{props.title}</p>
      {props.children && <div class="muted">{props.children}</div>}
    </div>
  );
}

/** A coloured word for a state. */
export function Badge(props: {
  tone: 'ok' | 'bad' | 'warn' | 'neutral';
  children: ComponentChildren;
  title?: string;
}) {
  return (
    <span class={`badge badge-${props.tone}`} title={props.title}>
      {props.children}
    </span>
  );
}

/** A column of {@link Table}. */
export interface Column<T> {
  label: string;
  cell: (row: T) => ComponentChildren;
  /** `num`: right-aligned figures; `wide`: takes the room left. */
  class?: string;
}

/** A dense table of `rows`; `rowKey` names each row, `onOpen` makes a row a link. */
export function Table<T>(props: {
  caption: string;
  columns: Column<T>[];
  rows: T[];
  rowKey: (row: T) => string;
  rowClass?: (row: T) => string;
}) {
  return (
    <div class="table-wrap">
      <table class="striped">
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th key={c.label} scope="col" class={c.class}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows.map((row) => (
            <tr key={props.rowKey(row)} class={props.rowClass?.(row)}>
              {props.columns.map((c) => (
                <td key={c.label} class={c.class}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A labelled form field; `error` (the API's word on it) shows beside it and marks it invalid. */
export function Field(props: {
  label: string;
  hint?: ComponentChildren;
  error?: string | undefined;
  children: (aria: { id: string; 'aria-invalid'?: 'true'; 'aria-describedby'?: string }) => JSX.Element;
  id: string;
}) {
  const described = [props.hint ? `${props.id}-hint` : '', props.error ? `${props.id}-error` : '']
    .filter(Boolean)
    .join(' ');
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      {props.children({
        id: props.id,
        ...(props.error ? { 'aria-invalid': 'true' as const } : {}),
        ...(described ? { 'aria-describedby': described } : {}),
      })}
      {props.error && (
        <small id={`${props.id}-error`} class="field-error">
          {props.error}
        </small>
      )}
      {props.hint && (
        <small id={`${props.id}-hint`} class="muted">
          {props.hint}
        </small>
      )}
    </div>
  );
}

/** An error that is not a field's: a line above the form or the page. */
export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  return (
    <p role="alert" class="error-note">
      {error instanceof ApiError ? error.message : `Something went wrong: ${error.message}`}
    </p>
  );
}

/**
 * A modal dialog (the browser's own `<dialog>`, which keeps focus inside it and closes on
 * Escape) asking to confirm `title`; `onConfirm` runs on the confirm button.
 */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirm: string;
  danger?: boolean;
  busy?: boolean;
  /** The confirm button is off (there is nothing to do). */
  confirmDisabled?: boolean;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  // Its own id: a page with two dialogs would otherwise label both with the first one's title.
  const titleId = `confirm-title-${useId()}`;
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} onClose={props.onClose} aria-labelledby={titleId}>
      <article>
        <h2 id={titleId}>{props.title}</h2>
        {props.children}
        <footer>
          <button type="button" class="secondary" onClick={props.onClose}>
            Cancel
          </button>
          <button
            type="button"
            class={props.danger ? 'danger' : ''}
            aria-busy={props.busy ? 'true' : undefined}
            disabled={props.confirmDisabled}
            onClick={props.onConfirm}
          >
            {props.confirm}
          </button>
        </footer>
      </article>
    </dialog>
  );
}

/** The loading line of a page or a part. */
export function Loading({ what }: { what: string }) {
  return (
    <p aria-busy="true" class="muted">
      Loading {what}…
    </p>
  );
}

/** Where a keyset-paged list is: the iterator of the page shown, and the way back. */
export interface Pages {
  /** The iterator the page shown starts at; null: the first page. */
  from: string | null;
  /** Shows the page that starts at `iterator`, remembering this one for "Previous". */
  next: (iterator: string) => void;
  /** Shows the page before this one. */
  back: () => void;
  /** Back to the first page (the filters changed). */
  reset: () => void;
  first: boolean;
}

/** The paging state of a list read through the API's `iterator`. */
export function usePages(): Pages {
  const [trail, setTrail] = useState<(string | null)[]>([]);
  const [from, setFrom] = useState<string | null>(null);
  return {
    from,
    first: trail.length === 0,
    next: (iterator) => {
      setTrail([...trail, from]);
      setFrom(iterator);
    },
    back: () => {
      setFrom(trail.at(-1) ?? null);
      setTrail(trail.slice(0, -1));
    },
    reset: () => {
      setTrail([]);
      setFrom(null);
    },
  };
}

/** "Previous" and "Next" under a paged list; `next` is where the next page starts, null at the end. */
export function Pager({ pages, next }: { pages: Pages; next: string | null | undefined }) {
  if (pages.first && !next) return null;
  return (
    <div class="pager">
      {!pages.first && (
        <button type="button" class="secondary outline small" onClick={pages.back}>
          Previous
        </button>
      )}
      {next && (
        <button type="button" class="secondary outline small" onClick={() => pages.next(next)}>
          Next
        </button>
      )}
    </div>
  );
}

/** How times, ids and durations read in the portal and the dashboard. */
import { Check, Copy } from 'lucide-preact';
import { useState } from 'preact/hooks';

const LOCAL = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** `iso` in the reader's local time; the exact UTC time on hover. */
export function Time({ iso }: { iso: string }) {
  const date = new Date(iso);
  return (
    <time
      dateTime={iso}
      title={`${date
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC')}`}
    >
      {LOCAL.format(date)}
    </time>
  );
}

/** `ep_2p3…Xk9`: the prefix and enough of both ends to tell ids apart. */
export function shortId(id: string): string {
  const cut = id.indexOf('_') + 1;
  const rest = id.slice(cut);
  return rest.length <= 10 ? id : `${id.slice(0, cut)}${rest.slice(0, 4)}…${rest.slice(-4)}`;
}

/** Copies `text` to the clipboard; false where the page may not (a frame without clipboard-write). */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** A button that copies `text`, and says so for a moment. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'refused'>('idle');
  const copy = async () => {
    setState((await copyText(text)) ? 'copied' : 'refused');
    setTimeout(() => setState('idle'), 1500);
  };
  return (
    <button
      type="button"
      class="icon-button"
      aria-label={label}
      title={state === 'refused' ? 'The browser refused to copy' : label}
      onClick={copy}
    >
      {state === 'copied' ? <Check size={14} aria-hidden="true" /> : <Copy size={14} aria-hidden="true" />}
      <span class="visually-hidden" aria-live="polite">
        {state === 'copied' ? 'Copied' : state === 'refused' ? 'Could not copy' : ''}
      </span>
    </button>
  );
}

/** An id shortened, whole on hover, with a copy button. */
export function Id({ id }: { id: string }) {
  return (
    <span class="id">
      <code title={id}>{shortId(id)}</code>
      <CopyButton text={id} label={`Copy ${id}`} />
    </span>
  );
}

/** `840 ms`, `2.4 s`. */
export function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/** `an hour ago`, `in 3 days`: for what is near enough that the exact time matters less. */
export function relative(iso: string, now = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const format = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const steps: [Intl.RelativeTimeFormatUnit, number][] = [
    ['second', 60],
    ['minute', 60],
    ['hour', 24],
    ['day', 30],
    ['month', 12],
  ];
  let value = seconds;
  for (const [unit, size] of steps) {
    if (Math.abs(value) < size) return format.format(value, unit);
    value = Math.round(value / size);
  }
  return format.format(value, 'year');
}

/**
 * The overview: what is queued, how late the oldest due delivery is, and how attempts go,
 * from Herald's own `/metrics` (which the admin token may read). Counters count since the
 * server started; the rates per minute are measured by this page between two readings.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorNote, Loading, PageHeader } from '../shared/ui.tsx';
import { storedToken } from './session.ts';

interface Reading {
  at: number;
  pending: number;
  sending: number;
  oldestDue: number;
  succeeded: number;
  failed: number;
  accepted: number;
}

/** The sum of the samples of `name` whose labels contain `match` (Prometheus text format). */
function sum(text: string, name: string, match = ''): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (match && !rest.includes(match)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

async function read(): Promise<Reading> {
  const res = await fetch('/metrics', { headers: { authorization: `Bearer ${storedToken() ?? ''}` } });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  return {
    at: Date.now(),
    pending: sum(text, 'herald_deliveries_queued', 'state="pending"'),
    sending: sum(text, 'herald_deliveries_queued', 'state="sending"'),
    oldestDue: sum(text, 'herald_oldest_due_delivery_age_seconds'),
    succeeded: sum(text, 'herald_attempts_total', 'outcome="succeeded"'),
    failed: sum(text, 'herald_attempts_total', 'outcome="failed"'),
    accepted: sum(text, 'herald_messages_accepted_total'),
  };
}

function age(seconds: number): string {
  if (seconds < 1) return 'none late';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The rate line of a counter: measured from the second reading (5 s after the page opened). */
function rateNote(rate: string | null): string {
  return rate === null ? 'since start · measuring the rate…' : `since start · ${rate} a minute now`;
}

function Stat({ label, value, note }: { label: string; value: string; note?: string }) {
  return (
    <article class="card stat-card">
      <span class="muted">{label}</span>
      <strong>{value}</strong>
      {note && <small class="muted">{note}</small>}
    </article>
  );
}

export function Overview() {
  const [now, setNow] = useState<Reading>();
  const [error, setError] = useState<Error>();
  const first = useRef<Reading>();
  useEffect(() => {
    let stop = false;
    const tick = async () => {
      try {
        const r = await read();
        if (stop) return;
        first.current ??= r;
        setNow(r);
        setError(undefined);
      } catch (e) {
        if (!stop) setError(e as Error);
      }
    };
    tick();
    const timer = setInterval(tick, 5000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, []);
  const start = first.current;
  const minutes = now && start ? (now.at - start.at) / 60_000 : 0;
  const rate = (k: 'accepted' | 'succeeded' | 'failed') =>
    now && start && minutes > 0 ? ((now[k] - start[k]) / minutes).toFixed(1) : null;
  const attempts = now ? now.succeeded + now.failed : 0;
  return (
    <section>
      <PageHeader
        title="Overview"
        sub="From this server's /metrics: queue figures now, attempt counts since the server started, and rates measured while this page is open."
      />
      <ErrorNote error={error} />
      {!now && !error && <Loading what="the figures" />}
      {now && (
        <div class="stat-grid">
          <Stat
            label="Deliveries pending"
            value={now.pending.toLocaleString()}
            note={`${now.sending} sending now`}
          />
          <Stat label="Oldest due delivery waiting" value={age(now.oldestDue)} />
          <Stat
            label="Success rate"
            value={attempts ? `${((now.succeeded / attempts) * 100).toFixed(1)} %` : '—'}
            note={`${now.succeeded.toLocaleString()} of ${attempts.toLocaleString()} attempts since start`}
          />
          <Stat
            label="Messages accepted"
            value={now.accepted.toLocaleString()}
            note={rateNote(rate('accepted'))}
          />
          <Stat
            label="Attempts succeeded"
            value={now.succeeded.toLocaleString()}
            note={rateNote(rate('succeeded'))}
          />
          <Stat label="Attempts failed" value={now.failed.toLocaleString()} note={rateNote(rate('failed'))} />
        </div>
      )}
      <p class="muted">
        See <a href="#/failures">Failures</a> for what is failing, grouped by endpoint and cause.
      </p>
    </section>
  );
}

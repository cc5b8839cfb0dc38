/** The cards of an endpoint's page: its last day, signing secret, custom headers, test tools. */
import { Eye, EyeOff, History, KeyRound, Play, RotateCw } from 'lucide-preact';
import { useEffect, useState } from 'preact/hooks';
import { type Attempt, type BackgroundTask, ok } from '../api.ts';
import { DeliveryChart } from '../chart.tsx';
import { useView } from '../context.ts';
import { CopyButton } from '../format.tsx';
import { ConfirmDialog, ErrorNote, Loading, useLoad } from '../ui.tsx';

const DAY_MS = 86_400_000;
/** Pages of 250 attempts the chart reads at most. */
const CHART_PAGES = 8;

/** Deliveries of the last day in figures, and the chart of success rate and latency. */
export function LastDayCard({ endpointId, class: className }: { endpointId: string; class?: string }) {
  const { api, appId } = useView();
  const since = new Date(Date.now() - DAY_MS).toISOString();
  const path = { app_id: appId, endpoint_id: endpointId };
  const stats = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/endpoint/{endpoint_id}/stats', { params: { path, query: { since } } }),
      ),
    [endpointId],
  );
  // Every attempt of the last day for the chart, newest first, page after page through the
  // iterator (at most CHART_PAGES pages: a busier endpoint's chart says it covers the newest).
  const attempts = useLoad(async () => {
    const all: Attempt[] = [];
    let iterator: string | undefined;
    for (let page = 0; page < CHART_PAGES; page++) {
      const got = await ok(
        api.GET('/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}', {
          params: { path, query: { limit: '250', with_content: 'false', ...(iterator ? { iterator } : {}) } },
        }),
      );
      const recent = got.data.filter((a) => a.timestamp >= since);
      all.push(...recent);
      if (got.done || !got.iterator || recent.length < got.data.length) return { data: all, whole: true };
      iterator = got.iterator;
    }
    return { data: all, whole: false };
  }, [endpointId]);
  const s = stats.data;
  const done = s ? s.success + s.fail : 0;
  return (
    <article class={`card ${className ?? ''}`}>
      <h2>Last 24 hours</h2>
      <ErrorNote error={stats.error ?? attempts.error} />
      <div class="last-day">
        {s && (
          <div class="stats">
            <div class="stat">
              <strong>{done ? `${Math.round((s.success / done) * 1000) / 10}%` : '—'}</strong>
              <span>of messages delivered</span>
            </div>
            <div class="stat">
              <strong>{s.success}</strong>
              <span>delivered</span>
            </div>
            <div class="stat">
              <strong>{s.fail}</strong>
              <span>failed for good</span>
            </div>
            <div class="stat">
              <strong>{s.pending + s.sending}</strong>
              <span>waiting or retrying</span>
            </div>
          </div>
        )}
        <div>
          {attempts.data && <DeliveryChart attempts={attempts.data.data} />}
          {!attempts.data && !attempts.error && <Loading what="the chart" />}
          <p class="chart-note muted">
            <small>
              The figures count messages by how they ended; the chart counts every attempt, retries included
              {attempts.data && !attempts.data.whole
                ? ` (the newest ${attempts.data.data.length.toLocaleString()} attempts of the day)`
                : ''}
              .
            </small>
          </p>
        </div>
      </div>
    </article>
  );
}

/** The signing secret: hidden until revealed, copy, rotate with a grace period. */
export function SecretCard({ endpointId }: { endpointId: string }) {
  const { api, appId, can } = useView();
  const path = { app_id: appId, endpoint_id: endpointId };
  const [secret, setSecret] = useState<string | null>(null);
  const [shown, setShown] = useState(false);
  const [error, setError] = useState<Error>();
  const [rotating, setRotating] = useState(false);
  const [busy, setBusy] = useState(false);
  const [grace, setGrace] = useState('24');
  const [rotated, setRotated] = useState(false);
  const load = async () => {
    const { key } = await ok(
      api.GET('/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret', { params: { path } }),
    );
    setSecret(key);
    return key;
  };
  const reveal = async () => {
    setError(undefined);
    try {
      if (!shown && secret === null) await load();
      setShown(!shown);
    } catch (e) {
      setError(e as Error);
    }
  };
  const rotate = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await ok(
        api.POST('/api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate', {
          params: { path },
          body: { gracePeriodSeconds: Math.round(Number(grace) * 3600) },
        }),
      );
      // The new secret is fetched before anything says "rotated", so the page never shows the old one as new.
      await load();
      setRotating(false);
      setShown(true);
      setRotated(true);
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  if (!can.viewSecret) return null;
  return (
    <article class="card">
      <h2>
        <span class="with-icon">
          <KeyRound size={16} aria-hidden="true" /> Signing secret
        </span>
      </h2>
      <p class="muted">
        Every delivery is signed with this secret (the <code class="plain">webhook-signature</code> header).
        Verify it on your server to know the request came from us.
      </p>
      <div class="secret">
        <code class="plain">{shown && secret ? secret : 'whsec_••••••••••••••••••••••••••••••••'}</code>
        <button
          type="button"
          class="icon-button"
          aria-label={shown ? 'Hide secret' : 'Reveal secret'}
          onClick={reveal}
        >
          {shown ? <EyeOff size={16} aria-hidden="true" /> : <Eye size={16} aria-hidden="true" />}
        </button>
        {shown && secret && <CopyButton text={secret} label="Copy secret" />}
      </div>
      {rotated && (
        <p role="status" class="muted">
          Rotated. The previous secret keeps signing too until its grace period ends.
        </p>
      )}
      <ErrorNote error={error} />
      {can.rotateSecret && (
        <button type="button" class="small secondary outline with-icon" onClick={() => setRotating(true)}>
          <RotateCw size={14} aria-hidden="true" /> Rotate secret
        </button>
      )}
      <ConfirmDialog
        open={rotating}
        title="Rotate the signing secret?"
        confirm="Rotate secret"
        busy={busy}
        onConfirm={rotate}
        onClose={() => setRotating(false)}
      >
        <p>
          A new secret is made at once. During the grace period every delivery carries two signatures, one
          with the old secret and one with the new, so your server keeps accepting deliveries while you switch
          it over. After the grace period only the new secret signs.
        </p>
        <label for="grace">Grace period (hours, 0 to 168)</label>
        <input
          id="grace"
          type="number"
          min={0}
          max={168}
          value={grace}
          onInput={(e) => setGrace(e.currentTarget.value)}
        />
      </ConfirmDialog>
    </article>
  );
}

/** The custom headers sent with every delivery, values masked until shown. */
export function HeadersCard({ endpointId }: { endpointId: string }) {
  const { api, appId } = useView();
  const [shown, setShown] = useState(false);
  const headers = useLoad(
    () =>
      ok(
        api.GET('/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers', {
          params: { path: { app_id: appId, endpoint_id: endpointId } },
        }),
      ),
    [endpointId],
  );
  const h = headers.data;
  const names = h ? [...Object.keys(h.headers), ...h.sensitive.filter((n) => !(n in h.headers))] : [];
  return (
    <article class="card">
      <h2>
        Custom headers
        {h && Object.keys(h.headers).length > 0 && (
          <button
            type="button"
            class="icon-button"
            aria-label={shown ? 'Hide header values' : 'Show header values'}
            onClick={() => setShown(!shown)}
          >
            {shown ? <EyeOff size={16} aria-hidden="true" /> : <Eye size={16} aria-hidden="true" />}
          </button>
        )}
      </h2>
      <ErrorNote error={headers.error} />
      {h && names.length === 0 && (
        <p class="muted">No custom headers: deliveries carry only the standard ones.</p>
      )}
      {h && names.length > 0 && (
        <dl class="kv">
          {names.map((n) => (
            <>
              <dt key={`${n}-name`}>
                <code class="plain">{n}</code>
              </dt>
              <dd key={`${n}-value`}>
                {n in h.headers ? (
                  <code class="plain">{shown ? h.headers[n] : '••••••••'}</code>
                ) : (
                  <span class="muted">sensitive, never shown</span>
                )}
              </dd>
            </>
          ))}
        </dl>
      )}
    </article>
  );
}

/** Words of a background task's progress. */
function taskWords(task: BackgroundTask): string {
  const n = Number(task.data.deliveries ?? 0);
  const count = `${n} ${n === 1 ? 'message' : 'messages'}`;
  if (task.status === 'running') return `Recovering… ${count} queued again so far.`;
  if (task.status === 'failed') return `The recovery failed: ${String(task.data.error ?? 'unknown error')}`;
  return n === 0
    ? 'Done: there were no failed messages in that time.'
    : `Done: ${count} queued to be sent again.`;
}

/** `datetime-local`'s value for `ms` in local time. */
function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** Send an example event; recover failed messages since a time. */
export function ToolsCard({
  endpointId,
  eventTypes,
  onSent,
}: {
  endpointId: string;
  eventTypes: string[];
  onSent: () => void;
}) {
  const { api, appId, can } = useView();
  const path = { app_id: appId, endpoint_id: endpointId };
  const [eventType, setEventType] = useState(eventTypes[0] ?? '');
  const [sent, setSent] = useState<string>();
  const [since, setSince] = useState(localInput(Date.now() - DAY_MS));
  const [task, setTask] = useState<BackgroundTask>();
  const [error, setError] = useState<Error>();
  useEffect(() => {
    if (!eventType && eventTypes[0]) setEventType(eventTypes[0]);
  }, [eventTypes, eventType]);
  // Follows a running task until it ends.
  useEffect(() => {
    if (task?.status !== 'running') return;
    const timer = setTimeout(async () => {
      try {
        const next = await ok(
          api.GET('/api/v1/background-task/{task_id}', { params: { path: { task_id: task.id } } }),
        );
        setTask(next);
        if (next.status !== 'running') onSent();
      } catch (e) {
        setError(e as Error);
      }
    }, 700);
    return () => clearTimeout(timer);
  }, [task, api, onSent]);
  if (!can.send) return null;
  const sendExample = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      const msg = await ok(
        api.POST('/api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example', {
          params: { path },
          body: { eventType },
        }),
      );
      setSent(`Sent an example ${eventType} (${msg.id}).`);
      onSent();
    } catch (err) {
      setError(err as Error);
    }
  };
  const recover = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      const started = await ok(
        api.POST('/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover', {
          params: { path },
          body: { since: new Date(since).toISOString() },
        }),
      );
      setTask({ ...started, data: {} });
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <article class="card">
      <h2>Testing and recovery</h2>
      <form class="inline-form" onSubmit={sendExample}>
        <div>
          <label for="example-type">Send example event</label>
          <select
            id="example-type"
            value={eventType}
            onChange={(e) => setEventType(e.currentTarget.value)}
            disabled={!eventTypes.length}
          >
            {eventTypes.length === 0 && <option value="">No event types defined</option>}
            {eventTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="small with-icon" disabled={!eventType}>
          <Play size={14} aria-hidden="true" /> Send example
        </button>
      </form>
      {sent && (
        <p role="status" class="muted">
          {sent}
        </p>
      )}
      <hr />
      <form class="inline-form" onSubmit={recover}>
        <div>
          <label for="recover-since">Recover failed messages since</label>
          <input
            id="recover-since"
            type="datetime-local"
            value={since}
            onInput={(e) => setSince(e.currentTarget.value)}
            required
          />
        </div>
        <button type="submit" class="small secondary outline with-icon" disabled={task?.status === 'running'}>
          <History size={14} aria-hidden="true" /> Recover
        </button>
      </form>
      <p class="muted">
        <small>
          Sends again every message to this endpoint that failed since then (at most 14 days ago).
        </small>
      </p>
      {task && (
        <p role="status" aria-busy={task.status === 'running' ? 'true' : undefined}>
          {taskWords(task)}
        </p>
      )}
      <ErrorNote error={error} />
    </article>
  );
}

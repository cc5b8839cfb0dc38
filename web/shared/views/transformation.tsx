/**
 * An endpoint's transformation: JavaScript that changes each webhook before it is sent
 * (payload, URL, method, headers, or cancel). Edit it, try it on a payload
 * (`POST …/transformation/test`, nothing is sent), then turn it on. The API refuses code that
 * does not load with 422 and the line; that shows beside the code.
 */
import { Code, FlaskConical } from 'lucide-preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, ok } from '../api.ts';
import { useView } from '../context.ts';
import { Time } from '../format.tsx';
import { Badge, ErrorNote, Field, useLoad } from '../ui.tsx';

const STARTER = `function handler(webhook) {
  // webhook: { eventType, payload, url, method, headers, cancel }
  webhook.payload = { ...webhook.payload, receivedVia: 'herald' };
  return webhook;
}
`;

/** What the API answered to a test run. */
interface TestResult {
  ok: boolean;
  webhook: {
    payload?: unknown;
    url: string;
    method: string;
    headers: Record<string, string>;
    cancel: boolean;
  } | null;
  error: string | null;
  line: number | null;
}

export function TransformationCard({ endpointId, eventTypes }: { endpointId: string; eventTypes: string[] }) {
  const { api, appId, can } = useView();
  const path = { app_id: appId, endpoint_id: endpointId };
  const saved = useLoad(
    () => ok(api.GET('/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation', { params: { path } })),
    [endpointId],
  );
  const [code, setCode] = useState('');
  const [enabled, setEnabled] = useState(false);
  const [payload, setPayload] = useState('{\n  "id": "ord_1",\n  "total": 42\n}');
  const [eventType, setEventType] = useState(eventTypes[0] ?? '');
  const [busy, setBusy] = useState<'save' | 'test' | null>(null);
  const [error, setError] = useState<Error>();
  const [payloadError, setPayloadError] = useState<string>();
  const [result, setResult] = useState<TestResult>();
  const [savedNote, setSavedNote] = useState(false);
  // Closed, its controls are not rendered (not only hidden), so Tab never lands in them.
  const [expanded, setExpanded] = useState(false);
  useEffect(() => {
    if (!saved.data) return;
    setCode(saved.data.code ?? STARTER);
    setEnabled(saved.data.enabled);
  }, [saved.data]);
  useEffect(() => {
    if (!eventType && eventTypes[0]) setEventType(eventTypes[0]);
  }, [eventTypes, eventType]);

  const codeError = error instanceof ApiError ? (error.fields.code ?? error.fields.enabled) : undefined;
  const save = async (event: Event) => {
    event.preventDefault();
    setBusy('save');
    setError(undefined);
    setSavedNote(false);
    try {
      await ok(
        api.PATCH('/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation', {
          params: { path },
          body: { code: code.trim() ? code : null, enabled: code.trim() ? enabled : false },
        }),
      );
      setSavedNote(true);
      saved.reload();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(null);
    }
  };
  const test = async () => {
    setPayloadError(undefined);
    setResult(undefined);
    setError(undefined);
    let value: unknown;
    try {
      value = JSON.parse(payload);
    } catch (e) {
      setPayloadError(`Not JSON: ${(e as Error).message}`);
      return;
    }
    setBusy('test');
    try {
      setResult(
        (await ok(
          api.POST('/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation/test', {
            params: { path },
            body: { code, payload: value, ...(eventType ? { eventType } : {}) },
          }),
        )) as TestResult,
      );
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(null);
    }
  };

  const t = saved.data;
  return (
    <details
      class="card transformation"
      open={expanded}
      onToggle={(e) => setExpanded((e.currentTarget as HTMLDetailsElement).open)}
    >
      <summary>
        <span class="with-icon">
          <Code size={16} aria-hidden="true" /> Transformation
        </span>{' '}
        {t && (t.enabled ? <Badge tone="ok">On</Badge> : <Badge tone="neutral">Off</Badge>)}
        {t?.updatedAt && (
          <small class="muted">
            {' '}
            · changed <Time iso={t.updatedAt} />
          </small>
        )}
      </summary>
      {expanded && (
        <>
          <p class="muted">
            JavaScript that changes each webhook before Herald delivers it to this endpoint: its payload, URL,
            method (POST or PUT) or headers, or <code class="plain">cancel</code> to send nothing. Try it on a
            payload below before you turn it on.
          </p>
          <ErrorNote error={saved.error ?? (codeError ? undefined : error)} />
          <form onSubmit={save} noValidate>
            <Field
              id="tf-code"
              label="Code"
              error={codeError}
              hint="It must define function handler(webhook)."
            >
              {(aria) => (
                <textarea
                  {...aria}
                  class="mono"
                  rows={8}
                  spellcheck={false}
                  readOnly={!can.manageEndpoints}
                  value={code}
                  onInput={(e) => setCode(e.currentTarget.value)}
                />
              )}
            </Field>
            {can.manageEndpoints && (
              <div class="actions">
                <label class="inline-check">
                  <input
                    type="checkbox"
                    checked={enabled}
                    onChange={(e) => setEnabled(e.currentTarget.checked)}
                  />
                  Run it on every delivery
                </label>
                <button
                  type="submit"
                  class="small"
                  disabled={busy !== null}
                  aria-busy={busy === 'save' ? 'true' : undefined}
                >
                  Save transformation
                </button>
                {savedNote && (
                  <span role="status" class="muted">
                    Saved.
                  </span>
                )}
              </div>
            )}
          </form>
          {can.manageEndpoints && <hr />}
          <div class="two-cols" hidden={!can.manageEndpoints}>
            <Field id="tf-payload" label="Test payload (JSON)" error={payloadError}>
              {(aria) => (
                <textarea
                  {...aria}
                  class="mono"
                  rows={5}
                  spellcheck={false}
                  value={payload}
                  onInput={(e) => setPayload(e.currentTarget.value)}
                />
              )}
            </Field>
            <div>
              <label for="tf-event">Event type</label>
              <select id="tf-event" value={eventType} onChange={(e) => setEventType(e.currentTarget.value)}>
                {eventTypes.length === 0 && <option value="">test</option>}
                {eventTypes.map((n) => (
                  <option key={n} value={n}>
                    {n}
                  </option>
                ))}
              </select>
              <button
                type="button"
                class="small secondary outline with-icon"
                onClick={test}
                disabled={busy !== null || !code.trim()}
                aria-busy={busy === 'test' ? 'true' : undefined}
              >
                <FlaskConical size={14} aria-hidden="true" /> Test transformation
              </button>
              <p class="muted">
                <small>Runs the code above on this payload; nothing is sent.</small>
              </p>
            </div>
          </div>
          {result && (
            <div role="status" class="transform-result">
              {result.ok && result.webhook ? (
                <>
                  <strong>
                    {result.webhook.cancel
                      ? 'Cancelled: this webhook would not be sent.'
                      : `Would send ${result.webhook.method} ${result.webhook.url}`}
                  </strong>
                  <pre class="json">{JSON.stringify(result.webhook.payload, null, 2)}</pre>
                </>
              ) : (
                <p class="field-error">
                  {result.error}
                  {result.line !== null ? ` (line ${result.line})` : ''}
                </p>
              )}
            </div>
          )}
        </>
      )}
    </details>
  );
}

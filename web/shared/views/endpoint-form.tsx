/**
 * Adding or editing an endpoint: URL, description, event types chosen from the catalog (none:
 * all), channels, rate limit, custom headers (values masked), payload filter. What the API
 * refuses shows beside the field it names.
 */
import { Eye, EyeOff, Plus, X } from 'lucide-preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Endpoint, type EndpointIn, ok } from '../api.ts';
import { useView } from '../context.ts';
import { ErrorNote, Field, Loading, PageHeader, useLoad } from '../ui.tsx';

/** The API's names of a field, to the form's. */
const FIELD_OF: Record<string, string> = { filterTypes: 'eventTypes', eventTypes: 'eventTypes' };

/** One row of the headers editor; `hidden`: a sensitive header kept, whose value the API never shows. */
interface HeaderRow {
  key: number;
  name: string;
  value: string;
  hidden: boolean;
}

let rowKeys = 0;

/** What a 422 says about `field` or anything under it (`filter.payload.x: …`), the API's own words. */
function wordsAbout(error: Error | undefined, field: string): string | undefined {
  if (!(error instanceof ApiError) || error.status !== 422) return undefined;
  const words = error.message
    .split('; ')
    .filter((w) => w === field || w.startsWith(`${field}:`) || w.startsWith(`${field}.`));
  return words.length ? words.join('; ') : undefined;
}

export function EndpointForm({ endpoint }: { endpoint?: Endpoint }) {
  const { api, appId, link, go } = useView();
  const catalog = useLoad(
    () => ok(api.GET('/api/v1/event-type', { params: { query: { limit: '250' } } })),
    [],
  );
  const [url, setUrl] = useState(endpoint?.url ?? '');
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [types, setTypes] = useState<string[]>(endpoint?.filterTypes ?? []);
  const [channels, setChannels] = useState((endpoint?.channels ?? []).join(', '));
  const [rateLimit, setRateLimit] = useState(endpoint?.rateLimit?.toString() ?? '');
  const [filter, setFilter] = useState(endpoint?.filter ? JSON.stringify(endpoint.filter, null, 2) : '');
  const [filterError, setFilterError] = useState<string>();
  const [rows, setRows] = useState<HeaderRow[]>([]);
  const [valuesShown, setValuesShown] = useState(false);
  // The headers an edit starts from, to send only what changed.
  const saved = useLoad(
    () =>
      endpoint
        ? ok(
            api.GET('/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers', {
              params: { path: { app_id: appId, endpoint_id: endpoint.id } },
            }),
          )
        : Promise.resolve({ headers: {} as Record<string, string>, sensitive: [] as string[] }),
    [endpoint?.id],
  );
  useEffect(() => {
    const h = saved.data;
    if (!h) return;
    setRows([
      ...Object.entries(h.headers).map(([name, value]) => ({
        key: rowKeys++,
        name,
        value: String(value),
        hidden: false,
      })),
      ...h.sensitive
        .filter((n) => !(n in h.headers))
        .map((name) => ({ key: rowKeys++, name, value: '', hidden: true })),
    ]);
  }, [saved.data]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const fields: Record<string, string> = {};
  if (error instanceof ApiError)
    for (const [name, msg] of Object.entries(error.fields)) fields[FIELD_OF[name] ?? name] = msg;

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setFilterError(undefined);
    let filterValue: Record<string, unknown> | null = null;
    if (filter.trim()) {
      try {
        filterValue = JSON.parse(filter);
      } catch (e) {
        setFilterError(`Not JSON: ${(e as Error).message}`);
        return;
      }
    }
    // Headers: a named row with a value is set; a kept sensitive one with no new value stays.
    const headers: Record<string, string> = {};
    for (const r of rows)
      if (r.name.trim() && !(r.hidden && r.value === '')) headers[r.name.trim()] = r.value;
    setBusy(true);
    const channelList = channels
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean);
    const body: EndpointIn = {
      url: url.trim(),
      description,
      filterTypes: types.length ? types : null,
      channels: channelList.length ? channelList : null,
      rateLimit: rateLimit.trim() === '' ? null : Number(rateLimit),
      filter: filterValue,
    };
    try {
      let savedId: string;
      if (endpoint) {
        const path = { app_id: appId, endpoint_id: endpoint.id };
        await ok(api.PATCH('/api/v1/app/{app_id}/endpoint/{endpoint_id}', { params: { path }, body }));
        // What changed of the headers: new or changed values, and null for the rows removed.
        const before: { headers: Record<string, unknown>; sensitive: string[] } = saved.data ?? {
          headers: {},
          sensitive: [],
        };
        const patch: Record<string, string | null> = {};
        for (const [name, value] of Object.entries(headers))
          if (before.headers[name] !== value) patch[name] = value;
        const kept = new Set(rows.filter((r) => r.name.trim()).map((r) => r.name.trim().toLowerCase()));
        for (const name of [...Object.keys(before.headers), ...before.sensitive])
          if (!kept.has(name.toLowerCase())) patch[name] = null;
        if (Object.keys(patch).length)
          await ok(
            api.PATCH('/api/v1/app/{app_id}/endpoint/{endpoint_id}/headers', {
              params: { path },
              body: { headers: patch },
            }),
          );
        savedId = endpoint.id;
      } else {
        const created = await ok(
          api.POST('/api/v1/app/{app_id}/endpoint', {
            params: { path: { app_id: appId } },
            body: { ...body, ...(Object.keys(headers).length ? { headers } : {}) },
          }),
        );
        savedId = created.id;
      }
      go(`/endpoints/${savedId}`);
    } catch (e) {
      setError(e as Error);
      setBusy(false);
    }
  };

  const toggle = (name: string, on: boolean) =>
    setTypes((t) => (on ? [...t, name] : t.filter((n) => n !== name)));
  const eventTypes = catalog.data?.data.filter((t) => !t.archived) ?? [];
  // An error no field of the form shows goes above it.
  const placed = ['url', 'description', 'eventTypes', 'channels', 'rateLimit', 'throttleRate'];
  const filterWords = filterError ?? wordsAbout(error, 'filter');
  const headerWords = wordsAbout(error, 'headers');
  const unplaced =
    error && !filterWords && !headerWords && !Object.keys(fields).some((f) => placed.includes(f))
      ? error
      : undefined;
  const setRow = (key: number, change: Partial<HeaderRow>) =>
    setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...change } : r)));

  return (
    <section>
      <PageHeader
        title={endpoint ? 'Edit endpoint' : 'Add endpoint'}
        sub={
          endpoint
            ? endpoint.url
            : 'Herald will POST each event to this URL as JSON, signed, and retry when your server does not answer 2xx.'
        }
      />
      <form class="endpoint-form" onSubmit={submit} noValidate>
        <ErrorNote error={unplaced} />
        <Field
          id="ep-url"
          label="Endpoint URL"
          error={fields.url}
          hint="An https:// URL your server answers at."
        >
          {(aria) => (
            <input
              {...aria}
              type="url"
              name="url"
              required
              placeholder="https://example.com/webhooks"
              value={url}
              onInput={(e) => setUrl(e.currentTarget.value)}
            />
          )}
        </Field>
        <Field
          id="ep-description"
          label="Description"
          error={fields.description}
          hint="Optional: what this endpoint is for."
        >
          {(aria) => (
            <input
              {...aria}
              type="text"
              name="description"
              value={description}
              onInput={(e) => setDescription(e.currentTarget.value)}
            />
          )}
        </Field>
        <fieldset class="event-types" aria-describedby="ep-types-hint">
          <legend>Event types</legend>
          {catalog.loading && <Loading what="event types" />}
          {!catalog.loading && eventTypes.length === 0 && (
            <p class="muted">No event types are defined yet: this endpoint will receive every event.</p>
          )}
          {eventTypes.map((t) => (
            <label key={t.name}>
              <input
                type="checkbox"
                name="eventTypes"
                value={t.name}
                checked={types.includes(t.name)}
                onChange={(e) => toggle(t.name, e.currentTarget.checked)}
              />
              <code class="plain">{t.name}</code>
              {t.description && <small>{t.description}</small>}
            </label>
          ))}
        </fieldset>
        <p>
          <small id="ep-types-hint" class={fields.eventTypes ? 'field-error' : 'muted'}>
            {fields.eventTypes ??
              'None chosen: the endpoint receives every event type, including ones added later.'}
          </small>
        </p>
        <div class="two-cols">
          <Field
            id="ep-channels"
            label="Channels"
            error={fields.channels}
            hint="Optional, comma-separated: only messages sent to one of these channels."
          >
            {(aria) => (
              <input
                {...aria}
                type="text"
                name="channels"
                value={channels}
                onInput={(e) => setChannels(e.currentTarget.value)}
              />
            )}
          </Field>
          <Field
            id="ep-rate"
            label="Rate limit (requests per second)"
            error={fields.rateLimit ?? fields.throttleRate}
            hint="Optional: leave empty for no limit."
          >
            {(aria) => (
              <input
                {...aria}
                type="number"
                name="rateLimit"
                min={1}
                inputMode="numeric"
                value={rateLimit}
                onInput={(e) => setRateLimit(e.currentTarget.value)}
              />
            )}
          </Field>
        </div>
        <fieldset class="headers-editor" aria-describedby="ep-headers-hint">
          <legend>
            Custom headers
            {rows.some((r) => !r.hidden && r.value) && (
              <button
                type="button"
                class="icon-button"
                aria-label={valuesShown ? 'Hide header values' : 'Show header values'}
                onClick={() => setValuesShown(!valuesShown)}
              >
                {valuesShown ? <EyeOff size={16} aria-hidden="true" /> : <Eye size={16} aria-hidden="true" />}
              </button>
            )}
          </legend>
          {rows.map((r, i) => (
            <div class="header-row" key={r.key}>
              <input
                type="text"
                aria-label={`Header ${i + 1} name`}
                placeholder="X-Header-Name"
                value={r.name}
                readOnly={r.hidden}
                onInput={(e) => setRow(r.key, { name: e.currentTarget.value })}
              />
              <input
                type={valuesShown && !r.hidden ? 'text' : 'password'}
                aria-label={`Header ${i + 1} value`}
                autoComplete="off"
                placeholder={r.hidden ? 'Sensitive: kept unless you type a new value' : 'Value'}
                value={r.value}
                onInput={(e) => setRow(r.key, { value: e.currentTarget.value })}
              />
              <button
                type="button"
                class="icon-button"
                aria-label={`Remove header ${r.name || i + 1}`}
                onClick={() => setRows((rs) => rs.filter((x) => x.key !== r.key))}
              >
                <X size={16} aria-hidden="true" />
              </button>
            </div>
          ))}
          <button
            type="button"
            class="small secondary outline with-icon"
            onClick={() => setRows((rs) => [...rs, { key: rowKeys++, name: '', value: '', hidden: false }])}
          >
            <Plus size={14} aria-hidden="true" /> Add header
          </button>
          <small id="ep-headers-hint" class={headerWords ? 'field-error' : 'muted'}>
            {headerWords ?? 'Optional: sent with every delivery, e.g. an Authorization your server checks.'}
          </small>
        </fieldset>
        <Field
          id="ep-filter"
          label="Payload filter"
          error={filterWords}
          hint={
            <>
              Optional JSON: only messages that match are sent, e.g.{' '}
              <code class="plain">{'{"payload.amount": {"$gt": 100}}'}</code>. Fields: payload, eventType,
              channels, tags.
            </>
          }
        >
          {(aria) => (
            <textarea
              {...aria}
              name="filter"
              rows={3}
              spellcheck={false}
              class="mono"
              value={filter}
              onInput={(e) => setFilter(e.currentTarget.value)}
            />
          )}
        </Field>
        <div class="actions">
          <button type="submit" aria-busy={busy ? 'true' : undefined} disabled={busy}>
            {endpoint ? 'Save changes' : 'Add endpoint'}
          </button>
          <a href={link(endpoint ? `/endpoints/${endpoint.id}` : '/endpoints')} class="btn secondary outline">
            Cancel
          </a>
        </div>
      </form>
    </section>
  );
}

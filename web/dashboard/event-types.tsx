/**
 * Event types: the catalog every application's endpoints subscribe from. Create and edit one
 * with its JSON Schema and an example (schema version 1, the example in its `examples`),
 * archive it (it stays on old messages; new endpoints no longer see it) and bring it back.
 */
import { BookOpen, Plus } from 'lucide-preact';
import { useState } from 'preact/hooks';
import { ApiError, type EventType, ok } from '../shared/api.ts';
import { Time } from '../shared/format.tsx';
import {
  Badge,
  ConfirmDialog,
  EmptyState,
  ErrorNote,
  Field,
  Loading,
  PageHeader,
  Table,
  useLoad,
} from '../shared/ui.tsx';
import { useDash } from './session.ts';

interface Draft {
  name: string;
  description: string;
  schema: string;
  example: string;
}

function draftOf(t: EventType | null): Draft {
  const v1 = (t?.schemas?.['1'] ?? null) as (Record<string, unknown> & { examples?: unknown[] }) | null;
  const { examples, ...schema } = v1 ?? {};
  return {
    name: t?.name ?? '',
    description: t?.description ?? '',
    schema: v1 ? JSON.stringify(schema, null, 2) : '{\n  "type": "object"\n}',
    example: examples?.[0] !== undefined ? JSON.stringify(examples[0], null, 2) : '{}',
  };
}

/** The JSON of a text field, or the words of why it is not JSON. */
function parse(text: string): { value?: unknown; error?: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: `Not JSON: ${(e as Error).message}` };
  }
}

function EventTypeForm({ editing, onDone }: { editing: EventType | null; onDone: () => void }) {
  const { api } = useDash();
  const [draft, setDraft] = useState<Draft>(draftOf(editing));
  const [fields, setFields] = useState<Record<string, string>>({});
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const set = (k: keyof Draft) => (e: Event) =>
    setDraft({ ...draft, [k]: (e.target as HTMLInputElement | HTMLTextAreaElement).value });
  const save = async (e: Event) => {
    e.preventDefault();
    const schema = parse(draft.schema);
    const example = parse(draft.example);
    const local: Record<string, string> = {};
    if (schema.error) local.schema = schema.error;
    else if (typeof schema.value !== 'object' || schema.value === null || Array.isArray(schema.value))
      local.schema = 'A JSON Schema is an object';
    if (example.error) local.example = example.error;
    else if (typeof example.value !== 'object' || example.value === null || Array.isArray(example.value))
      local.example = 'An example payload is a JSON object';
    setFields(local);
    setError(undefined);
    if (Object.keys(local).length) return;
    // Versions other than 1 (an import from OpenAPI can make them) are kept as they are.
    const schemas = {
      ...(editing?.schemas ?? {}),
      '1': { ...(schema.value as object), examples: [example.value as Record<string, unknown>] },
    };
    setBusy(true);
    try {
      if (editing)
        await ok(
          api.PATCH('/api/v1/event-type/{event_type_name}', {
            params: { path: { event_type_name: editing.name } },
            body: { description: draft.description, schemas },
          }),
        );
      else
        await ok(
          api.POST('/api/v1/event-type', {
            body: { name: draft.name, description: draft.description, schemas },
          }),
        );
      onDone();
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fields).length) {
        const f = { ...err.fields };
        // The API names a refused schema by its version (`schemas.1`, `schemas.1.$schema`) and a
        // refused example by its place (`schemas.1.examples.0`): show each beside its box.
        for (const [k, words] of Object.entries(err.fields)) {
          if (k === 'schemas' || k === '1' || k === '$schema') f.schema = words;
          if (k === 'examples' || k === '0') f.example = words;
        }
        setFields(f);
      }
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      onSubmit={save}
      class="card event-type-form"
      aria-label={editing ? `Edit ${editing.name}` : 'New event type'}
    >
      <h2>{editing ? `Edit ${editing.name}` : 'New event type'}</h2>
      <ErrorNote error={error} />
      {!editing && (
        <Field
          id="et-name"
          label="Name"
          hint="Letters, digits, dots, dashes and underscores: order.created"
          error={fields.name}
        >
          {(aria) => <input {...aria} required value={draft.name} onInput={set('name')} />}
        </Field>
      )}
      <Field id="et-description" label="Description" error={fields.description}>
        {(aria) => <input {...aria} required value={draft.description} onInput={set('description')} />}
      </Field>
      <div class="grid-2">
        <Field id="et-schema" label="JSON Schema" error={fields.schema}>
          {(aria) => (
            <textarea {...aria} rows={12} class="code" value={draft.schema} onInput={set('schema')} />
          )}
        </Field>
        <Field id="et-example" label="Example payload" error={fields.example}>
          {(aria) => (
            <textarea {...aria} rows={12} class="code" value={draft.example} onInput={set('example')} />
          )}
        </Field>
      </div>
      <div class="actions">
        <button type="button" class="secondary" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" aria-busy={busy ? 'true' : undefined}>
          {editing ? 'Save' : 'Create event type'}
        </button>
      </div>
    </form>
  );
}

export function EventTypes() {
  const { api } = useDash();
  const list = useLoad(
    () =>
      ok(
        api.GET('/api/v1/event-type', {
          params: { query: { limit: '250', include_archived: 'true', with_content: 'true' } },
        }),
      ),
    [],
  );
  const [form, setForm] = useState<{ editing: EventType | null } | null>(null);
  const [archive, setArchive] = useState<EventType | null>(null);
  const [error, setError] = useState<Error>();
  const toggle = async (t: EventType, archived: boolean) => {
    setError(undefined);
    try {
      await ok(
        api.PATCH('/api/v1/event-type/{event_type_name}', {
          params: { path: { event_type_name: t.name } },
          body: { archived },
        }),
      );
      setArchive(null);
      list.reload();
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <section>
      <PageHeader
        title="Event types"
        sub="What your product sends, with the schema and example each application's endpoints see in their catalog."
        actions={
          !form && (
            <button type="button" class="with-icon" onClick={() => setForm({ editing: null })}>
              <Plus size={15} aria-hidden="true" /> New event type
            </button>
          )
        }
      />
      {form && (
        <EventTypeForm
          key={form.editing?.name ?? 'new'}
          editing={form.editing}
          onDone={() => {
            setForm(null);
            list.reload();
          }}
        />
      )}
      <ErrorNote error={list.error ?? error} />
      {list.loading && !list.data && <Loading what="event types" />}
      {list.data && list.data.data.length === 0 && !form && (
        <EmptyState icon={<BookOpen size={32} aria-hidden="true" />} title="No event types yet">
          <p>Create the first one: endpoints choose what they get from these.</p>
        </EmptyState>
      )}
      {list.data && list.data.data.length > 0 && (
        <Table
          caption="Event types"
          rows={list.data.data}
          rowKey={(t) => t.name}
          rowClass={(t) => (t.archived ? 'archived' : '')}
          columns={[
            {
              label: 'Event type',
              class: 'wide',
              cell: (t) => (
                <>
                  <code class="plain">{t.name}</code> {t.archived && <Badge tone="neutral">Archived</Badge>}
                  <span class="sub">{t.description}</span>
                </>
              ),
            },
            {
              label: 'Schema',
              class: 'nowrap',
              cell: (t) => (t.schemas?.['1'] ? 'Version 1' : <span class="muted">None</span>),
            },
            { label: 'Updated', class: 'nowrap', cell: (t) => <Time iso={t.updatedAt} /> },
            {
              label: 'Actions',
              cell: (t) => (
                <div class="row-actions">
                  <button
                    type="button"
                    class="small secondary outline"
                    aria-label={`Edit ${t.name}`}
                    onClick={() => setForm({ editing: t })}
                  >
                    Edit
                  </button>
                  {t.archived ? (
                    <button
                      type="button"
                      class="small secondary outline"
                      aria-label={`Restore ${t.name}`}
                      onClick={() => toggle(t, false)}
                    >
                      Restore
                    </button>
                  ) : (
                    <button
                      type="button"
                      class="small secondary outline"
                      aria-label={`Archive ${t.name}`}
                      onClick={() => setArchive(t)}
                    >
                      Archive
                    </button>
                  )}
                </div>
              ),
            },
          ]}
        />
      )}
      <ConfirmDialog
        open={archive !== null}
        title={`Archive ${archive?.name ?? ''}?`}
        confirm="Archive"
        danger
        onConfirm={() => archive && toggle(archive, true)}
        onClose={() => setArchive(null)}
      >
        <p>
          New endpoints no longer see it in their catalog; endpoints subscribed to it keep getting it, and its
          messages stay. You can restore it.
        </p>
      </ConfirmDialog>
    </section>
  );
}

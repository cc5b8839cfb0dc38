/**
 * Nothing a list is asked is silently ignored. Every query parameter that the Svix OSS
 * document gives a list route (read from the copy in test/fixtures), and those the svix SDK
 * sends beside them, has a verdict in {@link VERDICTS}: honoured, with an assertion of what it
 * does, through the svix SDK; or refused with 422 naming it. A parameter moves from refused
 * to honoured by editing its one entry.
 */
import { readFileSync } from 'node:fs';
import { ApiException, MessageStatus, Ordering, StatusCodeClass } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Attempt, Endpoint, Message } from '../../src/core/types.js';
import { attemptDue, claim, type ListsFixture, openListsFixture } from './lists-fixture.js';

interface OpenApi {
  paths: Record<
    string,
    Record<string, { operationId?: string; parameters?: { name: string; in: string }[] }>
  >;
}

const DOC = JSON.parse(
  readFileSync(new URL('../fixtures/svix-server-openapi.json', import.meta.url), 'utf8'),
) as OpenApi;

/** The list routes of the document (GETs that page) and their query parameters. */
const LIST_ROUTES = Object.entries(DOC.paths).flatMap(([path, ops]) =>
  Object.entries(ops).flatMap(([method, op]) => {
    const query = (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
    return method === 'get' && query.includes('iterator')
      ? [{ path, operationId: op.operationId!, query }]
      : [];
  }),
);

/** Query parameters the svix SDK sends to a list route that the OSS document lacks. */
const SDK_EXTRAS: Record<string, string[]> = {
  'v1.application.list': [
    'exclude_apps_with_no_endpoints',
    'exclude_apps_with_disabled_endpoints',
    'exclude_apps_with_svix_play_endpoints',
  ],
  'v1.message.list': ['tag'],
  'v1.message-attempt.list-by-endpoint': ['tag', 'with_msg', 'expanded_statuses'],
  'v1.message-attempt.list-by-msg': ['tag', 'expanded_statuses'],
  'v1.message-attempt.list-attempted-messages': ['tag', 'expanded_statuses'],
};

type Verdict =
  /** What the parameter does, asserted. */
  | { honoured: () => Promise<void> }
  /** Refused with 422 naming it, sent with this value; `why` says who or what would honour it. */
  | { refused: string; why: string };

let f: ListsFixture;
let appId: string;
let other: string;
let epA: Endpoint;
let epB: Endpoint;
/**
 * m1 a.one [eu] tagged project_1337, m2 b.two [us] tagged beta, m3 c.three [eu, us] tagged
 * both, m4 a.one (no channels, no tags), a second apart.
 */
let m: Message[];
/** Their times. */
let t: number[];
/** To epA: one success per message (A[i] of m[i]). */
let A: Attempt[];
/** To epB: m1 500 then 500 (B1, B2), m2 404 (B3), m3 timeout (B4); m3 is then sending, m4 pending. */
let B: Attempt[];

const ids = (page: { data: { id: string }[] }) => page.data.map((x) => x.id);
const idsOf = (xs: { id: string }[]) => xs.map((x) => x.id);
const at = (ms: number) => new Date(ms);

/** The call's ApiException (it must fail). */
async function refusal(call: Promise<unknown>): Promise<ApiException<unknown>> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiException) return error;
    throw error;
  }
  throw new Error('expected the call to be refused');
}

const EXPANDED: (list: (o: { expandedStatuses: boolean }) => Promise<unknown>) => Verdict = (list) => ({
  async honoured() {
    // The SDK always sends true: Herald always reports sending (3) apart from pending (1).
    await list({ expandedStatuses: true });
    const bad = await refusal(list({ expandedStatuses: false }));
    expect(bad.code).toBe(422);
    expect(JSON.stringify(bad.body)).toContain('expanded_statuses');
  },
});

/** Each list route's parameters, by the document's operationId: what each does, or why it is refused. */
const VERDICTS: Record<string, Record<string, Verdict>> = {
  'v1.application.list': {
    limit: {
      async honoured() {
        const page = await f.svix.application.list({ limit: 1 });
        expect(page.data).toHaveLength(1);
        expect(page.done).toBe(false);
      },
    },
    iterator: {
      async honoured() {
        const first = await f.svix.application.list({ limit: 1 });
        expect(ids(await f.svix.application.list({ limit: 1, iterator: first.iterator }))).toEqual([appId]);
      },
    },
    order: {
      async honoured() {
        expect(ids(await f.svix.application.list())).toEqual([other, appId]);
        expect(ids(await f.svix.application.list({ order: Ordering.Ascending }))).toEqual([appId, other]);
        expect(ids(await f.svix.application.list({ order: Ordering.Descending }))).toEqual([other, appId]);
      },
    },
    exclude_apps_with_no_endpoints: {
      refused: 'true',
      why: 'Herald does not filter applications (false is taken: it asks for nothing)',
    },
    exclude_apps_with_disabled_endpoints: { refused: 'true', why: 'Herald does not filter applications' },
    exclude_apps_with_svix_play_endpoints: { refused: 'true', why: 'Herald has no Svix Play endpoints' },
  },
  'v1.endpoint.list': {
    limit: {
      async honoured() {
        const page = await f.svix.endpoint.list(appId, { limit: 1 });
        expect(ids(page)).toEqual([epB.id]);
        expect(page.done).toBe(false);
      },
    },
    iterator: {
      async honoured() {
        const page = await f.svix.endpoint.list(appId, { limit: 1, iterator: epB.id });
        expect(ids(page)).toEqual([epA.id]);
        expect(page.done).toBe(true);
      },
    },
    order: {
      async honoured() {
        expect(ids(await f.svix.endpoint.list(appId))).toEqual([epB.id, epA.id]);
        expect(ids(await f.svix.endpoint.list(appId, { order: Ordering.Ascending }))).toEqual([
          epA.id,
          epB.id,
        ]);
      },
    },
  },
  'v1.event-type.list': {
    limit: {
      async honoured() {
        const page = await f.svix.eventType.list({ limit: 2 });
        expect(page.data.map((e) => e.name)).toEqual(['a.one', 'b.two']);
        expect(page.done).toBe(false);
      },
    },
    iterator: {
      async honoured() {
        const page = await f.svix.eventType.list({ iterator: 'b.two' });
        expect(page.data.map((e) => e.name)).toEqual(['c.three']);
      },
    },
    order: {
      async honoured() {
        const page = await f.svix.eventType.list({ order: Ordering.Descending });
        expect(page.data.map((e) => e.name)).toEqual(['c.three', 'b.two', 'a.one']);
      },
    },
    include_archived: {
      async honoured() {
        expect((await f.svix.eventType.list()).data.map((e) => e.name)).not.toContain('z.old');
        // Applied in the query: a page of one after c.three is the archived type, not an empty page.
        const page = await f.svix.eventType.list({ includeArchived: true, limit: 1, iterator: 'c.three' });
        expect(page.data.map((e) => e.name)).toEqual(['z.old']);
        expect(page.data[0]!.archived).toBe(true);
        // And without it, no short pages: two of the three live types, then the last.
        const live = await f.svix.eventType.list({ limit: 2, iterator: 'a.one' });
        expect(live.data.map((e) => e.name)).toEqual(['b.two', 'c.three']);
        expect(live.done).toBe(true);
      },
    },
    with_content: {
      async honoured() {
        const without = await f.svix.eventType.list();
        expect(without.data.find((e) => e.name === 'a.one')!.schemas ?? null).toBeNull();
        const withIt = await f.svix.eventType.list({ withContent: true });
        expect(withIt.data.find((e) => e.name === 'a.one')!.schemas).toEqual({ '1': { type: 'object' } });
      },
    },
  },
  'v1.message.list': {
    limit: {
      async honoured() {
        const page = await f.svix.message.list(appId, { limit: 2 });
        expect(ids(page)).toEqual(idsOf([m[3]!, m[2]!]));
        expect(page.done).toBe(false);
      },
    },
    iterator: {
      async honoured() {
        expect(ids(await f.svix.message.list(appId, { iterator: m[2]!.id }))).toEqual(idsOf([m[1]!, m[0]!]));
        expect(ids(await f.svix.message.list(appId, { iterator: `-${m[1]!.id}` }))).toEqual(
          idsOf([m[3]!, m[2]!]),
        );
      },
    },
    channel: {
      async honoured() {
        expect(ids(await f.svix.message.list(appId, { channel: 'eu' }))).toEqual(idsOf([m[2]!, m[0]!]));
        expect(ids(await f.svix.message.list(appId, { channel: 'us' }))).toEqual(idsOf([m[2]!, m[1]!]));
      },
    },
    before: {
      async honoured() {
        expect(ids(await f.svix.message.list(appId, { before: at(t[2]!) }))).toEqual(idsOf([m[1]!, m[0]!]));
      },
    },
    after: {
      async honoured() {
        expect(ids(await f.svix.message.list(appId, { after: at(t[1]!) }))).toEqual(idsOf([m[3]!, m[2]!]));
      },
    },
    with_content: {
      async honoured() {
        expect((await f.svix.message.list(appId)).data.map((x) => x.payload)).toEqual([
          { n: 4 },
          { n: 3 },
          { n: 2 },
          { n: 1 },
        ]);
        const without = await f.svix.message.list(appId, { withContent: false });
        expect(without.data.map((x) => x.payload)).toEqual([{}, {}, {}, {}]);
      },
    },
    event_types: {
      async honoured() {
        const two = await f.svix.message.list(appId, { eventTypes: ['a.one', 'b.two'] });
        expect(ids(two)).toEqual(idsOf([m[3]!, m[1]!, m[0]!]));
        expect(ids(await f.svix.message.list(appId, { eventTypes: ['c.three'] }))).toEqual([m[2]!.id]);
      },
    },
    tag: {
      async honoured() {
        expect(ids(await f.svix.message.list(appId, { tag: 'project_1337' }))).toEqual(idsOf([m[2]!, m[0]!]));
        expect(ids(await f.svix.message.list(appId, { tag: 'beta' }))).toEqual(idsOf([m[2]!, m[1]!]));
        expect(ids(await f.svix.message.list(appId, { tag: 'nobody' }))).toEqual([]);
      },
    },
  },
  'v1.message-attempt.list-by-endpoint': {
    limit: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByEndpoint(appId, epB.id, { limit: 2 });
        expect(ids(page)).toEqual(idsOf([B[3]!, B[2]!]));
        expect(page.done).toBe(false);
      },
    },
    iterator: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByEndpoint(appId, epB.id, { iterator: B[2]!.id });
        expect(ids(page)).toEqual(idsOf([B[1]!, B[0]!]));
      },
    },
    status: {
      async honoured() {
        const list = (endpointId: string, status: MessageStatus) =>
          f.svix.messageAttempt.listByEndpoint(appId, endpointId, { status }).then(ids);
        expect(await list(epB.id, MessageStatus.Fail)).toEqual(idsOf([...B].reverse()));
        expect(await list(epB.id, MessageStatus.Success)).toEqual([]);
        expect(await list(epA.id, MessageStatus.Success)).toHaveLength(4);
        expect(await list(epA.id, MessageStatus.Pending)).toEqual([]);
      },
    },
    status_code_class: {
      async honoured() {
        const list = (statusCodeClass: StatusCodeClass) =>
          f.svix.messageAttempt.listByEndpoint(appId, epB.id, { statusCodeClass }).then(ids);
        expect(await list(StatusCodeClass.Code5xx)).toEqual(idsOf([B[1]!, B[0]!]));
        expect(await list(StatusCodeClass.Code4xx)).toEqual([B[2]!.id]);
        expect(await list(StatusCodeClass.CodeNone)).toEqual([B[3]!.id]);
      },
    },
    channel: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByEndpoint(appId, epB.id, { channel: 'us' });
        expect(ids(page)).toEqual(idsOf([B[3]!, B[2]!]));
      },
    },
    before: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByEndpoint(appId, epB.id, {
          before: at(B[2]!.createdAt),
        });
        expect(ids(page)).toEqual(idsOf([B[1]!, B[0]!]));
      },
    },
    after: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByEndpoint(appId, epB.id, {
          after: at(B[1]!.createdAt),
        });
        expect(ids(page)).toEqual(idsOf([B[3]!, B[2]!]));
      },
    },
    with_content: {
      async honoured() {
        const withIt = await f.svix.messageAttempt.listByEndpoint(appId, epB.id);
        expect(withIt.data[0]!.response).toBe(`answer of ${m[2]!.id}`);
        const without = await f.svix.messageAttempt.listByEndpoint(appId, epB.id, { withContent: false });
        expect(without.data.map((a) => a.response)).toEqual(['{}', '{}', '{}', '{}']);
      },
    },
    event_types: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByEndpoint(appId, epB.id, {
          eventTypes: ['a.one', 'c.three'],
        });
        expect(ids(page)).toEqual(idsOf([B[3]!, B[1]!, B[0]!]));
      },
    },
    with_msg: {
      async honoured() {
        expect((await f.svix.messageAttempt.listByEndpoint(appId, epB.id)).data[0]!.msg).toBeUndefined();
        const page = await f.svix.messageAttempt.listByEndpoint(appId, epB.id, { withMsg: true });
        expect(page.data.map((a) => [a.msgId, a.msg?.id, a.msg?.eventType])).toEqual([
          [m[2]!.id, m[2]!.id, 'c.three'],
          [m[1]!.id, m[1]!.id, 'b.two'],
          [m[0]!.id, m[0]!.id, 'a.one'],
          [m[0]!.id, m[0]!.id, 'a.one'],
        ]);
        expect(page.data[0]!.msg!.payload).toEqual({ n: 3 });
        expect(page.data[0]!.msg!.timestamp).toEqual(at(t[2]!));
      },
    },
    expanded_statuses: EXPANDED((o) => f.svix.messageAttempt.listByEndpoint(appId, epB.id, o)),
    tag: {
      async honoured() {
        const tagged = (tag: string) =>
          f.svix.messageAttempt.listByEndpoint(appId, epB.id, { tag }).then(ids);
        expect(await tagged('project_1337')).toEqual(idsOf([B[3]!, B[1]!, B[0]!]));
        expect(await tagged('beta')).toEqual(idsOf([B[3]!, B[2]!]));
      },
    },
  },
  'v1.message-attempt.list-by-msg': {
    limit: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { limit: 2 });
        expect(ids(page)).toEqual(idsOf([B[1]!, B[0]!]));
        expect(page.done).toBe(false);
      },
    },
    iterator: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { iterator: B[0]!.id });
        expect(ids(page)).toEqual([A[0]!.id]);
        expect(page.done).toBe(true);
      },
    },
    status: {
      async honoured() {
        const list = (status: MessageStatus) =>
          f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { status }).then(ids);
        expect(await list(MessageStatus.Success)).toEqual([A[0]!.id]);
        expect(await list(MessageStatus.Fail)).toEqual(idsOf([B[1]!, B[0]!]));
      },
    },
    status_code_class: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByMsg(appId, m[0]!.id, {
          statusCodeClass: StatusCodeClass.Code2xx,
        });
        expect(ids(page)).toEqual([A[0]!.id]);
      },
    },
    channel: {
      async honoured() {
        expect(ids(await f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { channel: 'eu' }))).toHaveLength(
          3,
        );
        expect(ids(await f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { channel: 'us' }))).toEqual([]);
      },
    },
    endpoint_id: {
      async honoured() {
        const list = (endpointId: string) =>
          f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { endpointId }).then(ids);
        expect(await list('ep-b')).toEqual(idsOf([B[1]!, B[0]!]));
        expect(await list(epB.id)).toEqual(idsOf([B[1]!, B[0]!]));
        expect(await list('ep-a')).toEqual([A[0]!.id]);
        expect((await refusal(list('no-such-endpoint'))).code).toBe(404);
      },
    },
    before: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { before: at(B[1]!.createdAt) });
        expect(ids(page)).toEqual(idsOf([B[0]!, A[0]!]));
      },
    },
    after: {
      async honoured() {
        const page = await f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { after: at(A[0]!.createdAt) });
        expect(ids(page)).toEqual(idsOf([B[1]!, B[0]!]));
      },
    },
    with_content: {
      async honoured() {
        const without = await f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { withContent: false });
        expect(without.data.map((a) => a.response)).toEqual(['{}', '{}', '{}']);
        const withIt = await f.svix.messageAttempt.listByMsg(appId, m[0]!.id);
        expect(withIt.data.map((a) => a.response)).toEqual(Array(3).fill(`answer of ${m[0]!.id}`));
      },
    },
    event_types: {
      async honoured() {
        const list = (eventTypes: string[]) =>
          f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { eventTypes }).then(ids);
        expect(await list(['b.two', 'a.one'])).toHaveLength(3);
        expect(await list(['b.two', 'c.three'])).toEqual([]);
      },
    },
    expanded_statuses: EXPANDED((o) => f.svix.messageAttempt.listByMsg(appId, m[0]!.id, o)),
    tag: {
      async honoured() {
        const tagged = (tag: string) => f.svix.messageAttempt.listByMsg(appId, m[0]!.id, { tag }).then(ids);
        expect(await tagged('project_1337')).toHaveLength(3);
        expect(await tagged('beta')).toEqual([]);
      },
    },
  },
  'v1.message-attempt.list-attempted-messages': {
    limit: {
      async honoured() {
        const page = await f.svix.messageAttempt.listAttemptedMessages(appId, epB.id, { limit: 3 });
        expect(ids(page)).toEqual(idsOf([m[3]!, m[2]!, m[1]!]));
        expect(page.done).toBe(false);
      },
    },
    iterator: {
      async honoured() {
        const page = await f.svix.messageAttempt.listAttemptedMessages(appId, epB.id, { iterator: m[1]!.id });
        expect(ids(page)).toEqual([m[0]!.id]);
        expect(page.done).toBe(true);
      },
    },
    status: {
      async honoured() {
        const list = (endpointId: string, status: MessageStatus) =>
          f.svix.messageAttempt.listAttemptedMessages(appId, endpointId, { status }).then(ids);
        expect(await list(epB.id, MessageStatus.Fail)).toEqual(idsOf([m[1]!, m[0]!]));
        expect(await list(epB.id, MessageStatus.Sending)).toEqual([m[2]!.id]);
        expect(await list(epB.id, MessageStatus.Pending)).toEqual([m[3]!.id]);
        expect(await list(epB.id, MessageStatus.Success)).toEqual([]);
        expect(await list(epA.id, MessageStatus.Success)).toHaveLength(4);
        const all = await f.svix.messageAttempt.listAttemptedMessages(appId, epB.id);
        expect(all.data.map((x) => x.status)).toEqual([
          MessageStatus.Pending,
          MessageStatus.Sending,
          MessageStatus.Fail,
          MessageStatus.Fail,
        ]);
      },
    },
    channel: {
      async honoured() {
        const page = await f.svix.messageAttempt.listAttemptedMessages(appId, epB.id, { channel: 'eu' });
        expect(ids(page)).toEqual(idsOf([m[2]!, m[0]!]));
      },
    },
    before: {
      async honoured() {
        const page = await f.svix.messageAttempt.listAttemptedMessages(appId, epB.id, { before: at(t[2]!) });
        expect(ids(page)).toEqual(idsOf([m[1]!, m[0]!]));
      },
    },
    after: {
      async honoured() {
        const page = await f.svix.messageAttempt.listAttemptedMessages(appId, epB.id, { after: at(t[1]!) });
        expect(ids(page)).toEqual(idsOf([m[3]!, m[2]!]));
      },
    },
    with_content: {
      async honoured() {
        const withIt = await f.svix.messageAttempt.listAttemptedMessages(appId, epB.id);
        expect(withIt.data.map((x) => x.payload)).toEqual([{ n: 4 }, { n: 3 }, { n: 2 }, { n: 1 }]);
        const without = await f.svix.messageAttempt.listAttemptedMessages(appId, epB.id, {
          withContent: false,
        });
        expect(without.data.map((x) => x.payload)).toEqual([{}, {}, {}, {}]);
      },
    },
    event_types: {
      async honoured() {
        const page = await f.svix.messageAttempt.listAttemptedMessages(appId, epB.id, {
          eventTypes: ['a.one', 'c.three'],
        });
        expect(ids(page)).toEqual(idsOf([m[3]!, m[2]!, m[0]!]));
      },
    },
    expanded_statuses: EXPANDED((o) => f.svix.messageAttempt.listAttemptedMessages(appId, epB.id, o)),
    tag: {
      async honoured() {
        const tagged = (tag: string) =>
          f.svix.messageAttempt.listAttemptedMessages(appId, epB.id, { tag }).then(ids);
        expect(await tagged('project_1337')).toEqual(idsOf([m[2]!, m[0]!]));
        expect(await tagged('beta')).toEqual(idsOf([m[2]!, m[1]!]));
      },
    },
  },
  'v1.message-attempt.list-attempted-destinations': {
    limit: {
      async honoured() {
        const page = await f.svix.messageAttempt.listAttemptedDestinations(appId, m[0]!.id, { limit: 1 });
        expect(ids(page)).toEqual([epA.id]);
        expect(page.done).toBe(false);
      },
    },
    iterator: {
      async honoured() {
        const page = await f.svix.messageAttempt.listAttemptedDestinations(appId, m[0]!.id, {
          iterator: epA.id,
        });
        expect(ids(page)).toEqual([epB.id]);
        expect(page.data[0]!.status).toBe(MessageStatus.Fail);
        expect(page.done).toBe(true);
      },
    },
  },
};

beforeAll(async () => {
  f = await openListsFixture('list-filters');
  const { store, clock } = f;
  const tick = () => clock.advance(1000);
  await store.upsertEventType({ name: 'a.one', description: '', schemas: { '1': { type: 'object' } } });
  await store.upsertEventType({ name: 'b.two', description: '' });
  await store.upsertEventType({ name: 'c.three', description: '' });
  await store.upsertEventType({ name: 'z.old', description: '', archived: true });
  appId = (await store.createApplication({ name: 'Filters' })).id;
  tick();
  other = (await store.createApplication({ name: 'Other' })).id;
  epA = await store.createEndpoint(appId, { url: 'https://example.com/a', uid: 'ep-a' });
  tick();
  epB = await store.createEndpoint(appId, { url: 'https://example.com/b', uid: 'ep-b' });
  const sends: [string, string[] | null, string[] | null][] = [
    ['a.one', ['eu'], ['project_1337']],
    ['b.two', ['us'], ['beta']],
    ['c.three', ['eu', 'us'], ['project_1337', 'beta']],
    ['a.one', null, null],
  ];
  m = [];
  t = [];
  for (const [i, [eventType, channels, tags]] of sends.entries()) {
    tick();
    const payload = JSON.stringify({ n: i + 1 });
    const labels = { ...(channels ? { channels } : {}), ...(tags ? { tags } : {}) };
    m.push((await store.acceptMessage({ appId, eventType, payload, ...labels })).message);
    t.push(clock.now());
  }
  const to = (ep: Endpoint, msg?: Message) => (d: { endpointId: string; msgId: string }) =>
    d.endpointId === ep.id && (msg === undefined || d.msgId === msg.id);
  tick();
  A = await attemptDue(store, clock, { succeeded: true, statusCode: 200 }, to(epA));
  A.sort((a, b) => m.findIndex((x) => x.id === a.msgId) - m.findIndex((x) => x.id === b.msgId));
  B = [];
  tick();
  B.push(
    ...(await attemptDue(store, clock, { succeeded: false, statusCode: 500, retry: true }, to(epB, m[0]))),
  );
  tick();
  B.push(...(await attemptDue(store, clock, { succeeded: false, statusCode: 500 }, to(epB, m[0]))));
  tick();
  B.push(...(await attemptDue(store, clock, { succeeded: false, statusCode: 404 }, to(epB, m[1]))));
  tick();
  B.push(
    ...(await attemptDue(store, clock, { succeeded: false, statusCode: null, retry: true }, to(epB, m[2]))),
  );
  // m3's retry is taken by a worker (sending); m4 waits (pending).
  expect(await claim(store, clock, to(epB, m[2]))).toHaveLength(1);
  expect(B).toHaveLength(4);
  expect(A).toHaveLength(4);
});

afterAll(async () => {
  await f?.close();
});

describe('every query parameter of every list route', () => {
  it('has a verdict: each one the OSS document gives, and each one the svix SDK sends beside them', () => {
    expect(LIST_ROUTES.length).toBeGreaterThanOrEqual(8);
    for (const { operationId, query } of LIST_ROUTES) {
      const verdicts = VERDICTS[operationId];
      expect(verdicts, operationId).toBeDefined();
      const wanted = [...query, ...(SDK_EXTRAS[operationId] ?? [])].sort();
      expect(Object.keys(verdicts!).sort(), operationId).toEqual(wanted);
    }
    expect(Object.keys(VERDICTS).sort()).toEqual(LIST_ROUTES.map((r) => r.operationId).sort());
  });

  const cases = LIST_ROUTES.flatMap(({ path, operationId, query }) =>
    [...query, ...(SDK_EXTRAS[operationId] ?? [])].map((param) => ({ path, operationId, param })),
  );

  it.each(cases)('$operationId ?$param', async ({ path, operationId, param }) => {
    const verdict = VERDICTS[operationId]![param]!;
    if ('honoured' in verdict) {
      await verdict.honoured();
      return;
    }
    const url = path
      .replace('/api/v1', '')
      .replace('{app_id}', appId)
      .replace('{endpoint_id}', epB.id)
      .replace('{msg_id}', m[0]!.id);
    const res = await f.get<{ detail: { loc: string[]; msg: string }[] }>(
      `${url}?${new URLSearchParams({ [param]: verdict.refused })}`,
    );
    expect(res.status, verdict.why).toBe(422);
    expect(res.body.detail.map((d) => d.loc)).toContainEqual(['query', param]);
  });
});

describe('event_types as the svix SDK sends it', () => {
  it('splits the comma-separated list, takes repeats too, and refuses a bad name with 422 naming event_types', async () => {
    const both = await f.get<{ data: { id: string }[] }>(
      `/app/${appId}/msg?event_types=a.one&event_types=b.two,c.three`,
    );
    expect(both.status).toBe(200);
    expect(both.body.data).toHaveLength(4);
    for (const bad of ['a.one,', 'a.one,,b.two', 'has space']) {
      const res = await f.get<{ detail: { loc: string[] }[] }>(
        `/app/${appId}/msg?${new URLSearchParams({ event_types: bad })}`,
      );
      expect(res.status, bad).toBe(422);
      expect(res.body.detail[0]!.loc).toEqual(['query', 'event_types']);
    }
  });

  it('answers 422 naming a query parameter no list knows, rather than ignoring it', async () => {
    const res = await f.get<{ detail: { loc: string[] }[] }>(`/app/${appId}/msg?event_type=a.one`);
    expect(res.status).toBe(422);
    expect(res.body.detail[0]!.loc).toEqual(['query', 'event_type']);
    const limit = await f.get<{ detail: { loc: string[] }[] }>(`/app/${appId}/msg?limit=0`);
    expect(limit.status).toBe(422);
    expect(limit.body.detail[0]!.loc).toEqual(['query', 'limit']);
  });
});

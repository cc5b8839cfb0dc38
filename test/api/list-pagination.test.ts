/**
 * Paging of every list route, through the svix SDK where it has the method, as Svix pages:
 * `iterator` continues after a page, `prevIterator` (`-` and the page's first key) gives the
 * page before it, `done` says whether anything is left in the direction read, and `after`
 * alone starts at the oldest page after that time, so a poller following `prevIterator`
 * sees every message once. Each page is checked against a model of the list, with rows
 * inserted between pages and rows sharing a millisecond (their ids break the tie).
 */
import { Ordering } from 'svix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { more } from '../../src/cli/output.js';
import { replayMissingAll } from '../store/drain.js';
import { attemptDue, type ListsFixture, openListsFixture } from './lists-fixture.js';

interface Query {
  limit: number;
  iterator?: string | null;
  after?: Date;
  before?: Date;
  order?: Ordering;
}

interface PageOut {
  keys: string[];
  iterator: string | null;
  prevIterator: string | null;
  done: boolean;
}

/** One list as the test drives it: add an item (its key and time), read a page. */
interface Driver {
  add(): Promise<string>;
  page(q: Query): Promise<PageOut>;
}

interface ListCase {
  name: string;
  /** The list's own order: newest (largest key) first, or ascending by key. */
  descending: boolean;
  /** Takes `order`. */
  ordered: boolean;
  /** Takes `before` and `after`. */
  timed: boolean;
  open(f: ListsFixture): Promise<Driver>;
}

interface RawPage {
  data: { id?: string; name?: string }[];
  iterator: string | null;
  prevIterator?: string | null;
  done: boolean;
}

const out = (p: RawPage): PageOut => ({
  keys: p.data.map((x) => (x.id ?? x.name)!),
  iterator: p.iterator,
  prevIterator: p.prevIterator ?? null,
  done: p.done,
});

const sdkQuery = (q: Query) => ({
  limit: q.limit,
  ...(q.iterator ? { iterator: q.iterator } : {}),
  ...(q.after ? { after: q.after } : {}),
  ...(q.before ? { before: q.before } : {}),
});
const orderQuery = (q: Query) => ({
  limit: q.limit,
  ...(q.iterator ? { iterator: q.iterator } : {}),
  ...(q.order ? { order: q.order } : {}),
});
const search = (q: Query) =>
  new URLSearchParams({
    limit: String(q.limit),
    ...(q.iterator ? { iterator: q.iterator } : {}),
    ...(q.order ? { order: q.order } : {}),
  }).toString();

/** Event type names in no order of creation, so that inserts land anywhere in the list. */
const typeName = (i: number) => `type.${String((i * 7919) % 1009).padStart(4, '0')}`;

const CASES: ListCase[] = [
  {
    name: 'messages (message.list)',
    descending: true,
    ordered: false,
    timed: true,
    async open({ store, svix }) {
      const app = await store.createApplication({ name: 'Messages' });
      return {
        add: async () =>
          (await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' })).message.id,
        page: async (q) => out(await svix.message.list(app.id, sdkQuery(q))),
      };
    },
  },
  {
    name: 'attempts by endpoint (messageAttempt.listByEndpoint)',
    descending: true,
    ordered: false,
    timed: true,
    async open({ store, svix, clock }) {
      const app = await store.createApplication({ name: 'Attempts' });
      const ep = await store.createEndpoint(app.id, { url: 'https://example.com/hook' });
      return {
        async add() {
          await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' });
          const [attempt] = await attemptDue(store, clock, { succeeded: false, statusCode: 500 });
          return attempt!.id;
        },
        page: async (q) => out(await svix.messageAttempt.listByEndpoint(app.id, ep.id, sdkQuery(q))),
      };
    },
  },
  {
    name: 'attempts by message (messageAttempt.listByMsg)',
    descending: true,
    ordered: false,
    timed: true,
    async open({ store, svix, clock }) {
      const app = await store.createApplication({ name: 'Retries' });
      await store.createEndpoint(app.id, { url: 'https://example.com/hook' });
      const { message } = await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' });
      return {
        async add() {
          // Each retry of the one delivery is another attempt of the message.
          const [attempt] = await attemptDue(store, clock, {
            succeeded: false,
            statusCode: 503,
            retry: true,
          });
          return attempt!.id;
        },
        page: async (q) => out(await svix.messageAttempt.listByMsg(app.id, message.id, sdkQuery(q))),
      };
    },
  },
  {
    name: 'attempted messages (messageAttempt.listAttemptedMessages)',
    descending: true,
    ordered: false,
    timed: true,
    async open({ store, svix }) {
      const app = await store.createApplication({ name: 'Sent' });
      const ep = await store.createEndpoint(app.id, { url: 'https://example.com/hook' });
      return {
        add: async () =>
          (await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' })).message.id,
        page: async (q) => out(await svix.messageAttempt.listAttemptedMessages(app.id, ep.id, sdkQuery(q))),
      };
    },
  },
  {
    name: 'attempted destinations (messageAttempt.listAttemptedDestinations)',
    descending: false,
    ordered: false,
    timed: false,
    async open({ store, svix }) {
      const app = await store.createApplication({ name: 'Fan-out' });
      const { message } = await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' });
      return {
        async add() {
          // An endpoint created after the message gets it by replay-missing: one more destination.
          const ep = await store.createEndpoint(app.id, { url: 'https://example.com/hook' });
          expect(await replayMissingAll(store, ep.id, 0, null)).toBe(1);
          return ep.id;
        },
        page: async (q) =>
          out(
            await svix.messageAttempt.listAttemptedDestinations(app.id, message.id, {
              limit: q.limit,
              ...(q.iterator ? { iterator: q.iterator } : {}),
            }),
          ),
      };
    },
  },
  {
    name: 'applications (application.list)',
    descending: true,
    ordered: true,
    timed: false,
    async open({ store, svix }) {
      return {
        add: async () => (await store.createApplication({ name: 'App' })).id,
        page: async (q) => out(await svix.application.list(orderQuery(q))),
      };
    },
  },
  {
    name: 'endpoints (endpoint.list)',
    descending: true,
    ordered: true,
    timed: false,
    async open({ store, svix }) {
      const app = await store.createApplication({ name: 'Endpoints' });
      return {
        add: async () => (await store.createEndpoint(app.id, { url: 'https://example.com/hook' })).id,
        page: async (q) => out(await svix.endpoint.list(app.id, orderQuery(q))),
      };
    },
  },
  {
    name: 'event types (eventType.list)',
    descending: false,
    ordered: true,
    timed: false,
    async open({ store, svix }) {
      let n = 0;
      return {
        add: async () => (await store.upsertEventType({ name: typeName(n++), description: '' })).name,
        page: async (q) => out(await svix.eventType.list(orderQuery(q))),
      };
    },
  },
  {
    name: 'sources (GET /source)',
    descending: false,
    ordered: true,
    timed: false,
    async open({ store, get }) {
      const app = await store.createApplication({ name: 'Inbound' });
      return {
        add: async () =>
          (await store.createSource({ name: 's', provider: 'none', secrets: [], appId: app.id })).id,
        page: async (q) => out((await get<RawPage>(`/source?${search(q)}`)).body),
      };
    },
  },
  {
    name: 'inbound requests (GET /source/{id}/request)',
    descending: true,
    ordered: true,
    timed: false,
    async open({ store, get }) {
      const app = await store.createApplication({ name: 'Log' });
      const source = await store.createSource({ name: 's', provider: 'none', secrets: [], appId: app.id });
      const body = Buffer.from('{}');
      return {
        add: async () =>
          (
            await store.recordInbound({
              sourceId: source.id,
              status: 'accepted',
              reason: null,
              headers: {},
              body,
              bodySize: body.length,
              msgId: null,
            })
          ).id,
        page: async (q) => out((await get<RawPage>(`/source/${source.id}/request?${search(q)}`)).body),
      };
    },
  },
];

interface Item {
  key: string;
  at: number;
}

/**
 * The page the model says `q` reads from `items`, in a list whose own order is `descending`
 * unless `q.order` says otherwise.
 */
function expected(items: Item[], q: Query, descending: boolean): PageOut {
  const desc = q.order ? q.order === Ordering.Descending : descending;
  const inWindow = items.filter(
    (x) => (!q.after || x.at > q.after.getTime()) && (!q.before || x.at < q.before.getTime()),
  );
  const list = inWindow.map((x) => x.key).sort();
  if (desc) list.reverse();
  const ahead = (a: string, b: string) => (desc ? a < b : a > b);
  let data: string[];
  let done: boolean;
  let backward = false;
  let cursor: string | null = null;
  if (!q.iterator) {
    backward = Boolean(q.after && !q.before && desc);
    data = backward ? list.slice(-q.limit) : list.slice(0, q.limit);
    done = list.length <= q.limit;
  } else if (q.iterator.startsWith('-')) {
    backward = true;
    cursor = q.iterator.slice(1);
    const before = list.filter((k) => ahead(cursor!, k));
    data = before.slice(-q.limit);
    done = before.length <= q.limit;
  } else {
    const rest = list.filter((k) => ahead(k, q.iterator!));
    data = rest.slice(0, q.limit);
    done = rest.length <= q.limit;
  }
  return {
    keys: data,
    iterator: data.at(-1) ?? null,
    prevIterator: data[0] !== undefined ? `-${data[0]}` : backward && cursor !== null ? `-${cursor}` : null,
    done,
  };
}

describe.each(CASES)('$name', (c) => {
  let f: ListsFixture;
  let list: Driver;
  const items: Item[] = [];

  beforeAll(async () => {
    f = await openListsFixture('list-pagination');
    list = await c.open(f);
  });

  afterAll(async () => {
    await f?.close();
  });

  /** Adds an item at the clock's time; every other one a millisecond later (the rest share one). */
  async function add(): Promise<string> {
    if (items.length % 2 === 0) f.clock.advance(1);
    const key = await list.add();
    items.push({ key, at: f.clock.now() });
    return key;
  }

  async function read(q: Query, descending = c.descending): Promise<PageOut> {
    const page = await list.page(q);
    expect(page, JSON.stringify(q)).toEqual(expected(items, q, descending));
    return page;
  }

  it('pages forward to done, then back with prevIterator to the start, inserts between pages', async () => {
    // Four in one millisecond, then three in the next: ids order rows of the same time.
    for (let i = 0; i < 4; i++) items.push({ key: await list.add(), at: f.clock.now() });
    f.clock.advance(1);
    for (let i = 0; i < 3; i++) items.push({ key: await list.add(), at: f.clock.now() });
    const orders: (Ordering | undefined)[] = c.ordered
      ? [undefined, Ordering.Ascending, Ordering.Descending]
      : [undefined];
    for (const order of orders) {
      const q = (iterator?: string | null): Query => ({ limit: 3, iterator, ...(order ? { order } : {}) });
      let page = await read(q());
      expect(page.done).toBe(false);
      expect(page.prevIterator).toBe(`-${page.keys[0]}`);
      let pages = 1;
      while (!page.done) {
        await add();
        page = await read(q(page.iterator));
        pages++;
      }
      expect(pages).toBeGreaterThan(2);
      // Back from the last page to the first, each page in the list's order.
      const existing = items.map((x) => x.key);
      const seen: string[] = [...page.keys];
      while (true) {
        await add();
        page = await read(q(page.prevIterator));
        seen.push(...page.keys);
        if (page.done) break;
      }
      expect(new Set(seen).size).toBe(seen.length);
      for (const key of existing) expect(seen).toContain(key);
      // At the start, nothing is before the first page: an empty page that keeps its iterator.
      const first = page.prevIterator;
      page = await read(q(first));
      if (page.keys.length === 0)
        expect(page).toEqual({ keys: [], iterator: null, prevIterator: first, done: true });
    }
  });

  // A list without a time window (no before/after) has no cases of these two.
  if (c.timed) {
    it('after alone is the oldest page after it, and a poller following prevIterator gets each row once', async () => {
      const since = f.clock.now();
      f.clock.advance(5);
      const expectedKeys: string[] = [];
      for (let i = 0; i < 5; i++) expectedKeys.push(await add());
      let page = await read({ limit: 2, after: new Date(since) });
      // The oldest two after `since`, newest first, and more to come.
      expect(page.keys).toEqual([expectedKeys[1], expectedKeys[0]]);
      expect(page.done).toBe(false);
      const got = [...page.keys];
      while (!page.done) {
        expectedKeys.push(await add());
        page = await read({ limit: 2, iterator: page.prevIterator });
        got.push(...page.keys);
      }
      // Caught up: asking again gets an empty page that keeps the poller where it was.
      const at = page.prevIterator;
      page = await read({ limit: 2, iterator: at });
      expect(page).toEqual({ keys: [], iterator: null, prevIterator: at, done: true });
      expectedKeys.push(await add());
      page = await read({ limit: 2, iterator: at });
      got.push(...page.keys);
      expect(got.sort()).toEqual([...expectedKeys].sort());
      // The same window read the other way: `iterator` goes back in time within it.
      await read({ limit: 2, after: new Date(since), iterator: expectedKeys.at(-2)! });
    });

    it('before is the newest page before it; before and after together, the newest in the window', async () => {
      const times = [...new Set(items.map((x) => x.at))].sort((a, b) => a - b);
      const middle = times[Math.floor(times.length / 2)]!;
      let page = await read({ limit: 2, before: new Date(middle) });
      while (!page.done) page = await read({ limit: 2, before: new Date(middle), iterator: page.iterator });
      page = await read({ limit: 2, before: new Date(middle), after: new Date(times[1]!) });
      while (!page.done)
        page = await read({
          limit: 2,
          before: new Date(middle),
          after: new Date(times[1]!),
          iterator: page.iterator,
        });
      // And back again inside the window.
      await read({
        limit: 2,
        before: new Date(middle),
        after: new Date(times[1]!),
        iterator: page.prevIterator,
      });
    });
  }
});

describe("the CLI's hint for the next page", () => {
  it('goes on with iterator, or after --after alone with the prevIterator, given with = (it begins with -)', () => {
    const page = { data: [1], iterator: 'msg_b', prevIterator: '-msg_a', done: false };
    expect(more(page)).toBe('more: add --iterator msg_b\n');
    expect(more(page, true)).toBe('more: add --iterator=-msg_a\n');
    expect(more({ ...page, done: true }, true)).toBe('');
  });
});

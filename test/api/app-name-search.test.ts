/**
 * `GET /app?name=` (a Herald extension the dashboard's application search uses): the server
 * finds applications by a part of their name, in any case, and pages through the matches
 * only; an empty or overlong name is refused with 422 naming `name`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ListsFixture, openListsFixture } from './lists-fixture.js';

interface AppPage {
  data: { id: string; name: string }[];
  done: boolean;
  iterator: string | null;
}

let f: ListsFixture;

beforeAll(async () => {
  f = await openListsFixture('app-name-search');
  for (const name of ['Acme Corp', 'Globex', 'acme labs', 'Initech', 'The ACME shop']) {
    await f.svix.application.create({ name });
  }
});
afterAll(async () => {
  await f?.close();
});

const names = (page: AppPage) => page.data.map((a) => a.name).sort();

describe('GET /app?name=', () => {
  it('lists only the applications whose name contains the text, in any case', async () => {
    const res = await f.get<AppPage>('/app?name=acme');
    expect(res.status).toBe(200);
    expect(names(res.body)).toEqual(['Acme Corp', 'The ACME shop', 'acme labs']);
    expect(res.body.done).toBe(true);
  });

  it('pages through the matches only', async () => {
    const first = await f.get<AppPage>('/app?name=ACME&limit=2');
    expect(first.body.data).toHaveLength(2);
    expect(first.body.done).toBe(false);
    const second = await f.get<AppPage>(`/app?name=ACME&limit=2&iterator=${first.body.iterator}`);
    expect(second.body.data).toHaveLength(1);
    expect(second.body.done).toBe(true);
    expect([...names(first.body), ...names(second.body)].sort()).toEqual([
      'Acme Corp',
      'The ACME shop',
      'acme labs',
    ]);
  });

  it('finds nothing for a text no name contains', async () => {
    const res = await f.get<AppPage>('/app?name=umbrella');
    expect(res.body.data).toEqual([]);
  });

  it('refuses an empty name with 422 naming it', async () => {
    const res = await f.get<{ detail: { loc: string[] }[] }>('/app?name=');
    expect(res.status).toBe(422);
    expect(res.body.detail[0]?.loc).toEqual(['query', 'name']);
  });
});

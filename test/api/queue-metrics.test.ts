/**
 * The queue gauges of `GET /metrics` (`herald_deliveries_queued`,
 * `herald_oldest_due_delivery_age_seconds`) on each store, with one manual clock for the store
 * and the metrics: each scrape reports what the store holds at that scrape, the age of the
 * oldest due delivery included (it used to be the previous scrape's).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { apiMetrics } from '../../src/metrics/api.js';
import { openTestStore, type TestStore } from '../store-under-test.js';

const clock = new ManualClock();
let testStore: TestStore;
let api: Awaited<ReturnType<typeof buildApi>>;
let url: string;

beforeAll(async () => {
  testStore = await openTestStore('queue_metrics', { clock });
  const metrics = apiMetrics(testStore.store, clock);
  api = await buildApi({
    store: testStore.store,
    clock,
    metrics: { render: () => metrics.registry.metrics(), accepted: metrics.accepted, public: true },
  });
  url = `${await api.listen({ port: 0, host: '127.0.0.1' })}/metrics`;
});

afterAll(async () => {
  await api?.close();
  await testStore?.close();
});

/** The value of the series `line` (name and labels, as written) in a scrape. */
async function scrape(): Promise<(line: string) => number> {
  const text = await (await fetch(url)).text();
  return (line) => {
    const found = text.split('\n').find((l) => l.startsWith(`${line} `));
    if (!found) throw new Error(`no ${line} in:\n${text}`);
    return Number(found.slice(line.length + 1));
  };
}

describe('the queue gauges', () => {
  it("report the store's queue as it is at each scrape, the oldest due delivery's age included", async () => {
    const { store } = testStore;
    let read = await scrape();
    expect(read('herald_deliveries_queued{state="pending"}')).toBe(0);
    expect(read('herald_oldest_due_delivery_age_seconds')).toBe(0);

    const app = await store.createApplication({ name: 'queue' });
    await store.createEndpoint(app.id, { url: 'http://127.0.0.1:9/queue' });
    await store.acceptMessage({ appId: app.id, eventType: 'e', payload: '{}' });
    // Nothing delivers here: the delivery waits, due since the message came in.
    clock.advance(90_000);
    read = await scrape();
    expect(read('herald_deliveries_queued{state="pending"}')).toBe(1);
    expect(read('herald_oldest_due_delivery_age_seconds')).toBe(90);

    clock.advance(30_000);
    read = await scrape();
    expect(read('herald_oldest_due_delivery_age_seconds')).toBe(120);
  });
});

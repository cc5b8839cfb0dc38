/**
 * A background task's runs are traced as children of the request that started it, whichever
 * runner makes them: the request's context is kept in the task's stored params, so a runner
 * that takes the task over (here: after the first gave it back at its stop) continues that
 * trace. Tracing on in this process, exporting to a real OTLP receiver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCause } from '../../src/store/cause.js';
import type { TaskHandler } from '../../src/tasks/runner.js';
import { TaskRunner } from '../../src/tasks/runner.js';
import { startTracing, type TracingHandle } from '../../src/tracing/tracing.js';
import { waitForEvent } from '../helpers.js';
import { openTestStore, type TestStore } from '../store-under-test.js';
import { type OtlpReceiver, startOtlpReceiver } from './otlp-receiver.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

let otlp: OtlpReceiver;
let tracing: TracingHandle | null;
let testStore: TestStore;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  tracing = await startTracing('test', () => undefined, {
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });
  testStore = await openTestStore('task_tracing');
});

afterAll(async () => {
  await tracing?.stop();
  await testStore?.close();
  await otlp?.close();
});

describe('a background task taken over by another runner', () => {
  it("is traced in the starting request's trace by both runners", async () => {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    // Two batches; the first waits for the test, so the first runner can be stopped during it.
    const twoBatches: TaskHandler = {
      kind: 'test.two-batches',
      async step(task) {
        if (task.cursor === null) {
          await gate;
          return { cursor: 'half', data: { batches: 1 }, done: false };
        }
        return { cursor: null, data: { batches: 2 }, done: true };
      },
    };
    const { store } = testStore;
    const first = new TaskRunner({ store, handlers: [twoBatches] });
    const second = new TaskRunner({ store, handlers: [twoBatches] });
    // As the API submits it: in the scope of the request, whose cause is its traceparent.
    const task = await withCause(JSON.stringify({ traceparent: `00-${TRACE}-${SPAN}-01` }), () =>
      first.submit({ kind: 'test.two-batches', appId: null, endpointId: null, params: {}, data: {} }),
    );
    const stopped = first.stop();
    open();
    await stopped; // its batch done, the task given back
    expect((await store.getTask(task.id))?.status).toBe('running');
    const finished = waitForEvent<string>(second.events, 'settled', (id) => id === task.id);
    second.start();
    await finished;
    await second.stop();
    expect((await store.getTask(task.id))?.status).toBe('finished');

    const spans = await otlp.until((s) => s.filter((x) => x.name === 'herald.task').length === 2);
    const runs = spans.filter((s) => s.name === 'herald.task');
    expect(runs.map((r) => [r.traceId, r.parentSpanId, r.attributes['herald.task_run_end']])).toEqual([
      [TRACE, SPAN, 'given back'],
      [TRACE, SPAN, 'finished'],
    ]);
    expect(runs.every((r) => r.attributes['herald.task_id'] === task.id)).toBe(true);
  });
});

/**
 * How a long command shows its progress while it waits for a background task: a progress bar
 * (`cli-progress`) when its stream is a terminal, plain lines when it is not (a log, a pipe, CI),
 * at most one a second and one whenever the count changes, so that a script's log shows that
 * something happens without a screenful of bar redraws. Both go to stderr: stdout stays the
 * command's result (its JSON with `--json`).
 */
import { SingleBar } from 'cli-progress';

/** What a task's progress is read from: its `data` as the background-task routes answer it. */
export interface TaskState {
  id: string;
  status: 'running' | 'finished' | 'failed';
  data?: Record<string, unknown>;
}

/** Shows one task's progress; `update` with each state read, `stop` once it has ended. */
export interface Progress {
  update(task: TaskState): void;
  stop(task: TaskState): void;
}

/** A stream that may be a terminal. */
export interface ProgressStream extends NodeJS.WritableStream {
  isTTY?: boolean;
}

/**
 * How far through its window a task is, 0 to 1: the creation time it has got to (`through`)
 * between `since` and `until`, or `now` for a window without an end. A finished task is 1.
 */
export function fractionOf(task: TaskState, now: number): number {
  if (task.status === 'finished') return 1;
  const since = Date.parse(String(task.data?.since ?? ''));
  const through = Date.parse(String(task.data?.through ?? ''));
  if (Number.isNaN(since) || Number.isNaN(through)) return 0;
  const until = task.data?.until ? Date.parse(String(task.data.until)) : now;
  if (!(until > since)) return 0;
  // Not 1 before the task says it has finished: the last batch may still be under way.
  return Math.min(Math.max((through - since) / (until - since), 0), 0.99);
}

const countOf = (task: TaskState) => Number(task.data?.deliveries ?? 0);

/**
 * The progress of task `name` (`recover`) on `stream`: a bar on a terminal, else lines.
 * `unit` names what the task counts (`deliveries`).
 */
export function taskProgress(
  name: string,
  unit: string,
  stream: ProgressStream = process.stderr,
  now: () => number = Date.now,
): Progress {
  const startedAt = now();
  return stream.isTTY
    ? barProgress(name, unit, stream, startedAt)
    : lineProgress(name, unit, stream, now, startedAt);
}

function barProgress(name: string, unit: string, stream: ProgressStream, startedAt: number): Progress {
  const bar = new SingleBar({
    stream: stream as NodeJS.WritableStream,
    format: `${name} [{bar}] {percentage}% | {count} ${unit} | {duration_formatted}`,
    barCompleteChar: '#',
    barIncompleteChar: '-',
    hideCursor: true,
    clearOnComplete: false,
    // Drawn on every update as well as on its timer, so a short task still shows its last state.
    forceRedraw: true,
  });
  bar.start(100, 0, { count: 0 });
  const draw = (task: TaskState) =>
    bar.update(Math.round(fractionOf(task, startedAt) * 100), { count: countOf(task) });
  return {
    update: draw,
    stop(task) {
      draw(task);
      bar.stop();
    },
  };
}

function lineProgress(
  name: string,
  unit: string,
  stream: ProgressStream,
  now: () => number,
  startedAt: number,
): Progress {
  let shownAt = Number.NEGATIVE_INFINITY;
  let shownCount = -1;
  const line = (task: TaskState, what: string) =>
    stream.write(`${name} ${task.id}: ${what}, ${countOf(task)} ${unit}\n`);
  return {
    update(task) {
      const count = countOf(task);
      if (count === shownCount && now() - shownAt < 1_000) return;
      shownAt = now();
      shownCount = count;
      line(task, `${Math.floor(fractionOf(task, startedAt) * 100)}% through the window`);
    },
    stop(task) {
      line(task, task.status === 'running' ? 'still running' : task.status);
    },
  };
}

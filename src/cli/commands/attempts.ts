/** `herald attempts`, `resend`, `recover`, `replay-missing` and `bulk-replay`: what was tried, and trying again. */
import { type Command, Option } from 'commander';
import type { attemptOut } from '../../api/serialize.js';
import { CliError, call, request } from '../manage.js';
import { more, show, table, time } from '../output.js';
import { taskProgress } from '../progress.js';
import type { DestinationOut } from './message.js';
import {
  appPath,
  clientOf,
  commaList,
  endpointPath,
  heraldCommand,
  type Managed,
  MOMENT_HELP,
  managed,
  moment,
  type Page,
  paged,
  pageQuery,
  seg,
} from './shared.js';

type AttemptOut = ReturnType<typeof attemptOut>;
/** How a delivery stands, from the message's or the endpoint's delivery list. */
interface DeliveryState {
  statusText: string;
  nextAttempt: string | null;
}
/** An attempt with its delivery's next try (`null` when none is planned or it is unknown). */
type ListedAttempt = AttemptOut & { nextAttempt: string | null };

const deliveryKey = (msgId: string, endpointId: string) => `${msgId} ${endpointId}`;

/** What comes next for a delivery, in words. */
function nextOf(state: DeliveryState | undefined): string {
  if (!state) return '-';
  if (state.statusText === 'pending') return state.nextAttempt ? time(state.nextAttempt) : 'due now';
  if (state.statusText === 'sending') return 'sending now';
  if (state.statusText === 'fail') return 'none: failed';
  return '-';
}

const result = (a: AttemptOut) =>
  `${a.statusText === 'success' ? 'ok' : 'failed'}${a.responseStatusCode ? ` ${a.responseStatusCode}` : ''}`;

const why = (a: AttemptOut) =>
  a.errorKind ? `${a.errorKind}${a.errorMessage ? `: ${a.errorMessage}` : ''}` : (a.errorMessage ?? '-');

type AttemptsOptions = Managed & {
  app: string;
  msg?: string;
  endpoint?: string;
  limit: number;
  iterator?: string;
};

/** The attempts asked for, and the states of their deliveries by {@link deliveryKey}. */
async function attemptsOf(o: AttemptsOptions) {
  const client = clientOf(o);
  const query = pageQuery(o);
  const states = new Map<string, DeliveryState>();
  const names = new Map<string, string>();
  if (o.msg !== undefined) {
    // The API filters a message's attempts by endpoint id only; the user may have given a uid.
    const endpointId =
      o.endpoint === undefined
        ? undefined
        : (await call<{ id: string }>(client, 'GET', endpointPath(o.app, o.endpoint))).id;
    const { body: page } = await request<Page<AttemptOut>>(
      client,
      'GET',
      appPath(o.app, `/attempt/msg/${seg(o.msg)}`),
      { query: { ...query, endpoint_id: endpointId } },
    );
    const msgId = page.data[0]?.msgId ?? o.msg;
    const destinations = await call<Page<DestinationOut>>(
      client,
      'GET',
      appPath(o.app, `/msg/${seg(msgId)}/endpoint`),
    );
    for (const d of destinations.data) {
      states.set(deliveryKey(msgId, d.id), d);
      names.set(d.id, d.uid ?? d.id);
    }
    return { page, states, names };
  }
  const { body: page } = await request<Page<AttemptOut>>(
    client,
    'GET',
    appPath(o.app, `/attempt/endpoint/${seg(o.endpoint!)}`),
    { query },
  );
  // The endpoint's newest deliveries: those of the attempts listed, unless a backlog is longer.
  const deliveries = await request<Page<DeliveryState & { id: string }>>(
    client,
    'GET',
    endpointPath(o.app, o.endpoint!, '/msg'),
    { query: { limit: '250', with_content: 'false' } },
  );
  const endpointId = page.data[0]?.endpointId;
  if (endpointId) for (const m of deliveries.body.data) states.set(deliveryKey(m.id, endpointId), m);
  return { page, states, names };
}

/** Adds `attempts`, `resend`, `recover`, `replay-missing` and `bulk-replay`. */
export function attemptCommands(program: Command): void {
  paged(
    managed(
      program.command('attempts').description("list a message's or an endpoint's attempts, newest first"),
    ),
  )
    .requiredOption('--app <app>', 'application id or uid')
    .option('--msg <msg>', "the message's attempts (message id or eventId)")
    .option('--endpoint <endpoint>', "the endpoint's attempts (endpoint id or uid); with --msg, to it only")
    .action(async (o: AttemptsOptions) => {
      if (o.msg === undefined && o.endpoint === undefined)
        throw new CliError('pass --msg or --endpoint (or both)');
      const { page, states, names } = await attemptsOf(o);
      const listed: ListedAttempt[] = page.data.map((a) => ({
        ...a,
        nextAttempt: states.get(deliveryKey(a.msgId, a.endpointId))?.nextAttempt ?? null,
      }));
      // The next try belongs to the delivery: shown on its newest attempt (the first listed).
      const seen = new Set<string>();
      const next = (a: AttemptOut) => {
        const key = deliveryKey(a.msgId, a.endpointId);
        if (seen.has(key)) return '';
        seen.add(key);
        return nextOf(states.get(key));
      };
      const byMessage = o.msg !== undefined;
      show(o, { ...page, data: listed }, () =>
        table(
          page.data,
          [
            { header: 'TIME', cell: (a) => time(a.timestamp) },
            byMessage
              ? { header: 'ENDPOINT', cell: (a) => names.get(a.endpointId) ?? a.endpointId }
              : { header: 'MESSAGE', cell: (a) => a.msgId },
            { header: 'TRIGGER', cell: (a) => (a.triggerType === 1 ? 'manual' : 'scheduled') },
            { header: 'RESULT', cell: result },
            { header: 'NEXT RETRY', cell: next },
            { header: 'ERROR', cell: why },
          ],
          'no attempts yet',
        ).concat(more(page)),
      );
    });

  managed(program.command('resend').description('send a message to an endpoint again, now'))
    .requiredOption('--app <app>', 'application id or uid')
    .requiredOption('--msg <msg>', 'message id')
    .requiredOption('--endpoint <endpoint>', 'endpoint id or uid')
    .action(async (o: Managed & { app: string; msg: string; endpoint: string }) => {
      await call(
        clientOf(o),
        'POST',
        appPath(o.app, `/msg/${seg(o.msg)}/endpoint/${seg(o.endpoint)}/resend`),
        {},
      );
      show(
        o,
        { resent: true },
        () =>
          `resent ${o.msg} to ${o.endpoint}: an attempt is due now. Follow it with: herald attempts --app ${o.app} --msg ${o.msg}\n`,
      );
    });

  const task = (
    name: string,
    description: string,
    done: (n: number, o: TaskOptions, cmd: Command) => string,
    /** The command's own options, and what they add to the task's body. */
    own: { options?: (c: Command) => Command; body?: (o: TaskOptions) => Record<string, unknown> } = {},
  ) =>
    (own.options ?? ((c: Command) => c))(
      managed(program.command(name).description(description))
        .requiredOption('--app <app>', 'application id or uid')
        .requiredOption('--endpoint <endpoint>', 'endpoint id or uid')
        .requiredOption('--since <time>', MOMENT_HELP, moment)
        .option('--until <time>', `up to (not including) this time: ${MOMENT_HELP}`, moment),
    ).action(async (o: TaskOptions, command: Command) => {
      const client = clientOf(o);
      const { body } = await request<TaskOut>(client, 'POST', endpointPath(o.app, o.endpoint, `/${name}`), {
        body: { since: o.since, ...(o.until ? { until: o.until } : {}), ...own.body?.(o) },
      });
      // The server does the work in the background; the command waits for it to end,
      // showing how far it has got (a bar on a terminal, lines otherwise; on stderr).
      let task: TaskOut = body;
      const progress = taskProgress(name, 'deliveries');
      progress.update(task);
      for (let waited = 0; task.status === 'running' && waited < TASK_WAIT_MS; waited += TASK_POLL_MS) {
        await new Promise((resolve) => setTimeout(resolve, TASK_POLL_MS));
        task = (await request<TaskOut>(client, 'GET', `/background-task/${seg(task.id)}`)).body;
        progress.update(task);
      }
      progress.stop(task);
      if (task.status === 'failed')
        throw new CliError(
          `${name} task ${task.id} failed: ${String(task.data?.error ?? 'no reason given')}`,
        );
      if (task.status === 'running') {
        show(
          o,
          task,
          () =>
            `${name} task ${task.id} is still running; follow it with GET /api/v1/background-task/${task.id}\n`,
        );
        return;
      }
      const n = Number(task.data?.deliveries ?? 0);
      show(o, { ...task, deliveries: n }, () => done(n, o, command));
    });
  const follow = (count: number, o: TaskOptions, cmd: Command) =>
    count === 0
      ? ''
      : ` Follow ${count === 1 ? 'it' : 'them'} with: ${heraldCommand(cmd, 'attempts', o.app, o.endpoint)}`;
  task(
    'recover',
    "send an endpoint's failed deliveries created since a time again, now",
    (count, o, cmd) =>
      `${plural(count, 'failed delivery', 'failed deliveries')} to ${o.endpoint} created since ${o.since} ${count === 1 ? 'is' : 'are'} due again now.${follow(count, o, cmd)}\n`,
  );
  task(
    'replay-missing',
    'send an endpoint the messages since a time that it never got (sent while it was disabled, or before it existed)',
    (count, o, cmd) =>
      `${plural(count, 'message', 'messages')} since ${o.since} that ${o.endpoint} never got ${count === 1 ? 'is' : 'are'} queued for it now.${follow(count, o, cmd)}\n`,
  );
  task(
    'bulk-replay',
    "send an endpoint's deliveries created since a time again, those matching the filters given",
    (count, o, cmd) =>
      `${plural(count, 'delivery', 'deliveries')} to ${o.endpoint} created since ${o.since} ${count === 1 ? 'is' : 'are'} due again now.${follow(count, o, cmd)}\n`,
    {
      options: (c) =>
        c
          .option('--events <types>', 'only messages of these event types (comma-separated)', commaList)
          .option('--channel <channel>', 'only messages on this channel')
          .option('--tag <tag>', 'only messages with this tag')
          .addOption(
            new Option('--status <status>', 'only deliveries in this state').choices(
              Object.keys(STATUS_CODES),
            ),
          )
          .addOption(
            new Option(
              '--status-code-class <class>',
              "only deliveries whose last answer's status was of this class (0: none)",
            ).choices(['0', '100', '200', '300', '400', '500']),
          ),
      body: (o) => ({
        ...(o.events && o.events.length > 0 ? { eventTypes: o.events } : {}),
        ...(o.channel ? { channel: o.channel } : {}),
        ...(o.tag ? { tag: o.tag } : {}),
        ...(o.status ? { status: STATUS_CODES[o.status as keyof typeof STATUS_CODES] } : {}),
        ...(o.statusCodeClass ? { statusCodeClass: Number(o.statusCodeClass) } : {}),
      }),
    },
  );
}

/** `--status` of bulk-replay as the API numbers a delivery's state. */
const STATUS_CODES = { success: 0, pending: 1, fail: 2, sending: 3 } as const;

/** A background task as the API answers it. */
interface TaskOut {
  id: string;
  status: 'running' | 'finished' | 'failed';
  task: string;
  data?: Record<string, unknown>;
}
/** How long `recover` and `replay-missing` wait for their task, checking this often. */
const TASK_WAIT_MS = 60_000;
const TASK_POLL_MS = 100;

type TaskOptions = Managed & {
  app: string;
  endpoint: string;
  since: string;
  until?: string;
  /** bulk-replay's filters. */
  events?: string[];
  channel?: string;
  tag?: string;
  status?: string;
  statusCodeClass?: string;
};

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

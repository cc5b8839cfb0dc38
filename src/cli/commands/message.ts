/** `herald send` and `herald message list|get`. */
import type { Command } from 'commander';
import type { deliveryStatus, endpointOut } from '../../api/serialize.js';
import { call, request } from '../manage.js';
import { fields, list, show, showPage, table, time } from '../output.js';
import {
  appPath,
  clientOf,
  jsonValue,
  type Managed,
  MOMENT_HELP,
  managed,
  moment,
  type Page,
  paged,
  pageQuery,
  repeatable,
  seg,
} from './shared.js';

/** A message as the API answers it. */
export interface MessageOut {
  id: string;
  eventType: string;
  eventId: string | null;
  channels: string[] | null;
  payload: unknown;
  timestamp: string;
}
/** A message's delivery to one endpoint, as `GET …/msg/{msg}/endpoint` lists it. */
export type DestinationOut = ReturnType<typeof endpointOut> & ReturnType<typeof deliveryStatus>;

const messageFields = (m: MessageOut) =>
  fields([
    ['id', m.id],
    ['event type', m.eventType],
    ['event id', m.eventId ?? '-'],
    ['channels', list(m.channels, '-')],
    ['time', time(m.timestamp)],
  ]);

/** Adds `send` and the `message` commands. */
export function messageCommands(program: Command): void {
  managed(program.command('send').description('send a message to an application'))
    .requiredOption('--app <app>', 'application id or uid')
    .requiredOption('--type <eventType>', 'event type')
    .requiredOption('--payload <json>', 'JSON payload object', jsonValue)
    .option('--event-id <id>', 'idempotency id of the event')
    .option('--channel <channel>', 'a channel of the message (repeatable)', repeatable, [])
    .action(
      async (
        o: Managed & { app: string; type: string; payload: unknown; eventId?: string; channel: string[] },
      ) => {
        const sent = await call<MessageOut>(clientOf(o), 'POST', appPath(o.app, '/msg'), {
          eventType: o.type,
          payload: o.payload,
          ...(o.eventId ? { eventId: o.eventId } : {}),
          ...(o.channel.length ? { channels: o.channel } : {}),
        });
        show(
          o,
          sent,
          () =>
            `${messageFields(sent)}Follow its attempts with: herald attempts --app ${o.app} --msg ${sent.id}\n`,
        );
      },
    );

  const message = program.command('message').description("look at an application's messages");

  paged(managed(message.command('list').description('list messages, newest first')))
    .requiredOption('--app <app>', 'application id or uid')
    .option('--event-type <type>', 'only this event type (repeatable)', repeatable, [])
    .option('--channel <channel>', 'only messages of this channel')
    .option('--before <time>', `only messages before it: ${MOMENT_HELP}`, moment)
    .option('--after <time>', `only messages after it: ${MOMENT_HELP}`, moment)
    .action(
      async (
        o: Managed & {
          app: string;
          eventType: string[];
          channel?: string;
          before?: string;
          after?: string;
        } & {
          limit: number;
          iterator?: string;
        },
      ) => {
        const { body: page } = await request<Page<MessageOut>>(clientOf(o), 'GET', appPath(o.app, '/msg'), {
          query: {
            ...pageQuery(o),
            event_types: o.eventType,
            channel: o.channel,
            before: o.before,
            after: o.after,
            with_content: o.json ? undefined : 'false',
          },
        });
        showPage(
          o,
          page,
          [
            { header: 'ID', cell: (m) => m.id },
            { header: 'EVENT TYPE', cell: (m) => m.eventType },
            { header: 'EVENT ID', cell: (m) => m.eventId ?? '-' },
            { header: 'CHANNELS', cell: (m) => list(m.channels, '-') },
            { header: 'TIME', cell: (m) => time(m.timestamp) },
          ],
          'no messages',
          // After a time alone, the API starts at the oldest page after it and goes forward.
          o.after !== undefined &&
            o.before === undefined &&
            (o.iterator === undefined || o.iterator.startsWith('-')),
        );
      },
    );

  managed(message.command('get').description('show a message, its payload and where it went'))
    .requiredOption('--app <app>', 'application id or uid')
    .requiredOption('--msg <msg>', 'message id or eventId')
    .action(async (o: Managed & { app: string; msg: string }) => {
      const client = clientOf(o);
      const found = await call<MessageOut>(client, 'GET', appPath(o.app, `/msg/${seg(o.msg)}`));
      if (o.json) return show(o, found, () => '');
      const { data } = await call<Page<DestinationOut>>(
        client,
        'GET',
        appPath(o.app, `/msg/${found.id}/endpoint`),
      );
      show(o, found, () =>
        [
          messageFields(found),
          `payload:\n${JSON.stringify(found.payload, null, 2)}\n\n`,
          table(
            data,
            [
              { header: 'ENDPOINT', cell: (d) => d.uid ?? d.id },
              { header: 'STATUS', cell: (d) => d.statusText },
              { header: 'NEXT ATTEMPT', cell: (d) => time(d.nextAttempt) },
              { header: 'URL', cell: (d) => d.url },
            ],
            'no endpoint receives it',
          ),
        ].join(''),
      );
    });
}

/** `herald endpoint list|create|get|update|disable|enable|delete`. */
import type { Command } from 'commander';
import type { endpointOut } from '../../api/serialize.js';
import { CliError, call, request } from '../manage.js';
import { fields, list, show, showPage, time } from '../output.js';
import {
  appPath,
  clientOf,
  commaList,
  endpointPath,
  heraldCommand,
  type Managed,
  managed,
  type Page,
  paged,
  pageQuery,
  repeatable,
} from './shared.js';

type EndpointOut = ReturnType<typeof endpointOut>;
interface Stats {
  success: number;
  pending: number;
  sending: number;
  fail: number;
}
type Target = Managed & { app: string; endpoint: string };

const nameOf = (e: EndpointOut) => e.uid ?? e.id;

const endpointFields = (e: EndpointOut, extra: [string, string][] = []) =>
  fields([
    ['id', e.id],
    ['uid', e.uid ?? '-'],
    ['url', e.url],
    ['state', e.disabled ? 'disabled' : 'enabled'],
    ['events', list(e.filterTypes, 'all')],
    ['channels', list(e.channels, 'all')],
    ['description', e.description || '-'],
    ['created', time(e.createdAt)],
    ...extra,
  ]);

/** Adds `--app` and `--endpoint`, both required. */
const targeted = (command: Command) =>
  managed(command)
    .requiredOption('--app <app>', 'application id or uid')
    .requiredOption('--endpoint <endpoint>', 'endpoint id or uid');

/** Adds the `endpoint` commands. */
export function endpointCommands(program: Command): void {
  const endpoint = program.command('endpoint').description('manage endpoints');

  managed(endpoint.command('create').description('create an endpoint; prints its signing secret'))
    .requiredOption('--app <app>', 'application id or uid')
    .requiredOption('--url <url>', 'where to POST')
    .option('--uid <uid>', 'your own unique id for it')
    .option('--events <types>', 'event types to receive, comma-separated (all if none)', commaList, [])
    .option('--event-type <type>', 'an event type to receive (repeatable)', repeatable, [])
    .option('--secret <whsec>', 'signing secret (generated if absent)')
    .option('--description <text>', 'what it is for')
    .action(
      async (
        o: Managed & { app: string; url: string; uid?: string; events: string[]; eventType: string[] } & {
          secret?: string;
          description?: string;
        },
      ) => {
        const types = [...o.events, ...o.eventType];
        const created = await call<EndpointOut>(clientOf(o), 'POST', appPath(o.app, '/endpoint'), {
          url: o.url,
          filterTypes: types.length ? types : null,
          ...(o.uid ? { uid: o.uid } : {}),
          ...(o.secret ? { secret: o.secret } : {}),
          ...(o.description ? { description: o.description } : {}),
        });
        const { key } = await call<{ key: string }>(
          clientOf(o),
          'GET',
          endpointPath(o.app, created.id, '/secret'),
        );
        show(o, { ...created, secret: key }, () => endpointFields(created, [['secret', key]]));
      },
    );

  paged(managed(endpoint.command('list').description("list an application's endpoints")))
    .requiredOption('--app <app>', 'application id or uid')
    .action(async (o: Managed & { app: string; limit: number; iterator?: string }) => {
      const { body: page } = await request<Page<EndpointOut>>(
        clientOf(o),
        'GET',
        appPath(o.app, '/endpoint'),
        {
          query: pageQuery(o),
        },
      );
      showPage(
        o,
        page,
        [
          { header: 'ID', cell: (e) => e.id },
          { header: 'UID', cell: (e) => e.uid ?? '-' },
          { header: 'STATE', cell: (e) => (e.disabled ? 'disabled' : 'enabled') },
          { header: 'EVENTS', cell: (e) => list(e.filterTypes, 'all') },
          { header: 'URL', cell: (e) => e.url },
        ],
        `no endpoints yet: add one with herald endpoint create --app ${o.app} --url <url>`,
      );
    });

  targeted(endpoint.command('get').description('show an endpoint and how its deliveries stand')).action(
    async (o: Target) => {
      const found = await call<EndpointOut>(clientOf(o), 'GET', endpointPath(o.app, o.endpoint));
      const s = await call<Stats>(clientOf(o), 'GET', endpointPath(o.app, o.endpoint, '/stats'));
      const deliveries = `${s.success} succeeded, ${s.pending} pending, ${s.sending} sending, ${s.fail} failed`;
      show(o, found, () => endpointFields(found, [['deliveries', deliveries]]));
    },
  );

  targeted(endpoint.command('update').description('change an endpoint; what is not given stays'))
    .option('--url <url>', 'where to POST')
    .option('--uid <uid>', 'your own unique id for it')
    .option('--events <types>', 'event types to receive, comma-separated', commaList)
    .option('--all-events', 'receive every event type')
    .option('--description <text>', 'what it is for')
    .option('--secret <whsec>', 'rotate to this signing secret (the old one also signs for 24 h)')
    .action(
      async (
        o: Target & { url?: string; uid?: string; events?: string[]; allEvents?: boolean } & {
          description?: string;
          secret?: string;
        },
      ) => {
        if (o.events && o.allEvents) throw new CliError('pass --events or --all-events, not both');
        const patch = {
          ...(o.url !== undefined ? { url: o.url } : {}),
          ...(o.uid !== undefined ? { uid: o.uid } : {}),
          ...(o.description !== undefined ? { description: o.description } : {}),
          ...(o.events ? { filterTypes: o.events } : o.allEvents ? { filterTypes: null } : {}),
        };
        if (Object.keys(patch).length === 0 && !o.secret)
          throw new CliError(
            'nothing to change: pass --url, --uid, --events, --all-events, --description or --secret',
          );
        const client = clientOf(o);
        if (o.secret)
          await call(client, 'POST', endpointPath(o.app, o.endpoint, '/secret/rotate'), { key: o.secret });
        const updated =
          Object.keys(patch).length > 0
            ? await call<EndpointOut>(client, 'PATCH', endpointPath(o.app, o.endpoint), patch)
            : await call<EndpointOut>(client, 'GET', endpointPath(o.app, o.endpoint));
        show(o, updated, () => endpointFields(updated));
      },
    );

  targeted(
    endpoint.command('disable').description('stop sending to an endpoint; what waits for it fails'),
  ).action(async (o: Target, command: Command) => {
    const updated = await call<EndpointOut>(clientOf(o), 'PATCH', endpointPath(o.app, o.endpoint), {
      disabled: true,
    });
    show(
      o,
      updated,
      () =>
        `endpoint ${nameOf(updated)} disabled: nothing is sent to it, and the deliveries that were waiting for it failed.\n` +
        `Enable it again with: ${heraldCommand(command, 'endpoint enable', o.app, nameOf(updated))}\n`,
    );
  });

  targeted(
    endpoint.command('enable').description('send to a disabled endpoint again; says how to send what failed'),
  ).action(async (o: Target, command: Command) => {
    const client = clientOf(o);
    const current = await call<EndpointOut>(client, 'GET', endpointPath(o.app, o.endpoint));
    if (!current.disabled) {
      show(
        o,
        { ...current, failedDeliveries: null },
        () => `endpoint ${nameOf(current)} is already enabled\n`,
      );
      return;
    }
    const { body: updated, headers } = await request<EndpointOut>(
      client,
      'PATCH',
      endpointPath(o.app, o.endpoint),
      {
        body: { disabled: false },
      },
    );
    // Herald counts them as it enables; `recover` from the endpoint's creation sends them all.
    const failed = Number(headers.get('herald-failed-deliveries') ?? 0);
    const since = updated.createdAt;
    const again = (what: string) =>
      `${heraldCommand(command, what, o.app, nameOf(updated))} --since ${since}`;
    show(o, { ...updated, failedDeliveries: failed, recoverSince: since }, () =>
      [
        `endpoint ${nameOf(updated)} enabled: Herald sends to it again.`,
        failed === 0
          ? 'None of its deliveries are failed.'
          : `It has ${failed} failed ${failed === 1 ? 'delivery' : 'deliveries'} (those that were waiting when it was disabled among them). Send ${failed === 1 ? 'it' : 'them'} again with:\n  ${again('recover')}`,
        `Messages sent while it was disabled were not queued for it. Send any there were with:\n  ${again('replay-missing')}`,
        '',
      ].join('\n'),
    );
  });

  targeted(
    endpoint.command('delete').description('delete an endpoint with its deliveries and attempts'),
  ).action(async (o: Target) => {
    await call(clientOf(o), 'DELETE', endpointPath(o.app, o.endpoint));
    show(o, { deleted: true }, () => `deleted endpoint ${o.endpoint}\n`);
  });
}

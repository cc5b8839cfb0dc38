/**
 * `herald operational-webhook list|create|get|enable|delete|secret`: the operator's endpoints
 * for operational events (`/api/v1/operational-webhook/endpoint`, admin token only).
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { operationalEndpointOut } from '../../api/routes/operational-webhooks.js';
import { CliError, call, request } from '../manage.js';
import { fields, list, show, showPage, time } from '../output.js';
import { clientOf, commaList, type Managed, managed, type Page, paged, pageQuery, seg } from './shared.js';

type OperationalOut = ReturnType<typeof operationalEndpointOut>;
type Target = Managed & { endpoint: string };

const ROOT = '/operational-webhook/endpoint';
const pathOf = (endpoint: string, rest = '') => `${ROOT}/${seg(endpoint)}${rest}`;
const nameOf = (e: OperationalOut) => e.uid ?? e.id;
const stateOf = (e: OperationalOut) =>
  e.disabled ? `disabled${e.disabledReason ? ` (${e.disabledReason})` : ''}` : 'enabled';

const endpointFields = (e: OperationalOut, extra: [string, string][] = []) =>
  fields([
    ['id', e.id],
    ['uid', e.uid ?? '-'],
    ['url', e.url],
    ['state', stateOf(e)],
    ...(e.disabledAt ? ([['disabled at', time(e.disabledAt)]] as [string, string][]) : []),
    ['events', list(e.filterTypes, 'all')],
    ['description', e.description || '-'],
    ['created', time(e.createdAt)],
    ...extra,
  ]);

/** Adds `--endpoint`, required. */
const targeted = (command: Command) =>
  managed(command).requiredOption('--endpoint <endpoint>', 'operational endpoint id or uid');

/** Adds the `operational-webhook` commands. */
export function operationalWebhookCommands(program: Command): void {
  const ops = program
    .command('operational-webhook')
    .description("the operator's endpoints for events about Herald itself (admin token)");

  managed(ops.command('create').description('add an operational endpoint; prints its signing secret'))
    .requiredOption('--url <url>', 'where to POST the events')
    .option('--uid <uid>', 'your own unique id for it')
    .option('--events <types>', 'events to receive, comma-separated (all if none)', commaList, [])
    .option('--secret <whsec>', 'signing secret (generated if absent)')
    .option('--description <text>', 'what it is for')
    .action(
      async (
        o: Managed & { url: string; uid?: string; events: string[]; secret?: string; description?: string },
      ) => {
        const client = clientOf(o);
        const created = await call<OperationalOut>(client, 'POST', ROOT, {
          url: o.url,
          filterTypes: o.events.length ? o.events : null,
          ...(o.uid ? { uid: o.uid } : {}),
          ...(o.secret ? { secret: o.secret } : {}),
          ...(o.description ? { description: o.description } : {}),
        });
        const { key } = await call<{ key: string }>(client, 'GET', pathOf(created.id, '/secret'));
        show(o, { ...created, secret: key }, () => endpointFields(created, [['secret', key]]));
      },
    );

  paged(managed(ops.command('list').description('list the operational endpoints'))).action(
    async (o: Managed & { limit: number; iterator?: string }) => {
      const { body: page } = await request<Page<OperationalOut>>(clientOf(o), 'GET', ROOT, {
        query: pageQuery(o),
      });
      showPage(
        o,
        page,
        [
          { header: 'ID', cell: (e) => e.id },
          { header: 'UID', cell: (e) => e.uid ?? '-' },
          { header: 'STATE', cell: stateOf },
          { header: 'EVENTS', cell: (e) => list(e.filterTypes, 'all') },
          { header: 'URL', cell: (e) => e.url },
        ],
        'no operational endpoints yet: add one with herald operational-webhook create --url <url>',
      );
    },
  );

  targeted(ops.command('get').description('show an operational endpoint')).action(async (o: Target) => {
    const found = await call<OperationalOut>(clientOf(o), 'GET', pathOf(o.endpoint));
    show(o, found, () => endpointFields(found));
  });

  targeted(
    ops.command('enable').description('send events to an operational endpoint Herald (or a PUT) disabled'),
  ).action(async (o: Target) => {
    const client = clientOf(o);
    const current = await call<OperationalOut>(client, 'GET', pathOf(o.endpoint));
    if (!current.disabled) {
      show(o, current, () => `operational endpoint ${nameOf(current)} is already enabled\n`);
      return;
    }
    // PUT replaces the endpoint: its current fields go back with `disabled` false.
    const updated = await call<OperationalOut>(client, 'PUT', pathOf(current.id), {
      url: current.url,
      uid: current.uid,
      description: current.description,
      filterTypes: current.filterTypes,
      metadata: current.metadata,
      rateLimit: current.rateLimit,
      disabled: false,
    });
    show(
      o,
      updated,
      () =>
        `operational endpoint ${nameOf(updated)} enabled: events are sent to it again (those emitted while it was disabled are not)\n`,
    );
  });

  targeted(ops.command('delete').description('delete an operational endpoint')).action(async (o: Target) => {
    await call(clientOf(o), 'DELETE', pathOf(o.endpoint));
    show(o, { deleted: true }, () => `deleted operational endpoint ${o.endpoint}\n`);
  });

  targeted(ops.command('secret').description("print an operational endpoint's signing secret (or rotate it)"))
    .option('--rotate', 'make a new secret current; the old one keeps signing for --grace')
    .option('--key <whsec>', 'with --rotate: the new secret (generated if absent)')
    .option('--grace <seconds>', 'with --rotate: how long the old secret still signs', seconds, 86_400)
    .action(async (o: Target & { rotate?: boolean; key?: string; grace: number }, command: Command) => {
      if (!o.rotate && (o.key !== undefined || command.getOptionValueSource('grace') === 'cli'))
        throw new CliError('--key and --grace go with --rotate');
      const client = clientOf(o);
      if (o.rotate)
        await call(client, 'POST', pathOf(o.endpoint, '/secret/rotate'), {
          ...(o.key ? { key: o.key } : {}),
          gracePeriodSeconds: o.grace,
        });
      const secret = await call<{ key: string }>(client, 'GET', pathOf(o.endpoint, '/secret'));
      show(o, secret, () => `${secret.key}\n`);
    });
}

/** A whole number of seconds, 0 or more. */
function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number of seconds');
  return n;
}

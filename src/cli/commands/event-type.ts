/** `herald event-type list|create`: the catalog of event types. */
import type { Command } from 'commander';
import type { eventTypeOut } from '../../api/serialize.js';
import { call, request } from '../manage.js';
import { fields, show, showPage } from '../output.js';
import { clientOf, type Managed, managed, type Page, paged, pageQuery } from './shared.js';

type EventTypeOut = ReturnType<typeof eventTypeOut>;

/** Adds the `event-type` commands. */
export function eventTypeCommands(program: Command): void {
  const eventType = program.command('event-type').description('the catalog of event types');

  paged(managed(eventType.command('list').description('list event types'))).action(
    async (o: Managed & { limit: number; iterator?: string }) => {
      const { body: page } = await request<Page<EventTypeOut>>(clientOf(o), 'GET', '/event-type', {
        query: pageQuery(o),
      });
      showPage(
        o,
        page,
        [
          { header: 'NAME', cell: (e) => e.name },
          { header: 'ARCHIVED', cell: (e) => (e.archived ? 'yes' : 'no') },
          { header: 'DESCRIPTION', cell: (e) => e.description || '-' },
        ],
        'no event types yet: add one with herald event-type create --name <name>',
      );
    },
  );

  managed(eventType.command('create').description('add an event type (or replace the one of that name)'))
    .requiredOption('--name <name>', 'its name, e.g. order.paid')
    .option('--description <text>', 'what it means', '')
    .action(async (o: Managed & { name: string; description: string }) => {
      const created = await call<EventTypeOut>(clientOf(o), 'POST', '/event-type', {
        name: o.name,
        description: o.description,
      });
      show(o, created, () =>
        fields([
          ['name', created.name],
          ['description', created.description || '-'],
        ]),
      );
    });
}

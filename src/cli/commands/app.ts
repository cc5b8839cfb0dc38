/** `herald app list|create|get|delete`. */
import type { Command } from 'commander';
import type { applicationOut } from '../../api/serialize.js';
import { call, request } from '../manage.js';
import { fields, show, showPage, time } from '../output.js';
import { appPath, clientOf, type Managed, managed, type Page, paged, pageQuery } from './shared.js';

type AppOut = ReturnType<typeof applicationOut>;

const appFields = (a: AppOut) =>
  fields([
    ['id', a.id],
    ['uid', a.uid ?? '-'],
    ['name', a.name],
    ['created', time(a.createdAt)],
  ]);

/** Adds the `app` commands. */
export function appCommands(program: Command): void {
  const app = program.command('app').description('manage applications');

  managed(app.command('create').description('create an application'))
    .requiredOption('--name <name>', 'display name')
    .option('--uid <uid>', 'your own unique id for it')
    .action(async (o: Managed & { name: string; uid?: string }) => {
      const created = await call<AppOut>(clientOf(o), 'POST', '/app', { name: o.name, uid: o.uid ?? null });
      show(o, created, () => appFields(created));
    });

  paged(managed(app.command('list').description('list applications'))).action(
    async (o: Managed & { limit: number; iterator?: string }) => {
      const { body: page } = await request<Page<AppOut>>(clientOf(o), 'GET', '/app', { query: pageQuery(o) });
      showPage(
        o,
        page,
        [
          { header: 'ID', cell: (a) => a.id },
          { header: 'UID', cell: (a) => a.uid ?? '-' },
          { header: 'NAME', cell: (a) => a.name },
          { header: 'CREATED', cell: (a) => time(a.createdAt) },
        ],
        'no applications yet: create one with herald app create --name <name>',
      );
    },
  );

  managed(app.command('get').description('show an application'))
    .requiredOption('--app <app>', 'application id or uid')
    .action(async (o: Managed & { app: string }) => {
      const found = await call<AppOut>(clientOf(o), 'GET', appPath(o.app));
      show(o, found, () => appFields(found));
    });

  managed(
    app.command('delete').description('delete an application with its endpoints, messages and attempts'),
  )
    .requiredOption('--app <app>', 'application id or uid')
    .action(async (o: Managed & { app: string }) => {
      await call(clientOf(o), 'DELETE', appPath(o.app));
      show(o, { deleted: true }, () => `deleted application ${o.app}\n`);
    });
}

/** `herald source list|create|requests`: inbound sources (admin token only). */
import { type Command, Option } from 'commander';
import { SOURCE_PROVIDERS } from '../../store/normalise.js';
import { call, request } from '../manage.js';
import { fields, show, showPage, time } from '../output.js';
import { clientOf, type Managed, managed, type Page, paged, pageQuery, repeatable, seg } from './shared.js';

interface SourceOut {
  id: string;
  name: string;
  provider: string;
  appId: string;
  passthroughHeaders: boolean;
  ingestUrl: string;
  createdAt: string;
}
interface InboundOut {
  id: string;
  status: string;
  reason: string | null;
  msgId: string | null;
  bodySize: number;
  timestamp: string;
}

/** Adds the `source` commands. */
export function sourceCommands(program: Command): void {
  const source = program.command('source').description("receive third-party providers' webhooks");

  paged(managed(source.command('list').description('list sources'))).action(
    async (o: Managed & { limit: number; iterator?: string }) => {
      const { body: page } = await request<Page<SourceOut>>(clientOf(o), 'GET', '/source', {
        query: pageQuery(o),
      });
      showPage(
        o,
        page,
        [
          { header: 'ID', cell: (s) => s.id },
          { header: 'NAME', cell: (s) => s.name },
          { header: 'PROVIDER', cell: (s) => s.provider },
          { header: 'APP', cell: (s) => s.appId },
          { header: 'INGEST URL', cell: (s) => s.ingestUrl },
        ],
        'no sources yet: create one with herald source create',
      );
    },
  );

  managed(source.command('create').description('create a source; give its ingest URL to the provider'))
    .requiredOption('--name <name>', 'display name')
    .addOption(
      new Option('--provider <provider>', 'how its requests are verified')
        .choices(SOURCE_PROVIDERS)
        .makeOptionMandatory(),
    )
    .requiredOption('--app <app>', 'application (id or uid) whose endpoints get what arrives')
    .option('--secret <secret>', "the provider's webhook secret (repeatable, for rotation)", repeatable, [])
    .option('--passthrough-headers', "forward the provider's headers too", false)
    .action(
      async (
        o: Managed & {
          name: string;
          provider: string;
          app: string;
          secret: string[];
          passthroughHeaders: boolean;
        },
      ) => {
        const created = await call<SourceOut>(clientOf(o), 'POST', '/source', {
          name: o.name,
          provider: o.provider,
          appId: o.app,
          secrets: o.secret,
          passthroughHeaders: o.passthroughHeaders,
        });
        show(o, created, () =>
          fields([
            ['id', created.id],
            ['name', created.name],
            ['provider', created.provider],
            ['app', created.appId],
            ['ingest url', created.ingestUrl],
          ]).concat('Give the ingest URL to the provider as its webhook URL.\n'),
        );
      },
    );

  paged(managed(source.command('requests').description('list what a source received, newest first')))
    .requiredOption('--source <source>', 'source id')
    .action(async (o: Managed & { source: string; limit: number; iterator?: string }) => {
      const { body: page } = await request<Page<InboundOut>>(
        clientOf(o),
        'GET',
        `/source/${seg(o.source)}/request`,
        {
          query: pageQuery(o),
        },
      );
      showPage(
        o,
        page,
        [
          { header: 'TIME', cell: (r) => time(r.timestamp) },
          { header: 'ID', cell: (r) => r.id },
          { header: 'STATUS', cell: (r) => r.status },
          { header: 'REASON', cell: (r) => r.reason ?? '-' },
          { header: 'MESSAGE', cell: (r) => r.msgId ?? '-' },
          { header: 'BYTES', cell: (r) => String(r.bodySize) },
        ],
        'nothing received yet',
      );
    });
}

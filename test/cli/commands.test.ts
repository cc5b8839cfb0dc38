/**
 * The management commands as a person uses them, through `node bin/herald.js` against a real
 * `herald serve`: tables and fields by default, the API's JSON with `--json`, errors that say
 * what to do, and required flags marked in `--help`.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { api, cliEnv, eventually, herald, ok } from './run.js';

// Every command is a node process of its own: about 1 s each on a loaded 2-core machine, so
// a test of a dozen commands needs more than the 20 s default.
vi.setConfig({ testTimeout: 60_000 });

let server: HeraldProcess;
let receiver: Receiver;
beforeAll(async () => {
  [server, receiver] = await Promise.all([
    startHerald(),
    startReceiver((req, res) => {
      res.statusCode = req.url.endsWith('/failing') ? 500 : 200;
      res.end();
    }),
  ]);
  await server.post('/app', { name: 'Shop', uid: 'shop' });
});
afterAll(async () => {
  await receiver.close();
  await server.stop();
});

const run = (...args: string[]) => ok(server, args);
const lines = async (...args: string[]) => (await run(...args)).trimEnd().split('\n');
/** A table's time, as the CLI prints an API time. */
const shown = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
const TIME = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ';

describe('app', () => {
  it('create, get, list and delete: fields and tables, or the JSON with --json', async () => {
    expect(await run('app', 'create', '--name', 'Blog', '--uid', 'blog')).toMatch(
      new RegExp(`^id: +app_\\w+\\nuid: +blog\\nname: +Blog\\ncreated: +${TIME}\\n$`),
    );
    const blog = JSON.parse(await run('app', 'get', '--app', 'blog', '--json'));
    expect(blog).toMatchObject({ uid: 'blog', name: 'Blog', id: expect.stringMatching(/^app_/) });
    const list = await lines('app', 'list');
    expect(list[0]).toMatch(/^ID +UID +NAME +CREATED$/);
    expect(list).toContainEqual(expect.stringMatching(new RegExp(`^${blog.id}  blog  Blog  ${TIME}$`)));
    expect(list).toHaveLength(3);
    const first = await lines('app', 'list', '--limit', '1');
    expect(first).toHaveLength(3);
    expect(first[2]).toMatch(/^more: add --iterator app_\w+$/);
    expect(JSON.parse(await run('app', 'list', '--json')).data.map((a: { uid: string }) => a.uid)).toEqual(
      expect.arrayContaining(['shop', 'blog']),
    );

    expect(await run('app', 'delete', '--app', 'blog')).toBe('deleted application blog\n');
    const gone = await herald(['app', 'get', '--app', 'blog'], cliEnv(server));
    expect(gone).toMatchObject({ code: 2, stdout: '', stderr: 'herald: application blog not found\n' });
  });
});

describe('event-type', () => {
  it('create and list', async () => {
    expect(
      await run('event-type', 'create', '--name', 'order.paid', '--description', 'An order was paid'),
    ).toBe('name:        order.paid\ndescription: An order was paid\n');
    await run('event-type', 'create', '--name', 'order.refunded');
    expect(await lines('event-type', 'list')).toEqual([
      'NAME            ARCHIVED  DESCRIPTION',
      'order.paid      no        An order was paid',
      'order.refunded  no        -',
    ]);
  });
});

describe('endpoint', () => {
  it('create with --uid, --events, --secret, --description; list; get; update; delete', async () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const created = await lines(
      'endpoint',
      'create',
      '--app',
      'shop',
      '--url',
      receiver.url,
      '--uid',
      'main',
      '--events',
      'order.paid,order.refunded',
      '--secret',
      secret,
      '--description',
      'The shop',
    );
    expect(created).toEqual([
      expect.stringMatching(/^id: +ep_\w+$/),
      'uid:         main',
      `url:         ${receiver.url}`,
      'state:       enabled',
      'events:      order.paid,order.refunded',
      'channels:    all',
      'description: The shop',
      expect.stringMatching(new RegExp(`^created: +${TIME}$`)),
      `secret:      ${secret}`,
    ]);
    const id = created[0]!.split(/ +/)[1];
    expect(await lines('endpoint', 'list', '--app', 'shop')).toEqual([
      expect.stringMatching(/^ID +UID +STATE +EVENTS +URL$/),
      `${id}  main  enabled  order.paid,order.refunded  ${receiver.url}`,
    ]);
    expect(await run('endpoint', 'get', '--app', 'shop', '--endpoint', 'main')).toContain(
      'deliveries:  0 succeeded, 0 pending, 0 sending, 0 failed\n',
    );

    const updated = await run(
      'endpoint',
      'update',
      '--app',
      'shop',
      '--endpoint',
      'main',
      '--url',
      `${receiver.url}?v=2`,
      '--all-events',
      '--description',
      'v2',
    );
    expect(updated).toContain(`url:         ${receiver.url}?v=2\n`);
    expect(updated).toContain('events:      all\n');
    expect(
      JSON.parse(await run('endpoint', 'get', '--app', 'shop', '--endpoint', 'main', '--json')),
    ).toMatchObject({
      id,
      url: `${receiver.url}?v=2`,
      filterTypes: null,
      description: 'v2',
      disabled: false,
    });
    const rotated = `whsec_${randomBytes(24).toString('base64')}`;
    await run('endpoint', 'update', '--app', 'shop', '--endpoint', 'main', '--secret', rotated);
    expect((await api(server, 'GET', '/app/shop/endpoint/main/secret')).body.key).toBe(rotated);
    const nothing = await herald(
      ['endpoint', 'update', '--app', 'shop', '--endpoint', 'main'],
      cliEnv(server),
    );
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/^herald: nothing to change: pass --url/);

    await run('endpoint', 'create', '--app', 'shop', '--url', receiver.url, '--uid', 'spare');
    expect(await run('endpoint', 'delete', '--app', 'shop', '--endpoint', 'spare')).toBe(
      'deleted endpoint spare\n',
    );
    expect((await api(server, 'GET', '/app/shop/endpoint/spare')).status).toBe(404);
  });
});

describe('send, message list and get, attempts', () => {
  it('list filters by event type, channel, time and page; get shows the payload and where it went', async () => {
    const sent = await run(
      'send',
      '--app',
      'shop',
      '--type',
      'order.paid',
      '--payload',
      '{"total": 5}',
      '--channel',
      'eu',
    );
    const first = /^id: +(msg_\w+)$/m.exec(sent)![1]!;
    expect(sent).toContain(`Follow its attempts with: herald attempts --app shop --msg ${first}\n`);
    await run('send', '--app', 'shop', '--type', 'order.refunded', '--payload', '{"total": 5}');
    const third = JSON.parse(
      await run(
        'send',
        '--app',
        'shop',
        '--type',
        'order.paid',
        '--payload',
        '{"total": 7}',
        '--event-id',
        'order-3',
        '--json',
      ),
    );

    const all = await lines('message', 'list', '--app', 'shop');
    expect(all[0]).toMatch(/^ID +EVENT TYPE +EVENT ID +CHANNELS +TIME$/);
    expect(all).toHaveLength(4);
    expect(all[1]).toMatch(new RegExp(`^${third.id}  order.paid +order-3 +- +${TIME}$`));
    expect(all[3]).toMatch(new RegExp(`^${first}  order.paid +- +eu +${TIME}$`));
    expect(await lines('message', 'list', '--app', 'shop', '--event-type', 'order.refunded')).toHaveLength(2);
    expect(await lines('message', 'list', '--app', 'shop', '--channel', 'eu')).toEqual([
      expect.stringMatching(/^ID +EVENT TYPE +EVENT ID +CHANNELS +TIME$/),
      expect.stringMatching(new RegExp(`^${first}  order.paid  -  +eu  +${TIME}$`)),
    ]);
    expect(await lines('message', 'list', '--app', 'shop', '--limit', '2')).toEqual([
      ...all.slice(0, 3),
      expect.stringMatching(/^more: add --iterator msg_\w+$/),
    ]);
    expect(await run('message', 'list', '--app', 'shop', '--after', '1h')).toBe(`${all.join('\n')}\n`);
    expect(await run('message', 'list', '--app', 'shop', '--before', '1h')).toBe('no messages\n');
    const json = JSON.parse(
      await run('message', 'list', '--app', 'shop', '--event-type', 'order.paid', '--json'),
    );
    expect(json.data.map((m: { payload: unknown }) => m.payload)).toEqual([{ total: 7 }, { total: 5 }]);
    const bad = await herald(['message', 'list', '--app', 'shop', '--after', 'yesterday'], cliEnv(server));
    expect(bad.stderr).toMatch(
      /--after <time>' argument 'yesterday' is invalid\. must be an ISO 8601 time, or how long ago/,
    );

    await eventually(
      () => api(server, 'GET', `/app/shop/msg/${third.id}/endpoint`),
      (r) => r.body.data[0]?.statusText === 'success',
    );
    const got = await run('message', 'get', '--app', 'shop', '--msg', 'order-3');
    expect(got).toMatch(
      new RegExp(
        `^id: +${third.id}\\nevent type: order.paid\\nevent id: +order-3\\nchannels: +-\\ntime: +${TIME}\\npayload:\\n\\{\\n  "total": 7\\n\\}\\n\\n` +
          'ENDPOINT +STATUS +NEXT ATTEMPT +URL\\n' +
          `main +success +- +${receiver.url.replace(/[.?]/g, '\\$&')}\\?v=2\\n$`,
      ),
    );
    expect(JSON.parse(await run('message', 'get', '--app', 'shop', '--msg', third.id, '--json'))).toEqual(
      third,
    );
  });

  it('attempts by endpoint or message show the result, the error and when a failed delivery is tried next', async () => {
    await server.post('/app', { name: 'Retries', uid: 'retries' });
    await server.post('/app/retries/endpoint', { url: receiver.url, uid: 'fine' });
    // Retried an hour later, so the next retry shown stays the one read here.
    await server.post('/app/retries/endpoint', {
      url: `${receiver.url}/failing`,
      uid: 'failing',
      retrySchedule: [3600],
    });
    const msg = JSON.parse(
      await run('send', '--app', 'retries', '--type', 'a.b', '--payload', '{}', '--json'),
    );
    type Destination = { uid: string; statusText: string; nextAttempt: string | null };
    const { body } = await eventually(
      () => api(server, 'GET', `/app/retries/msg/${msg.id}/endpoint`),
      (r) =>
        r.body.data.some((d: Destination) => d.uid === 'failing' && d.nextAttempt) &&
        r.body.data.some((d: Destination) => d.uid === 'fine' && d.statusText === 'success'),
    );
    const next = body.data.find((d: Destination) => d.uid === 'failing').nextAttempt;
    expect(await lines('attempts', '--app', 'retries', '--endpoint', 'failing')).toEqual([
      'TIME                  MESSAGE                          TRIGGER    RESULT      NEXT RETRY            ERROR',
      expect.stringMatching(
        new RegExp(`^${TIME}  ${msg.id}  scheduled  failed 500  ${shown(next)}  http_status$`),
      ),
    ]);
    const byMsg = await lines('attempts', '--app', 'retries', '--msg', msg.id);
    expect(byMsg[0]).toMatch(/^TIME +ENDPOINT +TRIGGER +RESULT +NEXT RETRY +ERROR$/);
    expect(byMsg.slice(1).sort()).toEqual([
      expect.stringMatching(
        new RegExp(`^${TIME}  failing +scheduled  failed 500  ${shown(next)}  http_status$`),
      ),
      expect.stringMatching(new RegExp(`^${TIME}  fine +scheduled  ok 200 +- +-$`)),
    ]);
    const json = JSON.parse(await run('attempts', '--app', 'retries', '--endpoint', 'failing', '--json'));
    expect(json.data).toEqual([
      expect.objectContaining({
        msgId: msg.id,
        responseStatusCode: 500,
        errorKind: 'http_status',
        nextAttempt: next,
      }),
    ]);
  });
});

describe('source', () => {
  it('create, list, and the requests it received', async () => {
    const created = await run(
      'source',
      'create',
      '--name',
      'Billing',
      '--provider',
      'hmac',
      '--secret',
      's3cret',
      '--app',
      'shop',
    );
    const id = /^id: +(src_\w+)$/m.exec(created)![1]!;
    const ingest = `${server.url}/in/${id}`;
    expect(created).toContain(
      `ingest url: ${ingest}\nGive the ingest URL to the provider as its webhook URL.\n`,
    );
    expect(await lines('source', 'list')).toEqual([
      expect.stringMatching(/^ID +NAME +PROVIDER +APP +INGEST URL$/),
      expect.stringMatching(new RegExp(`^${id}  Billing  hmac +app_\\w+  ${ingest}$`)),
    ]);
    const forged = await fetch(ingest, {
      method: 'POST',
      headers: { 'x-signature': 'sha256=00' },
      body: '{"a":1}',
    });
    expect(forged.status).toBe(401);
    expect(await lines('source', 'requests', '--source', id)).toEqual([
      expect.stringMatching(/^TIME +ID +STATUS +REASON +MESSAGE +BYTES$/),
      expect.stringMatching(new RegExp(`^${TIME}  inreq_\\w+  rejected  no_matching_signature  -  +7$`)),
    ]);
    const wrong = await herald(
      ['source', 'create', '--name', 'x', '--provider', 'gitlab', '--app', 'shop'],
      cliEnv(server),
    );
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(
      /'--provider <provider>' argument 'gitlab' is invalid\. Allowed choices are github, stripe/,
    );
  });
});

describe('errors and help', () => {
  it('say what is wrong and what to do', async () => {
    const env = cliEnv(server);
    expect(await herald(['app', 'list'], { ...env, HERALD_TOKEN: 'herald_admin_wrong' })).toMatchObject({
      code: 2,
      stderr: 'herald: the token was refused: set HERALD_TOKEN or pass --token\n',
    });
    expect(await herald(['endpoint', 'list', '--app', 'nope'], env)).toMatchObject({
      code: 2,
      stderr: 'herald: application nope not found\n',
    });
    const refused = await herald(['endpoint', 'create', '--app', 'shop', '--url', 'ftp://example.com/'], env);
    expect(refused).toMatchObject({
      code: 2,
      stderr: 'herald: Herald refused the input: url: must use http or https\n',
    });
    expect(await herald(['attempts', '--app', 'shop'], env)).toMatchObject({
      code: 2,
      stderr: 'herald: pass --msg or --endpoint (or both)\n',
    });
    const missing = await herald(['recover', '--app', 'shop', '--endpoint', 'main'], env);
    expect(missing.stderr).toMatch(/required option '--since <time>' not specified/);
  });

  it('--help marks the required flags', async () => {
    const help = await herald(['endpoint', 'create', '--help']);
    expect(help.stdout).toMatch(/^ {2}--app <app> +application id or uid \(required\)$/m);
    expect(help.stdout).toMatch(/^ {2}--url <url> +where to POST \(required\)$/m);
    expect(help.stdout).toMatch(/^ {2}--uid <uid> +your own unique id for it$/m);
    expect(help.stdout).toMatch(/^ {2}--json +print the API's JSON instead of a table$/m);
  });
});

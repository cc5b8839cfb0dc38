/**
 * `herald operational-webhook` against a real `herald serve`: create (printing the secret
 * that verifies the events), list, get, secret and its rotation, enable after Herald disabled
 * the endpoint on a 410, delete; `--json` prints the API's JSON; an application token is
 * refused, as the API refuses it.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyStandardWebhook } from '../../src/verify/index.js';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { api, cliEnv, eventually, herald, ok } from './run.js';

// Every command is a node process of its own: about 1 s each on a loaded 2-core machine.
vi.setConfig({ testTimeout: 60_000 });

let server: HeraldProcess;
let ops: Receiver;
/** What the operational receiver answers: 410 Gone makes Herald disable it. */
let answer = 200;
beforeAll(async () => {
  [server, ops] = await Promise.all([startHerald(), startReceiver((_r, res) => res.writeHead(answer).end())]);
  await server.post('/app', { name: 'Shop', uid: 'shop' });
});
afterAll(async () => {
  await ops.close();
  await server.stop();
});

const run = (...args: string[]) => ok(server, args);
const lines = async (...args: string[]) => (await run(...args)).trimEnd().split('\n');
const TIME = '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ';

/** Creates an endpoint of the shop: Herald tells the operational endpoints `endpoint.created`. */
const createEndpoint = () => server.post('/app/shop/endpoint', { url: 'http://127.0.0.1:9/shop' });

describe('herald operational-webhook', () => {
  it('create prints the secret that verifies its events; list, get, secret --rotate, delete', async () => {
    const created = await lines(
      'operational-webhook',
      'create',
      '--url',
      ops.url,
      '--uid',
      'pager',
      '--events',
      'endpoint.created,endpoint.disabled',
      '--description',
      'On call',
    );
    expect(created).toEqual([
      expect.stringMatching(/^id: +ep_\w+$/),
      'uid:         pager',
      `url:         ${ops.url}`,
      'state:       enabled',
      'events:      endpoint.created,endpoint.disabled',
      'description: On call',
      expect.stringMatching(new RegExp(`^created: +${TIME}$`)),
      expect.stringMatching(/^secret: +whsec_\S+$/),
    ]);
    const id = created[0]!.split(/ +/)[1]!;
    const secret = created.at(-1)!.split(/ +/)[1]!;
    expect(await lines('operational-webhook', 'list')).toEqual([
      expect.stringMatching(/^ID +UID +STATE +EVENTS +URL$/),
      `${id}  pager  enabled  endpoint.created,endpoint.disabled  ${ops.url}`,
    ]);
    expect(
      JSON.parse(await run('operational-webhook', 'get', '--endpoint', 'pager', '--json')),
    ).toMatchObject({
      id,
      uid: 'pager',
      filterTypes: ['endpoint.created', 'endpoint.disabled'],
      disabled: false,
    });

    // The printed secret verifies what Herald sends.
    const before = ops.received.length;
    await createEndpoint();
    await ops.arrived(before + 1);
    const event = ops.received[before]!;
    expect(verifyStandardWebhook(secret, event.headers, event.body)).toMatch(/^msg_/);
    expect(JSON.parse(event.body).type).toBe('endpoint.created');

    expect(await run('operational-webhook', 'secret', '--endpoint', 'pager')).toBe(`${secret}\n`);
    const rotated = (await run('operational-webhook', 'secret', '--endpoint', 'pager', '--rotate')).trim();
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    const key = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(
      JSON.parse(
        await run('operational-webhook', 'secret', '--endpoint', id, '--rotate', '--key', key, '--json'),
      ),
    ).toEqual({ key });
    const misuse = await herald(
      ['operational-webhook', 'secret', '--endpoint', id, '--key', key],
      cliEnv(server),
    );
    expect(misuse).toMatchObject({ code: 2, stderr: 'herald: --key and --grace go with --rotate\n' });

    expect(await run('operational-webhook', 'delete', '--endpoint', 'pager')).toBe(
      'deleted operational endpoint pager\n',
    );
    expect(await run('operational-webhook', 'list')).toBe(
      'no operational endpoints yet: add one with herald operational-webhook create --url <url>\n',
    );
  });

  it('enable: an endpoint Herald disabled (410) is shown with its reason, and enabled keeps its fields', async () => {
    answer = 410;
    const id = JSON.parse(
      await run('operational-webhook', 'create', '--url', ops.url, '--events', 'endpoint.created', '--json'),
    ).id as string;
    await createEndpoint();
    await eventually(
      async () => (await api(server, 'GET', `/operational-webhook/endpoint/${id}`)).body,
      (e) => e.disabled === true,
    );
    expect(await run('operational-webhook', 'get', '--endpoint', id)).toMatch(
      new RegExp(`state: +disabled \\(gone\\)\\ndisabled at: +${TIME}\\n`),
    );

    answer = 200;
    expect(await run('operational-webhook', 'enable', '--endpoint', id)).toBe(
      `operational endpoint ${id} enabled: events are sent to it again (those emitted while it was disabled are not)\n`,
    );
    expect((await api(server, 'GET', `/operational-webhook/endpoint/${id}`)).body).toMatchObject({
      url: ops.url,
      filterTypes: ['endpoint.created'],
      disabled: false,
      disabledReason: null,
    });
    const before = ops.received.length;
    await createEndpoint();
    await ops.arrived(before + 1);
    expect(JSON.parse(ops.received[before]!.body).type).toBe('endpoint.created');
    expect(await run('operational-webhook', 'enable', '--endpoint', id)).toBe(
      `operational endpoint ${id} is already enabled\n`,
    );
    await run('operational-webhook', 'delete', '--endpoint', id);
  });

  it('asks for the admin token: an application token is refused', async () => {
    const { token } = (await server.post('/auth/app-portal-access/shop', {})) as unknown as { token: string };
    const refused = await herald(['operational-webhook', 'list'], { ...cliEnv(server), HERALD_TOKEN: token });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^herald: .+\n$/);
    expect(refused.stdout).toBe('');
  });
});

/**
 * The dashboard's management views as an operator clicks them, in Debian's chromium against a
 * real `herald serve` (dist/, on the store of HERALD_TEST_DB) and real receivers on 127.0.0.1:
 * a source verifying signed requests, rotated, replayed, renamed and deleted; an operational
 * webhook endpoint added, edited, given headers and a rotated secret, whose events arrive
 * signed at a receiver; an event type's schema edited with the API's refusals shown; and
 * axe-core on every view.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { type Browser, chromium, type Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from '../../scripts/portal-demo.js';
import { type Received, type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { adminCall, axeViolations, dashboardPage, until } from './harness.js';

let herald: HeraldProcess;
let receiver: Receiver;
let browser: Browser;
let appId: string;
/** Requests to /hold wait here for the end of the file: their deliveries stay "sending". */
const held: ServerResponse[] = [];

const admin = (method: string, path: string, body?: unknown) => adminCall(herald, method, path, body);
const whsec = () => `whsec_${randomBytes(24).toString('base64')}`;
/** The operational webhooks the receiver got, by event type. */
const opEvents = (type: string): Received[] =>
  receiver.received.filter((r) => r.url === '/hook/ops' && JSON.parse(r.body).type === type);

/** POSTs `body` to `url` signed with `secret` per Standard Webhooks, as a provider would. */
function sendSigned(url: string, secret: string, id: string, body: string): Promise<Response> {
  const at = new Date();
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, at, body),
    },
    body,
  });
}

beforeAll(async () => {
  receiver = await startReceiver((r, res) => {
    if (r.url === '/hook/hold') held.push(res);
    else res.end('ok');
  });
  herald = await startHerald();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  appId = (await admin('POST', '/app', { name: 'Acme Shop', uid: 'acme' })).id as string;
}, 60_000);

afterAll(async () => {
  for (const res of held) res.end('ok');
  await browser?.close();
  await herald?.stop();
  await receiver?.close();
});

describe('the management views of the dashboard', () => {
  it('creates a source, logs a signed request, refuses the old signature once rotated, replays, renames and deletes it', async () => {
    const page = await dashboardPage(browser, herald, '#/sources');
    const secretA = whsec();
    const secretB = whsec();
    await page.getByRole('button', { name: 'New source' }).click();
    await page.getByLabel('Name').fill('Payments');
    await page.getByLabel('Provider', { exact: true }).selectOption('standard-webhooks');
    // A wrong application: the API's refusal is shown, and nothing is created.
    await page.getByLabel('Application (id or uid)').fill('no-such-app');
    await page.getByLabel('Signing secret').fill(secretA);
    await page.getByRole('button', { name: 'Create source' }).click();
    await page.getByRole('alert').getByText('application no-such-app not found').waitFor();
    await page.getByLabel('Application (id or uid)').fill('acme');
    await page.getByRole('button', { name: 'Create source' }).click();
    const card = page.getByRole('article', { name: 'Source Payments' });
    const ingest = (await card.locator('dd code').first().textContent())!;
    const [source] = (await admin('GET', '/source')).data as { id: string }[];

    const body = '{"type":"invoice.paid","id":"inv_1"}';
    expect((await sendSigned(ingest, secretA, 'evt_1', body)).status).toBe(200);
    await card.getByRole('button', { name: 'Requests' }).click();
    const log = card.getByRole('table', { name: 'Requests received by Payments' });
    await log.getByRole('row', { name: /accepted/ }).waitFor();

    await card.getByRole('button', { name: 'Rotate secret' }).click();
    const rotate = page.getByRole('dialog', { name: 'Rotate the secret of Payments?' });
    expect(await rotate.textContent()).toContain(ingest);
    await rotate.getByLabel('New secret').fill(secretB);
    await rotate.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('status').getByText('Payments: the new secret is in use.').waitFor();
    expect((await sendSigned(ingest, secretA, 'evt_2', body)).status).toBe(401);
    expect((await sendSigned(ingest, secretB, 'evt_3', body)).status).toBe(200);

    // The log, read again, shows the refusal with the gateway's own reason.
    await card.getByRole('button', { name: 'Hide requests' }).click();
    await card.getByRole('button', { name: 'Requests' }).click();
    const logged = (await admin('GET', `/source/${source!.id}/request`)).data as {
      id: string;
      status: string;
      reason: string | null;
    }[];
    const rejected = logged.find((r) => r.status === 'rejected')!;
    expect(rejected.reason).toBeTruthy();
    await log
      .getByRole('row', { name: /rejected/ })
      .getByText(rejected.reason!)
      .waitFor();
    expect(await log.getByRole('row', { name: /accepted/ }).count()).toBe(2);
    const first = logged.at(-1)!;
    await log.getByRole('button', { name: `Show request ${first.id}` }).click();
    expect(await card.getByRole('figure', { name: `Body of request ${first.id}` }).textContent()).toBe(body);
    expect(await axeViolations(page)).toEqual([]);

    await log.getByRole('button', { name: `Replay request ${first.id}` }).click();
    await page
      .getByRole('dialog', { name: `Replay request ${first.id} of Payments?` })
      .getByRole('button', { name: 'Replay' })
      .click();
    await card
      .getByRole('status')
      .getByText(new RegExp(`^Replayed ${first.id} as message msg_`))
      .waitFor();
    await log.getByRole('row', { name: /replayed/ }).waitFor();
    expect((await admin('GET', `/app/${appId}/msg?limit=10`)).data).toHaveLength(3);

    await card.getByRole('button', { name: 'Edit', exact: true }).click();
    await card.getByLabel('Name').fill('Billing');
    await card.getByLabel("Forward the request's headers").check();
    await card.getByRole('button', { name: 'Save' }).click();
    const renamed = page.getByRole('article', { name: 'Source Billing' });
    await renamed.getByText('Passed through to the endpoints').waitFor();
    expect(await admin('GET', `/source/${source!.id}`)).toMatchObject({
      name: 'Billing',
      passthroughHeaders: true,
    });

    await renamed.getByRole('button', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete the source Billing?' });
    expect(await confirm.textContent()).toContain(ingest);
    await confirm.getByRole('button', { name: 'Delete source' }).click();
    await page
      .getByRole('status')
      .getByText(`Billing is deleted: ${ingest} accepts no more requests.`)
      .waitFor();
    await page.getByText('No sources yet').waitFor();
    expect((await sendSigned(ingest, secretB, 'evt_4', body)).status).toBe(404);
    await page.context().close();
  });

  it('adds, edits and deletes an operational endpoint whose events arrive signed, with its headers, after a rotation', async () => {
    const page = await dashboardPage(browser, herald, '#/operational');
    const url = `${receiver.url}/ops`;
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const form = page.getByRole('form', { name: 'New operational webhook endpoint' });
    // The API's refusal, beside the field it names.
    await form.getByLabel('URL').fill('ftp://127.0.0.1/ops');
    await form.getByRole('button', { name: 'Add endpoint' }).click();
    await form.getByText('Must use http or https', { exact: true }).waitFor();
    expect(await form.getByLabel('URL').getAttribute('aria-invalid')).toBe('true');
    await form.getByLabel('URL').fill(url);
    await form.getByLabel('Description').fill('On-call');
    await form.getByLabel('endpoint.created').check();
    await form.getByLabel('endpoint.deleted').check();
    await form.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('row', { name: /endpoint\.created, endpoint\.deleted/ }).waitFor();

    await page.getByRole('link', { name: url }).click();
    await page.getByRole('heading', { name: url }).waitFor();
    await page.getByRole('button', { name: 'Reveal secret' }).click();
    await page.getByRole('button', { name: 'Hide secret' }).waitFor();
    const secretA = (await page.locator('.secret code').textContent())!;
    expect(secretA).toMatch(/^whsec_/);

    await admin('POST', `/app/${appId}/endpoint`, { url: `${receiver.url}/one` });
    await until(() => opEvents('endpoint.created').length === 1);
    const created = opEvents('endpoint.created')[0]!;
    expect(() =>
      new Webhook(secretA).verify(created.body, created.headers as Record<string, string>),
    ).not.toThrow();

    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await page.getByLabel('Description').fill('Pager');
    await page.getByLabel('Rate limit').fill('5');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('5 per second').waitFor();
    const [stored] = (await admin('GET', '/operational-webhook/endpoint')).data as Record<string, unknown>[];
    expect(stored).toMatchObject({
      url,
      description: 'Pager',
      rateLimit: 5,
      disabled: false,
      filterTypes: ['endpoint.created', 'endpoint.deleted'],
    });

    await page.getByRole('button', { name: 'Edit headers' }).click();
    await page.getByLabel('Headers, one per line').fill('X-Team: on-call');
    await page.getByRole('button', { name: 'Save headers' }).click();
    await page.getByRole('status').getByText('Headers saved.').waitFor();

    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const rotate = page.getByRole('dialog', { name: `Rotate the signing secret of ${url}?` });
    await rotate.getByLabel('Grace period').fill('0');
    await rotate.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByRole('status').getByText('Rotated.').waitFor();
    const secretB = (await page.locator('.secret code').textContent())!;
    expect(secretB).toMatch(/^whsec_/);
    expect(secretB).not.toBe(secretA);
    expect(await axeViolations(page)).toEqual([]);

    // The next event carries the header and only the new signature.
    const two = await admin('POST', `/app/${appId}/endpoint`, { url: `${receiver.url}/two` });
    await admin('DELETE', `/app/${appId}/endpoint/${two.id}`);
    await until(() => opEvents('endpoint.deleted').length === 1);
    const deleted = opEvents('endpoint.deleted')[0]!;
    const headers = deleted.headers as Record<string, string>;
    expect(headers['x-team']).toBe('on-call');
    expect(() => new Webhook(secretB).verify(deleted.body, headers)).not.toThrow();
    expect(() => new Webhook(secretA).verify(deleted.body, headers)).toThrow();
    // endpoint.created is ticked, endpoint.updated is not: the second creation came, no update did.
    expect(opEvents('endpoint.created')).toHaveLength(2);
    expect(opEvents('endpoint.updated')).toEqual([]);

    await page.getByRole('link', { name: 'Operational webhooks' }).click();
    await page.getByRole('button', { name: `Disable ${url}` }).click();
    await page.getByRole('button', { name: `Enable ${url}` }).waitFor();
    // Disabling by PUT keeps what the form set.
    expect(
      ((await admin('GET', '/operational-webhook/endpoint')).data as Record<string, unknown>[])[0],
    ).toMatchObject({
      disabled: true,
      rateLimit: 5,
      description: 'Pager',
    });
    await page.getByRole('button', { name: `Delete ${url}` }).click();
    const confirm = page.getByRole('dialog', { name: `Delete ${url}?` });
    expect(await confirm.textContent()).toContain('endpoint.created, endpoint.deleted');
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No operational webhook endpoint').waitFor();
    expect((await admin('GET', '/operational-webhook/endpoint')).data).toEqual([]);
    await page.context().close();
  });

  it("edits an event type's schema and example, shows the API's refusal beside each, archives and restores it", async () => {
    const schema = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } };
    await admin('POST', '/event-type', {
      name: 'order.shipped',
      description: 'An order left the warehouse.',
      schemas: { '1': { ...schema, examples: [{ id: 'o1' }] } },
    });
    const page = await dashboardPage(browser, herald, '#/event-types');
    await page.getByRole('button', { name: 'Edit order.shipped' }).click();
    expect(JSON.parse(await page.getByLabel('JSON Schema').inputValue())).toEqual(schema);
    expect(JSON.parse(await page.getByLabel('Example payload').inputValue())).toEqual({ id: 'o1' });

    await page.getByLabel('JSON Schema').fill('{"type": "objekt"}');
    await page.getByRole('button', { name: 'Save' }).click();
    await page
      .getByText('Is not a JSON Schema: /type must be equal to one of the allowed values', { exact: true })
      .waitFor();
    expect(await page.getByLabel('JSON Schema').getAttribute('aria-invalid')).toBe('true');

    const stricter = { ...schema, required: ['id', 'tracking'] };
    await page.getByLabel('JSON Schema').fill(JSON.stringify(stricter));
    await page.getByRole('button', { name: 'Save' }).click();
    await page
      .getByText('Does not match its schema: (the root) must have required properties tracking', {
        exact: true,
      })
      .waitFor();
    expect(await page.getByLabel('Example payload').getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('JSON Schema').getAttribute('aria-invalid')).toBeNull();

    await page.getByLabel('Example payload').fill('{"id": "o1", "tracking": "T1"}');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('button', { name: 'Edit order.shipped' }).waitFor();
    expect((await admin('GET', '/event-type/order.shipped')).schemas).toEqual({
      '1': { ...stricter, examples: [{ id: 'o1', tracking: 'T1' }] },
    });

    await page.getByRole('button', { name: 'Archive order.shipped' }).click();
    const confirm = page.getByRole('dialog', { name: 'Archive order.shipped?' });
    await confirm.getByRole('button', { name: 'Archive' }).click();
    await page.getByRole('button', { name: 'Restore order.shipped' }).waitFor();
    expect((await admin('GET', '/event-type/order.shipped')).archived).toBe(true);
    // The archived row, with its neutral badge, passes axe too.
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Restore order.shipped' }).click();
    await page.getByRole('button', { name: 'Archive order.shipped' }).waitFor();
    expect((await admin('GET', '/event-type/order.shipped')).archived).toBe(false);
    await page.context().close();
  });

  it('pages through more sources and operational endpoints than one page holds, and back', async () => {
    const made: string[] = [];
    for (let i = 0; i < 55; i++) {
      const n = String(i).padStart(2, '0');
      made.push(
        (await admin('POST', '/source', { name: `Bulk ${n}`, provider: 'none', appId })).id as string,
      );
      made.push(
        (await admin('POST', '/operational-webhook/endpoint', { url: `http://127.0.0.1:9/bulk/${n}` }))
          .id as string,
      );
    }
    const page = await dashboardPage(browser, herald, '#/sources');
    const shown = async (selector: string, attribute: string) => {
      await page.locator(selector).first().waitFor();
      await page.locator('[aria-busy="true"]').first().waitFor({ state: 'detached' });
      return page
        .locator(selector)
        .evaluateAll(
          (nodes, name) => nodes.map((n) => n.getAttribute(name as string) ?? n.textContent ?? ''),
          attribute,
        );
    };
    for (const [hash, selector, attribute] of [
      ['#/sources', 'article[aria-label^="Source Bulk "]', 'aria-label'],
      ['#/operational', 'a[href^="#/operational/"]', 'text'],
    ] as const) {
      await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
      const bulk = (all: string[]) => all.filter((x) => /Bulk \d\d|\/bulk\/\d\d/.test(x));
      // The page shown keeps its rows until the next one has come: read until they change.
      const changedFrom = async (before: string[]) => {
        let now: string[] = before;
        await until(async () => {
          now = bulk(await shown(selector, attribute));
          return now.join() !== before.join();
        });
        return now;
      };
      const first = await changedFrom([]);
      expect(first.length, hash).toBeLessThanOrEqual(50);
      await page.getByRole('button', { name: 'Next' }).click();
      const second = await changedFrom(first);
      // The two pages hold every one of the 55, none twice.
      expect(new Set([...first, ...second]).size, hash).toBe(55);
      expect(first.length + second.length, hash).toBe(55);
      await page.getByRole('button', { name: 'Previous' }).click();
      expect(await changedFrom(second), hash).toEqual(first);
      await page.getByRole('button', { name: 'Previous' }).waitFor({ state: 'detached' });
    }
    await page.context().close();
    for (const id of made) {
      await admin('DELETE', id.startsWith('src_') ? `/source/${id}` : `/operational-webhook/endpoint/${id}`);
    }
  });

  it('axe-core finds no serious violation on any view, with a delivery still sending', async () => {
    await admin('POST', `/app/${appId}/endpoint`, { url: `${receiver.url}/hold` });
    const msg = await admin('POST', `/app/${appId}/msg`, {
      eventType: 'order.shipped',
      payload: { id: 'o2' },
    });
    await until(() => held.length > 0).catch((e) => {
      throw new Error(`${e.message}: ${herald.output()}`);
    });
    const page = await dashboardPage(browser, herald);
    const views: [string, (p: Page) => Promise<void>][] = [
      ['#/overview', (p) => p.getByRole('heading', { name: 'Overview' }).waitFor()],
      ['#/apps', (p) => p.getByRole('link', { name: 'Acme Shop' }).waitFor()],
      [`#/apps/${appId}`, (p) => p.getByRole('heading', { name: 'Acme Shop' }).waitFor()],
      // With results: an application, by its id.
      [`#/search?q=${appId}`, (p) => p.getByRole('table', { name: 'Applications' }).waitFor()],
      ['#/failures', (p) => p.getByRole('heading', { name: 'Failures' }).waitFor()],
      ['#/event-types', (p) => p.getByRole('row', { name: /order\.shipped/ }).waitFor()],
      ['#/sources', (p) => p.getByRole('heading', { name: 'Sources' }).waitFor()],
      ['#/operational', (p) => p.getByRole('heading', { name: 'Operational webhooks' }).waitFor()],
      [`#/apps/${appId}/msg/${msg.id}`, (p) => p.getByText('Sending').first().waitFor()],
    ];
    for (const [hash, shown] of views) {
      await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
      await shown(page);
      await page.locator('[aria-busy="true"]').first().waitFor({ state: 'detached' });
      expect(await axeViolations(page), hash).toEqual([]);
    }
    await page.context().close();
  });
});

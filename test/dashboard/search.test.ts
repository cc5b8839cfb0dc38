/**
 * The dashboard's search box and the message log's endpoint and status filters, as an
 * operator uses them (Debian's chromium against a real `herald serve` and a receiver on
 * 127.0.0.1): pasting the Idempotency-Key a message was created with finds that message in
 * whichever application, pasting an endpoint's URL or its host finds the endpoint, each a link
 * to its page; the log of an application narrows to the failed messages of one endpoint; a
 * wrong token sees none of it.
 */
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from '../../scripts/portal-demo.js';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { adminCall, axeViolations, dashboardPage, signIn, until } from './harness.js';

let herald: HeraldProcess;
let receiver: Receiver;
let browser: Browser;
let appId: string;
/** Two URLs of the receiver: one answers 200, the other 500. */
let orders: string;
let broken: string;

const admin = (method: string, path: string, body?: unknown) => adminCall(herald, method, path, body);

beforeAll(async () => {
  receiver = await startReceiver((r, res) => {
    res.statusCode = r.url.endsWith('/broken') ? 500 : 200;
    res.end(res.statusCode === 200 ? 'ok' : 'receiver is down');
  });
  orders = `${receiver.url}/orders`;
  broken = `${receiver.url}/broken`;
  herald = await startHerald();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  appId = (await admin('POST', '/app', { name: 'Acme Shop', uid: 'acme' })).id as string;
  const other = (await admin('POST', '/app', { name: 'Globex' })).id as string;
  // No retries: a failed delivery is failed at once.
  for (const url of [orders, broken])
    await admin('POST', `/app/${appId}/endpoint`, { url, retrySchedule: [] });
  await admin('POST', `/app/${other}/endpoint`, { url: 'https://globex.example/hook' });
  for (const i of [1, 2, 3]) {
    const res = await fetch(`${herald.url}/api/v1/app/${appId}/msg`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${herald.token}`,
        'content-type': 'application/json',
        'idempotency-key': `checkout-${i}`,
      },
      body: JSON.stringify({ eventType: 'order.created', eventId: `order-${i}`, payload: { i } }),
    });
    expect(res.status).toBe(202);
  }
  await until(async () => {
    const failed = await admin('GET', `/app/${appId}/msg?status=2`);
    const pending = await admin('GET', `/app/${appId}/msg?status=1`);
    return (failed.data as unknown[]).length === 3 && (pending.data as unknown[]).length === 0;
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await herald?.stop();
  await receiver?.close();
});

describe("the dashboard's search and log filters", () => {
  it('finds a message by its idempotency key, and an endpoint by its URL and by its host', async () => {
    const page = await dashboardPage(browser, herald);
    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Search everything').fill('checkout-2');
    await page.getByRole('button', { name: 'Search' }).click();
    const messages = page.getByRole('table', { name: 'Messages' });
    const row = messages.getByRole('row', { name: /order\.created/ });
    await row.getByText('idempotency key').waitFor();
    expect(await row.getByRole('link', { name: 'Acme Shop' }).count()).toBe(1);
    expect(await messages.getByText('event id order-2').count()).toBe(1);
    expect(await axeViolations(page)).toEqual([]);
    await row.getByRole('link', { name: 'order.created' }).click();
    // The message's page: both endpoints it went to.
    await page
      .getByRole('article', { name: `Deliveries to ${broken}` })
      .getByText('Failed')
      .first()
      .waitFor();
    await page
      .getByRole('article', { name: `Deliveries to ${orders}` })
      .getByText('Delivered')
      .waitFor();

    // An endpoint's exact URL, then its host as pasted from a browser's address bar.
    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Search everything').fill(broken);
    await page.getByRole('button', { name: 'Search' }).click();
    const endpoints = page.getByRole('table', { name: 'Endpoints' });
    await endpoints.getByRole('row', { name: new RegExp(`${broken.replaceAll('.', '\\.')}.*URL`) }).waitFor();
    expect(await endpoints.getByRole('row').count()).toBe(2);
    await page.getByLabel('Search everything').fill(new URL(receiver.url).host);
    await page.getByRole('button', { name: 'Search' }).click();
    await endpoints.getByRole('link', { name: orders }).waitFor();
    expect(await endpoints.getByText('URL prefix').count()).toBe(2);
    expect(await page.getByText('globex.example').count()).toBe(0);
    await endpoints.getByRole('link', { name: broken }).click();
    await page.waitForURL(new RegExp(`#/apps/${appId}/endpoints/ep_`));

    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Search everything').fill('no-such-thing');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('Nothing found').waitFor();
    await page.context().close();
  });

  it("filters an application's log to the failed messages of one endpoint", async () => {
    const page = await dashboardPage(browser, herald, `#/apps/${appId}/messages`);
    const log = page.getByRole('table', { name: 'Messages' });
    await log.getByRole('row', { name: /order-3/ }).waitFor();
    const filters = page.getByRole('form', { name: 'Message filters' });
    await filters.getByLabel('Endpoint').selectOption({ label: broken });
    await filters.getByLabel('Status').selectOption({ label: 'Failed' });
    await filters.getByRole('button', { name: 'Filter' }).click();
    await log.getByRole('cell', { name: 'Failed' }).first().waitFor();
    expect(await log.getByRole('cell', { name: 'Failed' }).count()).toBe(3);
    for (const i of [1, 2, 3]) await log.getByText(`event id order-${i}`).waitFor();
    expect(await axeViolations(page)).toEqual([]);
    // None failed at the endpoint that answers 200.
    await filters.getByLabel('Endpoint').selectOption({ label: orders });
    await filters.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No messages').waitFor();
    // Failed anywhere, with no endpoint chosen: the same three; delivered needs an endpoint.
    await filters.getByLabel('Endpoint').selectOption({ label: 'Any endpoint' });
    expect(await filters.getByLabel('Status').locator('option', { hasText: 'Delivered' }).count()).toBe(0);
    await filters.getByLabel('Status').selectOption({ label: 'Failed' });
    await filters.getByRole('button', { name: 'Filter' }).click();
    await log.getByText('event id order-1').waitFor();
    expect(await log.getByRole('row').count()).toBe(4);
    await page.context().close();
  });

  it('shows a wrong token no data, and the API answers it 401', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(8_000);
    const page = await context.newPage();
    await page.goto(`${herald.url}/dashboard#/search?q=checkout-2`);
    await signIn(page, 'not-the-token');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('This token is invalid');
    expect(await page.content()).not.toContain('order.created');
    const res = await fetch(`${herald.url}/api/v1/search?q=checkout-2`, {
      headers: { authorization: 'Bearer not-the-token' },
    });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('order-2');
    await context.close();
  });
});

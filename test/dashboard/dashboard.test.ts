/**
 * The operator dashboard as an operator uses it: Debian's chromium (playwright-core) against
 * a real `herald serve` (dist/) and a real receiver on 127.0.0.1, driven by role and label.
 */
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from '../../scripts/portal-demo.js';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { adminCall, axeViolations, signIn, until } from './harness.js';

let herald: HeraldProcess;
let receiver: Receiver;
let browser: Browser;
/** What the receiver answers; the test breaks it, then fixes it. */
let answer = 500;
/** The event ids the receiver answered 2xx for. */
const delivered = new Set<string>();

const admin = (method: string, path: string, body?: unknown) => adminCall(herald, method, path, body);

let appId: string;

beforeAll(async () => {
  receiver = await startReceiver((r, res) => {
    res.statusCode = answer;
    if (answer < 300) delivered.add(JSON.parse(r.body).id);
    res.end(answer < 300 ? 'ok' : 'receiver is down');
  });
  herald = await startHerald();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const app = await admin('POST', '/app', { name: 'Acme Shop', uid: 'acme' });
  appId = app.id as string;
  // No retries: a failed delivery is failed at once, for recover to send again.
  await admin('POST', `/app/${appId}/endpoint`, { url: receiver.url, retrySchedule: [] });
  for (const i of [1, 2, 3])
    await admin('POST', `/app/${appId}/msg`, {
      eventType: 'order.created',
      eventId: `order-${i}`,
      payload: { id: `order-${i}` },
    });
  await until(async () => {
    const list = await admin('GET', `/app/${appId}/msg?limit=10`);
    const failed = await Promise.all(
      (list.data as { id: string }[]).map(
        async (m) => (await admin('GET', `/app/${appId}/attempt/msg/${m.id}`)).data,
      ),
    );
    return failed.every((a) => (a as unknown[]).length > 0);
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await herald?.stop();
  await receiver?.close();
});

describe('the operator dashboard', () => {
  it('refuses a wrong token and shows no data; signs in with the admin token; signs out', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(8_000);
    const page = await context.newPage();
    const res = await page.goto(`${herald.url}/dashboard`);
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(await axeViolations(page)).toEqual([]);
    await signIn(page, 'not-the-token');
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('This token is invalid');
    expect(await page.getByLabel('Admin token').getAttribute('aria-invalid')).toBe('true');
    expect(await page.content()).not.toContain('Acme Shop');
    await signIn(page, herald.token);
    await page.getByRole('link', { name: 'Applications' }).click();
    await page.getByRole('link', { name: 'Acme Shop' }).waitFor();
    // Searched by a part of the name, in any case, on the server (`GET /app?name=`).
    await page.getByLabel('Name, uid or id').fill('SHOP');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Acme Shop' }).waitFor();
    await page.getByLabel('Name, uid or id').fill('umbrella');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No application found').waitFor();
    // Searched by uid through the API; the customer's portal opens from a fresh link.
    await page.getByLabel('Name, uid or id').fill('acme');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'Acme Shop' }).click();
    const [portal] = await Promise.all([
      page.waitForEvent('popup'),
      page.getByRole('button', { name: "Open this customer's portal" }).click(),
    ]);
    await portal.waitForURL(new RegExp(`/portal/${appId}`));
    await portal.close();
    // The tab keeps the token over a reload; Sign out forgets it.
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await context.close();
  });

  it('finds a message by eventId, groups the broken endpoint failures, and resends them all once fixed', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(8_000);
    const page = await context.newPage();
    await page.goto(`${herald.url}/dashboard`);
    await signIn(page, herald.token);

    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Search everything').fill('order-2');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: 'order.created' }).click();
    const card = page.getByRole('article', { name: `Deliveries to ${receiver.url}` });
    await card.getByText('Failed').first().waitFor();
    await card.getByRole('cell', { name: /^500$/ }).or(card.getByText('500').first()).first().waitFor();
    expect(await axeViolations(page)).toEqual([]);

    await page.getByRole('link', { name: 'Failures' }).click();
    const row = page.getByRole('row', { name: new RegExp(receiver.url.replaceAll('.', '\\.')) });
    await row.getByText('HTTP 5xx').waitFor();
    // One row, counted by the server: three attempts, three messages failed now, still failing.
    expect(await page.getByRole('row').count()).toBe(2);
    expect(await row.getByRole('cell').nth(2).textContent()).toBe('3');
    expect(await row.getByRole('cell').nth(3).textContent()).toBe('3');
    await row.getByText('Failing').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    // By host: the receiver's host and port, its one endpoint listed under it.
    const host = new URL(receiver.url).host;
    await page.getByRole('button', { name: 'By host' }).click();
    const hostRow = page.getByRole('row', { name: new RegExp(`^${host.replaceAll('.', '\\.')}`) });
    await hostRow.getByRole('link', { name: receiver.url }).waitFor();
    expect(await hostRow.getByRole('cell').nth(2).textContent()).toBe('3');
    // The switch's buttons fade to their new colours: axe reads them once the fade has ended.
    await page
      .getByRole('group', { name: 'Group by' })
      .evaluate((el) =>
        Promise.all(
          el.getAnimations({ subtree: true }).map((a: { finished: Promise<unknown> }) => a.finished),
        ),
      );
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'By endpoint' }).click();

    answer = 200;
    await row.getByRole('button', { name: `Resend all failed messages to ${receiver.url}` }).click();
    const dialog = page.getByRole('dialog', { name: `Resend 3 failed messages to ${receiver.url}?` });
    await dialog.getByRole('button', { name: 'Resend 3' }).click();
    await page.getByRole('status').getByText('Done: 3 messages queued again').waitFor();
    await until(() => delivered.size === 3);
    expect([...delivered].sort()).toEqual(['order-1', 'order-2', 'order-3']);
    // The history stays; the row now reads recovered, nothing failed now.
    await until(async () => {
      const failures = await admin('GET', '/failures');
      return (failures.data as { failing: boolean }[])[0]?.failing === false;
    });
    await page.getByRole('button', { name: 'Refresh' }).click();
    await row.getByText('Recovered').waitFor();
    expect(await row.getByRole('cell').nth(3).textContent()).toBe('0');
    await context.close();
  });

  it('creates an event type with its schema and example, shows a schema that is not JSON, and archives it', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(8_000);
    const page = await context.newPage();
    await page.goto(`${herald.url}/dashboard#/event-types`);
    await signIn(page, herald.token);
    await page.getByRole('button', { name: 'New event type' }).click();
    await page.getByLabel('Name', { exact: true }).fill('invoice.paid');
    await page.getByLabel('Description').fill('An invoice was paid.');
    await page.getByLabel('JSON Schema').fill('{"type": "object",');
    await page.getByRole('button', { name: 'Create event type' }).click();
    expect(await page.getByLabel('JSON Schema').getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel('JSON Schema').fill('{"type": "object", "required": ["id"]}');
    await page.getByLabel('Example payload').fill('{"id": "inv_1"}');
    await page.getByRole('button', { name: 'Create event type' }).click();
    await page.getByRole('row', { name: /invoice\.paid/ }).waitFor();
    const stored = await admin('GET', '/event-type/invoice.paid');
    expect(stored.schemas).toEqual({
      '1': { type: 'object', required: ['id'], examples: [{ id: 'inv_1' }] },
    });
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Archive invoice.paid' }).click();
    await page
      .getByRole('dialog', { name: 'Archive invoice.paid?' })
      .getByRole('button', { name: 'Archive' })
      .click();
    await page.getByRole('button', { name: 'Restore invoice.paid' }).waitFor();
    expect((await admin('GET', '/event-type/invoice.paid')).archived).toBe(true);
    await context.close();
  });

  it('creates a source, and its request log shows what the ingest URL accepted', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(8_000);
    const page = await context.newPage();
    await page.goto(`${herald.url}/dashboard#/sources`);
    await signIn(page, herald.token);
    await page.getByRole('button', { name: 'New source' }).click();
    await page.getByLabel('Name').fill('Payments');
    await page.getByLabel('Provider').selectOption('none');
    await page.getByLabel('Application (id or uid)').fill('acme');
    await page.getByRole('button', { name: 'Create source' }).click();
    const card = page.getByRole('article', { name: 'Source Payments' });
    const ingest = (await card.locator('dd code').first().textContent())!;
    const res = await fetch(ingest, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"ok":true}',
    });
    expect(res.status).toBeLessThan(300);
    await card.getByRole('button', { name: 'Requests' }).click();
    await card.getByText('accepted').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await context.close();
  });

  it('adds, disables and deletes an operational webhook endpoint', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(8_000);
    const page = await context.newPage();
    await page.goto(`${herald.url}/dashboard#/operational`);
    await signIn(page, herald.token);
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByLabel('URL').fill(`${receiver.url}/ops`);
    await page.getByLabel('Description').fill('On-call');
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('button', { name: `Disable ${receiver.url}/ops` }).click();
    await page.getByRole('button', { name: `Enable ${receiver.url}/ops` }).waitFor();
    const listed = await admin('GET', '/operational-webhook/endpoint');
    expect((listed.data as { disabled: boolean }[])[0]!.disabled).toBe(true);
    expect(await axeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: `Delete ${receiver.url}/ops` }).click();
    await page
      .getByRole('dialog', { name: `Delete ${receiver.url}/ops?` })
      .getByRole('button', { name: 'Delete' })
      .click();
    await page.getByText('No operational webhook endpoint').waitFor();
    await context.close();
  });
});

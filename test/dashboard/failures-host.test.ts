/**
 * A receiving host that many endpoints share goes down (a platform whose customers each
 * have an endpoint there): the dashboard's Failures page reads it as one row by host, and
 * "Resend all" reaches every endpoint on it, more than the 100 a host group lists, in
 * Debian's chromium against a real `herald serve` on the store of HERALD_TEST_DB.
 */
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from '../../scripts/portal-demo.js';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { adminCall, dashboardPage, until } from './harness.js';

/** More than a host group lists (100). */
const ENDPOINTS = 104;

let herald: HeraldProcess;
let receiver: Receiver;
let browser: Browser;
let answer = 503;

const admin = (method: string, path: string, body?: unknown) => adminCall(herald, method, path, body);

beforeAll(async () => {
  receiver = await startReceiver((_r, res) => {
    res.statusCode = answer;
    res.end();
  });
  herald = await startHerald();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await herald?.stop();
  await receiver?.close();
});

describe('a host that many endpoints share, down', () => {
  it('is one row by host, and Resend all sends to every endpoint on it', { timeout: 120_000 }, async () => {
    const endpoints: { app: string; id: string }[] = [];
    // Two applications, so that the host's row spans customers.
    for (const name of ['Platform A', 'Platform B']) {
      const app = (await admin('POST', '/app', { name })).id as string;
      for (let i = 0; i < ENDPOINTS / 2; i++) {
        const ep = await admin('POST', `/app/${app}/endpoint`, { url: `${receiver.url}/${name[9]}/${i}` });
        endpoints.push({ app, id: ep.id as string });
      }
      await admin('POST', `/app/${app}/msg`, { eventType: 'order.paid', payload: { app: name } });
    }
    await until(() => receiver.received.length >= ENDPOINTS, 30_000);
    // Disabled and enabled again, every endpoint's failing delivery ends failed (until resent);
    // one being retried as it happens goes back to pending after: again until none is.
    const host = new URL(receiver.url).host;
    const failedNow = async () => {
      const page = await admin('GET', `/failures?group_by=endpoint&host=${host}&limit=250&exact_counts=true`);
      return (page.data as { failedNow: number }[]).reduce((n, g) => n + g.failedNow, 0);
    };
    await until(async () => {
      if ((await failedNow()) === ENDPOINTS) return true;
      for (const { app, id } of endpoints) {
        await admin('PATCH', `/app/${app}/endpoint/${id}`, { disabled: true });
        await admin('PATCH', `/app/${app}/endpoint/${id}`, { disabled: false });
      }
      return false;
    }, 60_000);

    const page = await dashboardPage(browser, herald, '#/failures');
    await page.getByRole('button', { name: 'By host' }).click();
    const row = page.getByRole('row', { name: new RegExp(`^${host.replaceAll('.', '\\.')}`) });
    await row.getByText(`${ENDPOINTS} endpoints`).waitFor();
    answer = 200;
    const arrived = receiver.received.length;
    await row.getByRole('button', { name: /^Resend all/ }).click();
    const dialog = page.getByRole('dialog', {
      name: `Resend ${ENDPOINTS} failed messages to ${ENDPOINTS} endpoints on ${host}?`,
    });
    await dialog.getByText(/and 99 others/).waitFor();
    await dialog.getByRole('button', { name: `Resend ${ENDPOINTS}` }).click();
    await page
      .getByRole('status')
      .getByText(`Done: ${ENDPOINTS} messages queued again`)
      .waitFor({ timeout: 60_000 });
    await until(() => receiver.received.length >= arrived + ENDPOINTS, 60_000);
    const resent = receiver.received.slice(arrived).map((r) => r.url);
    expect(new Set(resent).size).toBe(ENDPOINTS);
    await page.context().close();
  });
});

/**
 * The dashboard's overview in Debian's chromium (playwright-core) against a real `herald
 * serve` (dist/, on the store under test) and real receivers on 127.0.0.1: before anything is
 * sent it says nothing happened; after messages go to one endpoint that answers 200 and one
 * that answers 503, its figures and charts say what was accepted, attempted and failed, and
 * which endpoint is failing now, over the last hour and the last day; axe-core finds no
 * serious violation.
 */
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from '../../scripts/portal-demo.js';
import { adminCall, seriousViolations, until } from '../browser.js';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';

let herald: HeraldProcess;
let good: Receiver;
let bad: Receiver;
let browser: Browser;
let answered = 0;
const admin = (method: string, path: string, body?: unknown) => adminCall(herald, method, path, body);

/** A figure card's value and note, by its label. */
async function stat(page: Page, label: string): Promise<string> {
  const card = page.locator('.stat-card').filter({ has: page.getByText(label, { exact: true }) });
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText keeps the breaks between the card's lines, textContent runs them together
  return (await card.innerText()).replace(/\s+/g, ' ').trim();
}

beforeAll(async () => {
  good = await startReceiver((_r, res) => {
    answered++;
    res.end('ok');
  });
  bad = await startReceiver((_r, res) => {
    answered++;
    res.statusCode = 503;
    res.end('down for maintenance');
  });
  herald = await startHerald();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await herald?.stop();
  await good?.close();
  await bad?.close();
});

describe('the dashboard overview', () => {
  it('shows what the store counted: messages, attempts, success rate, the queue and the failing endpoint', async () => {
    // axe goes in inline: the context bypasses the page's CSP.
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    const page = await context.newPage();
    await page.goto(`${herald.url}/dashboard`);
    await page.getByLabel('Admin token').fill(herald.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Nothing happened in the last hour').waitFor();
    expect(await stat(page, 'Endpoints failing now')).toBe(
      'Endpoints failing now 0 0 deliveries waiting for a retry',
    );
    expect(await seriousViolations(page)).toEqual([]);

    const app = await admin('POST', '/app', { name: 'Acme Shop' });
    await admin('POST', `/app/${app.id}/endpoint`, { url: good.url });
    // The 503 endpoint's deliveries wait an hour for their retry: failing now, in retry.
    await admin('POST', `/app/${app.id}/endpoint`, { url: bad.url, retrySchedule: [3600] });
    for (let i = 0; i < 4; i++)
      await admin('POST', `/app/${app.id}/msg`, { eventType: 'order.paid', payload: { order: i } });
    await until(() => answered === 8, 15_000);
    // Recorded too (the attempts are written in batches after the answers).
    await until(async () => {
      const { data } = (await admin('GET', '/stats/activity')) as {
        data: { succeeded: number; failed: number }[];
      };
      return data.reduce((n, b) => n + b.succeeded + b.failed, 0) === 8;
    });

    await page.reload();
    await page.getByText('Endpoints failing now').waitFor();
    expect(await stat(page, 'Endpoints failing now')).toBe(
      'Endpoints failing now 1 4 deliveries waiting for a retry',
    );
    expect(await stat(page, 'Deliveries pending')).toBe('Deliveries pending 4 0 sending now');
    expect(await stat(page, 'Success rate')).toBe('Success rate 50.0 % 4 of 8 attempts, the last hour');
    expect(await stat(page, 'Messages accepted')).toMatch(
      /^Messages accepted 4 the last hour · 0\.1 a minute$/,
    );
    expect(await stat(page, 'Attempts')).toMatch(/^Attempts 8 the last hour · 0\.1 a minute · 4 failed$/);
    const charts = page.locator('.overview-chart').getByRole('img');
    await expect.poll(() => charts.count()).toBe(4);
    expect(await charts.first().getAttribute('aria-label')).toBe(
      'Messages accepted and attempts, per minute: 4 messages accepted and 8 attempts (4 failed) in the last hour.',
    );
    expect(
      await page.getByRole('img', { name: /^Success rate of attempts/ }).getAttribute('aria-label'),
    ).toMatch(/50\.0 % of 8 attempts succeeded in the last hour; the lowest minute was 50 %\.$/);
    // uPlot drew them: a canvas each, as wide as its card.
    for (const canvas of await page.locator('.overview-chart canvas').all())
      expect((await canvas.boundingBox())!.width).toBeGreaterThan(200);
    expect(await seriousViolations(page)).toEqual([]);

    await page.getByRole('button', { name: 'Last day' }).click();
    await expect
      .poll(() => page.getByRole('button', { name: 'Last day' }).getAttribute('aria-pressed'))
      .toBe('true');
    await page.getByText('4 of 8 attempts, the last 24 hours').waitFor();
    // The chart is drawn apart from the figures: its label may follow them by a render.
    await expect
      .poll(() => charts.first().getAttribute('aria-label'))
      .toBe(
        'Messages accepted and attempts, per minute, averaged over each hour: 4 messages accepted and 8 attempts (4 failed) in the last 24 hours.',
      );
    await context.close();
  });
});

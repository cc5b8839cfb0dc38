/**
 * What the dashboard's browser tests share: signing in and a signed-in page, beside what every
 * browser test shares (test/browser.ts: the admin API, waiting, axe-core).
 */
import type { Browser, Page } from 'playwright-core';
import type { HeraldProcess } from '../serve.js';

export { adminCall, seriousViolations as axeViolations, until } from '../browser.js';

/** Types `token` into the sign-in form and submits it. */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** A new page of the dashboard at `hash`, signed in with the admin token. */
export async function dashboardPage(browser: Browser, herald: HeraldProcess, hash = ''): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  context.setDefaultTimeout(8_000);
  const page = await context.newPage();
  await page.goto(`${herald.url}/dashboard${hash}`);
  await signIn(page, herald.token);
  return page;
}

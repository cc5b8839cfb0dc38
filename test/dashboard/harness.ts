/**
 * What the dashboard's browser tests share: the admin API of the Herald under test, waiting
 * for a condition, signing in, and axe-core's serious violations of a page.
 */
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import type { HeraldProcess } from '../serve.js';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** Calls `/api/v1{path}` of `herald` with the admin token; throws, with the answer, unless 2xx. */
export async function adminCall(
  herald: HeraldProcess,
  method: string,
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const res = await fetch(`${herald.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${herald.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/** Resolves once `check` holds; fails after 10 s. */
export async function until(check: () => Promise<boolean> | boolean): Promise<void> {
  for (const end = Date.now() + 10_000; Date.now() < end; ) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the condition did not hold within 10 s');
}

/** Serious and critical axe-core violations (axe goes in inline: the contexts bypass the CSP). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const results = await page.evaluate<{ id: string; impact: string; nodes: { target: string[] }[] }[]>(
    'axe.run().then((r) => r.violations)',
  );
  return results
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

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

/** What the browser tests of the portal and the dashboard share: API calls, waiting, axe-core. */
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import type { HeraldProcess } from './serve.js';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** Calls `herald`'s `/api/v1{path}` with its admin token; throws on an answer that is not 2xx. */
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
      // None without a body: Fastify refuses an empty JSON body (a DELETE's).
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/** Resolves once `check()` holds; throws after `ms` (10 s). */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the condition did not hold within ${ms / 1000} s`);
}

/**
 * The serious and critical axe-core violations of `page`. axe goes in inline: the page's
 * context must bypass its CSP (`bypassCSP: true`).
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const results = await page.evaluate<{ id: string; impact: string; nodes: { target: string[] }[] }[]>(
    'axe.run().then((r) => r.violations)',
  );
  return results
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/**
 * The consumer portal as a customer uses it: Debian's chromium (playwright-core) against a
 * real `herald serve` (dist/) and a real receiver on 127.0.0.1, driven by role and label.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS } from '../../scripts/portal-demo.js';
import { adminCall, seriousViolations as axeViolations, until } from '../browser.js';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';

const FRAME_ANCESTORS = "'self' https://app.example.com";

let herald: HeraldProcess;
let receiver: Receiver;
let browser: Browser;
/** What the receiver answers; tests switch it to make deliveries fail. */
let answer = 200;
/** Calls `/api/v1{path}` with the admin token. */
const admin = (method: string, path: string, body?: unknown) => adminCall(herald, method, path, body);

/** A portal link for `appId` (with the access request's options). */
async function linkFor(appId: string, options: Record<string, unknown> = {}): Promise<string> {
  return (await admin('POST', `/auth/app-portal-access/${appId}`, options)).url as string;
}

/** A fresh page (its own context: nothing shared between links). */
async function open(
  url: string,
  options: { bypassCSP?: boolean } = {},
): Promise<{ page: Page; context: BrowserContext }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  // A step that does not come within 8 s names itself, well within the test's timeout.
  context.setDefaultTimeout(8_000);
  const page = await context.newPage();
  await page.goto(url);
  return { page, context };
}

beforeAll(async () => {
  receiver = await startReceiver((_r, res) => {
    res.statusCode = answer;
    res.end(answer < 300 ? 'ok' : 'receiver is down');
  });
  herald = await startHerald(['--portal-frame-ancestors', FRAME_ANCESTORS]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  await admin('POST', '/event-type', {
    name: 'order.created',
    description: 'A customer placed an order.',
    schemas: { '1': { type: 'object', examples: [{ id: 'ord_1', total: 12 }] } },
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await herald?.stop();
  await receiver?.close();
});

describe('the consumer portal', () => {
  it('is served with the frame-ancestors of --portal-frame-ancestors, and the link never reaches the server', async () => {
    const app = await admin('POST', '/app', { name: 'Framed' });
    const link = await linkFor(app.id as string);
    const res = await fetch(link);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain(`frame-ancestors ${FRAME_ANCESTORS}`);
    expect(herald.output()).not.toContain(new URL(link).hash.slice(5));
  });

  it('refuses a --portal-frame-ancestors that would end the CSP directive, naming the flag', async () => {
    const bin = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));
    const run = promisify(execFile)(process.execPath, [
      bin,
      'serve',
      '--portal-frame-ancestors',
      "'self'; script-src *",
    ]);
    const failure = (await run.then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    ))!;
    expect(failure.code).not.toBe(0);
    expect(failure.stderr).toContain('--portal-frame-ancestors');
  });

  it('adds an endpoint through the form, shows deliveries and their attempts, resends, rotates, recovers', async () => {
    const app = await admin('POST', '/app', { name: 'Acme' });
    const appId = app.id as string;
    const { page, context } = await open(await linkFor(appId));
    try {
      // The token left the address bar at once.
      await page.getByRole('heading', { name: 'Endpoints' }).waitFor();
      expect(page.url()).not.toContain('key=');
      await page.getByText('No endpoints yet').waitFor();

      await page.getByRole('link', { name: 'Add endpoint' }).click();
      await page.getByLabel('Endpoint URL').fill('ftp://example.com/in');
      await page.getByRole('checkbox', { name: /order\.created/ }).check();
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      // The API's word shows beside the field it names.
      await page.getByText('Must use http or https').waitFor();
      expect(await page.getByLabel('Endpoint URL').getAttribute('aria-invalid')).toBe('true');
      await page.getByLabel('Endpoint URL').fill(receiver.url);
      await page.getByLabel('Description').fill('Orders');
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await page.getByRole('heading', { name: receiver.url }).waitFor();
      const endpointId = /\/endpoints\/(ep_\w+)/.exec(page.url())![1]!;

      await admin('POST', `/app/${appId}/msg`, { eventType: 'order.created', payload: { n: 1 } });
      const row = (text: string) => page.locator('tbody tr', { hasText: text });
      await row('Succeeded').first().waitFor({ timeout: 10_000 });
      expect(await row('Succeeded').first().textContent()).toContain('200');
      await page
        .getByRole('button', { name: /^Details of attempt/ })
        .first()
        .click();
      await page.getByText('Sent to').waitFor();

      answer = 500;
      const failed = await admin('POST', `/app/${appId}/msg`, {
        eventType: 'order.created',
        payload: { n: 2 },
      });
      await row('Failed').first().waitFor({ timeout: 10_000 });
      expect(await row('Failed').first().textContent()).toContain('500');
      answer = 200;
      await row('Failed').first().getByRole('button', { name: 'Resend' }).click();
      // The click made a manual attempt (triggerType 1), not only the scheduled retry.
      await until(async () => {
        const attempts = await admin('GET', `/app/${appId}/attempt/msg/${failed.id}`);
        return (attempts.data as { triggerType: number }[]).some((a) => a.triggerType === 1);
      });

      // Rotate: the next delivery verifies with the secret the page shows.
      await page.getByRole('button', { name: 'Rotate secret' }).click();
      await page.getByRole('dialog').getByText('grace period').first().waitFor();
      await page.getByRole('dialog').getByRole('button', { name: 'Rotate secret' }).click();
      await page.getByText('Rotated.').waitFor();
      await page.getByRole('button', { name: 'Hide secret' }).waitFor();
      const secret = (await page.locator('.secret code').textContent())!;
      expect(secret).toMatch(/^whsec_/);
      expect(secret).toBe((await admin('GET', `/app/${appId}/endpoint/${endpointId}/secret`)).key);
      const n = receiver.received.length;
      await admin('POST', `/app/${appId}/msg`, { eventType: 'order.created', payload: { n: 3 } });
      await receiver.arrived(n + 1);
      const signed = receiver.received[n]!;
      expect(() =>
        new Webhook(secret).verify(signed.body, signed.headers as Record<string, string>),
      ).not.toThrow();

      // Recover: a failure (no retries, so it stays failed), the receiver back, then "recover
      // failed messages since".
      await admin('PATCH', `/app/${appId}/endpoint/${endpointId}`, { retrySchedule: [] });
      answer = 503;
      const m = receiver.received.length;
      await admin('POST', `/app/${appId}/msg`, { eventType: 'order.created', payload: { n: 4 } });
      await receiver.arrived(m + 1);
      answer = 200;
      await page.getByRole('button', { name: 'Recover' }).click();
      await page.getByText('Done: 1 message queued to be sent again.').waitFor({ timeout: 15_000 });
      await receiver.arrived(m + 2);
    } finally {
      answer = 200;
      await context.close();
    }
  });

  it('says when and why Herald disabled an endpoint by itself: a receiver answering 410 Gone', async () => {
    const gone = await startReceiver((_r, res) => {
      res.statusCode = 410;
      res.end('gone');
    });
    try {
      const app = await admin('POST', '/app', { name: 'Gone' });
      const appId = app.id as string;
      const ep = await admin('POST', `/app/${appId}/endpoint`, { url: gone.url });
      await admin('POST', `/app/${appId}/msg`, { eventType: 'order.created', payload: {} });
      await until(
        async () => (await admin('GET', `/app/${appId}/endpoint/${ep.id}`)).disabledReason === 'gone',
      );
      const { disabledAt } = await admin('GET', `/app/${appId}/endpoint/${ep.id}`);
      const { page, context } = await open(await linkFor(appId));
      try {
        const row = page.locator('tbody tr', { hasText: gone.url });
        await row.waitFor();
        const words = /Disabled automatically on .+: it answered 410 Gone/;
        expect(await row.textContent()).toMatch(words);
        // The date is the API's, in local time, with UTC on hover.
        expect(await row.locator('.auto-disabled time').getAttribute('datetime')).toBe(disabledAt);
        await page.getByRole('link', { name: gone.url }).click();
        const note = page.getByRole('note');
        await note.waitFor();
        expect(await note.textContent()).toMatch(words);
        expect(await note.textContent()).toContain('enable the endpoint');
      } finally {
        await context.close();
      }
    } finally {
      await gone.close();
    }
  });

  it('edits custom headers (values masked) and a payload filter, with the API refusal beside it', async () => {
    const app = await admin('POST', '/app', { name: 'Headers' });
    const appId = app.id as string;
    const { page, context } = await open(`${await linkFor(appId)}&to=/endpoints/new`);
    try {
      await page.getByLabel('Endpoint URL').fill(receiver.url);
      await page.getByLabel('Channels').fill('eu, orders');
      await page.getByLabel('Rate limit (requests per second)').fill('20');
      await page.getByRole('button', { name: 'Add header' }).click();
      await page.getByLabel('Header 1 name').fill('X-Tenant');
      await page.getByLabel('Header 1 value').fill('t-42');
      expect(await page.getByLabel('Header 1 value').getAttribute('type')).toBe('password');
      await page.getByLabel('Payload filter').fill('{"payload.total": {"$where": "1"}}');
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      // The API's 422 goes beside the filter field, in its words.
      await page.locator('#ep-filter-error').waitFor();
      expect(await page.locator('#ep-filter-error').textContent()).toContain('filter');
      expect(await page.getByLabel('Payload filter').getAttribute('aria-invalid')).toBe('true');
      await page.getByLabel('Payload filter').fill('{"payload.total": {"$gt": 10}}');
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      await page.getByRole('heading', { name: receiver.url }).waitFor();
      const endpointId = /\/endpoints\/(ep_\w+)/.exec(page.url())![1]!;
      const saved = await admin('GET', `/app/${appId}/endpoint/${endpointId}`);
      expect(saved).toMatchObject({
        channels: ['eu', 'orders'],
        rateLimit: 20,
        filter: { 'payload.total': { $gt: 10 } },
      });
      expect((await admin('GET', `/app/${appId}/endpoint/${endpointId}/headers`)).headers).toEqual({
        'X-Tenant': 't-42',
      });
      // The endpoint page masks the value until shown.
      expect(await page.locator('.card', { hasText: 'Custom headers' }).textContent()).not.toContain('t-42');

      // Edit: change the value, add one, then remove the first.
      await page.getByRole('link', { name: 'Edit' }).click();
      await page.getByLabel('Header 1 name').waitFor();
      expect(await page.getByLabel('Header 1 value').inputValue()).toBe('t-42');
      await page.getByLabel('Header 1 value').fill('t-43');
      await page.getByRole('button', { name: 'Add header' }).click();
      await page.getByLabel('Header 2 name').fill('X-Region');
      await page.getByLabel('Header 2 value').fill('eu');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('heading', { name: receiver.url }).waitFor();
      expect((await admin('GET', `/app/${appId}/endpoint/${endpointId}/headers`)).headers).toEqual({
        'X-Tenant': 't-43',
        'X-Region': 'eu',
      });
      await page.getByRole('link', { name: 'Edit' }).click();
      await page.getByLabel('Header 2 name').waitFor();
      await page.getByRole('button', { name: 'Remove header X-Tenant' }).click();
      await page.getByLabel('Payload filter').fill('');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await page.getByRole('heading', { name: receiver.url }).waitFor();
      expect((await admin('GET', `/app/${appId}/endpoint/${endpointId}/headers`)).headers).toEqual({
        'X-Region': 'eu',
      });
      expect((await admin('GET', `/app/${appId}/endpoint/${endpointId}`)).filter).toBeNull();
    } finally {
      await context.close();
    }
  });

  it('pages the log through the API iterator past any fixed cap; Delete stays red under a primaryColor', async () => {
    const app = await admin('POST', '/app', { name: 'Busy' });
    const appId = app.id as string;
    const ep = await admin('POST', `/app/${appId}/endpoint`, { url: receiver.url });
    const total = 120;
    await Promise.all(
      Array.from({ length: total }, (_, n) =>
        admin('POST', `/app/${appId}/msg`, { eventType: 'order.created', payload: { n } }),
      ),
    );
    await until(async () => {
      const stats = await admin('GET', `/app/${appId}/endpoint/${ep.id}/stats`);
      return stats.success === total;
    });
    const [base, fragment] = (await linkFor(appId)).split('#');
    const { page, context } = await open(`${base}?primaryColor=%237c3aed#${fragment}&to=/endpoints/${ep.id}`);
    try {
      const rows = page.locator('tbody tr');
      await page.getByText('50 shown').waitFor({ timeout: 10_000 });
      await page.getByRole('button', { name: 'Show older attempts' }).click();
      await page.getByText('100 shown').waitFor();
      await page.getByRole('button', { name: 'Show older attempts' }).click();
      await page.getByText(`All ${total} attempts shown.`).waitFor();
      expect(await rows.count()).toBe(total);
      // Every attempt once: the pages join without a gap or an overlap.
      const ids = await page.evaluate<string[]>(
        `[...document.querySelectorAll('tbody tr td:nth-child(4) a')].map((a) => a.title)`,
      );
      expect(new Set(ids).size).toBe(total);
      // A "since" filter still shows the newest first, and pages on from there.
      const newest = (
        (await admin('GET', `/app/${appId}/attempt/endpoint/${ep.id}?limit=1`)).data as {
          msgId: string;
        }[]
      )[0]!.msgId;
      await page.getByLabel('Since', { exact: true }).fill('2000-01-01T00:00');
      await page.getByText('50 shown').waitFor();
      expect(await page.locator('tbody tr td:nth-child(4) a').first().getAttribute('title')).toBe(newest);
      await page.getByRole('button', { name: 'Show older attempts' }).click();
      await page.getByText('100 shown').waitFor();

      const colours = await page.evaluate<{ delete: string; bad: string; primary: string }>(`(() => {
        const probe = document.createElement('span');
        probe.style.color = 'var(--bad)';
        document.body.append(probe);
        const bad = getComputedStyle(probe).color;
        probe.style.color = 'var(--pico-primary)';
        const primary = getComputedStyle(probe).color;
        probe.remove();
        const del = [...document.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Delete');
        return { delete: getComputedStyle(del).borderTopColor, bad, primary };
      })()`);
      expect(colours.delete).toBe(colours.bad);
      expect(colours.delete).not.toBe(colours.primary);
    } finally {
      await context.close();
    }
  });

  it("edits an endpoint's transformation: a 422 for code that does not load, a test run, then on", async () => {
    const app = await admin('POST', '/app', { name: 'Transform' });
    const appId = app.id as string;
    const ep = await admin('POST', `/app/${appId}/endpoint`, { url: receiver.url });
    const { page, context } = await open(`${await linkFor(appId)}&to=/endpoints/${ep.id}`);
    try {
      await page.locator('summary', { hasText: 'Transformation' }).click();
      const code = page.getByLabel('Code', { exact: true });
      await code.fill('function handler(webhook) { return webhook');
      await page.getByRole('button', { name: 'Save transformation' }).click();
      await page.locator('#tf-code-error').waitFor();
      expect(await code.getAttribute('aria-invalid')).toBe('true');
      await code.fill('function handler(webhook) { webhook.payload.tagged = true; return webhook; }');
      await page.getByLabel('Test payload (JSON)').fill('{"n": 7}');
      await page.getByRole('button', { name: 'Test transformation' }).click();
      const result = page.locator('.transform-result');
      await result.waitFor();
      expect(await result.textContent()).toContain(`Would send POST ${receiver.url}`);
      expect(await result.textContent()).toContain('"tagged": true');
      await page.getByLabel('Run it on every delivery').check();
      await page.getByRole('button', { name: 'Save transformation' }).click();
      await page.getByText('Saved.').waitFor();
      expect(await admin('GET', `/app/${appId}/endpoint/${ep.id}/transformation`)).toMatchObject({
        enabled: true,
      });
      const n = receiver.received.length;
      await admin('POST', `/app/${appId}/msg`, { eventType: 'order.created', payload: { n: 1 } });
      await receiver.arrived(n + 1);
      expect(JSON.parse(receiver.received[n]!.body)).toMatchObject({ n: 1, tagged: true });
    } finally {
      await context.close();
    }
  });

  it('a read-only link shows no control that writes', async () => {
    const app = await admin('POST', '/app', { name: 'Reader' });
    const appId = app.id as string;
    const ep = await admin('POST', `/app/${appId}/endpoint`, { url: receiver.url });
    await admin('POST', `/app/${appId}/msg`, { eventType: 'order.created', payload: {} });
    const { page, context } = await open(await linkFor(appId, { readOnly: true }));
    try {
      await page.getByText('Read only').waitFor();
      await page.getByRole('link', { name: receiver.url }).waitFor();
      expect(await page.getByRole('link', { name: 'Add endpoint' }).count()).toBe(0);
      await page.getByRole('link', { name: receiver.url }).click();
      await page.getByRole('heading', { name: 'Message log' }).waitFor();
      await page.locator('tbody tr').first().waitFor({ timeout: 10_000 });
      for (const name of [
        'Edit',
        'Disable',
        'Delete',
        'Rotate secret',
        'Resend',
        'Send example',
        'Recover',
        'Save transformation',
        'Test transformation',
      ]) {
        expect(await page.getByRole('button', { name, exact: true }).count(), name).toBe(0);
      }
      expect(await page.getByRole('link', { name: 'Edit' }).count()).toBe(0);
      // The transformation is shown, not editable.
      await page.locator('summary', { hasText: 'Transformation' }).click();
      expect(await page.getByLabel('Code', { exact: true }).getAttribute('readonly')).not.toBeNull();
      expect(page.url()).toContain(`/endpoints/${ep.id}`);
    } finally {
      await context.close();
    }
  });

  it('an ended link says it has expired; an address without a key says where to open it', async () => {
    const app = await admin('POST', '/app', { name: 'Ended' });
    const link = await linkFor(app.id as string);
    await admin('POST', `/auth/app/${app.id}/expire-all`, {});
    const { page, context } = await open(link);
    try {
      await page.getByRole('heading', { name: 'This link has expired' }).waitFor();
      await page.goto(link.replace(/#.*/, ''));
      await page.getByRole('heading', { name: 'This page opens from its link' }).waitFor();
    } finally {
      await context.close();
    }
  });

  it('takes its look from URL parameters: theme, primary colour, font, logo, no navigation', async () => {
    const app = await admin('POST', '/app', { name: 'Themed' });
    const link = await linkFor(app.id as string);
    const [base, fragment] = link.split('#');
    const { page, context } = await open(
      `${base}?theme=dark&primaryColor=%23e11d48&fontFamily=Georgia#${fragment}&logo=/logo.svg`,
    );
    try {
      await page.getByRole('heading', { name: 'Endpoints' }).waitFor();
      const look = await page.evaluate<{
        theme: string | null;
        primary: string;
        font: string;
        logo: string | null;
      }>(`({
        theme: document.documentElement.getAttribute('data-theme'),
        primary: document.documentElement.style.getPropertyValue('--pico-primary'),
        font: document.documentElement.style.getPropertyValue('--pico-font-family'),
        logo: document.querySelector('.brand img')?.getAttribute('src') ?? null,
      })`);
      expect(look).toEqual({
        theme: 'dark',
        primary: '#e11d48',
        font: 'Georgia, var(--portal-font)',
        logo: '/logo.svg',
      });
      await page.goto(`${base}?hideNav=true#${fragment}`);
      await page.getByRole('heading', { name: 'Endpoints' }).waitFor();
      expect(await page.getByRole('navigation').count()).toBe(0);
    } finally {
      await context.close();
    }
  });

  it("one application's link never shows another's data, in the page or its requests", async () => {
    const other = await admin('POST', '/app', { name: 'Other' });
    const secretUrl = `${receiver.url}?other-app`;
    const foreign = await admin('POST', `/app/${other.id}/endpoint`, { url: secretUrl });
    const mine = await admin('POST', '/app', { name: 'Mine' });
    const context = await browser.newContext();
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/api/v1/')) requests.push(r.url());
    });
    try {
      // A deep link to the other application's endpoint, with this application's token.
      await page.goto(`${await linkFor(mine.id as string)}&to=/endpoints/${foreign.id}`);
      await page.getByRole('alert').first().waitFor();
      expect(await page.content()).not.toContain(secretUrl);
      await page.getByRole('link', { name: 'Endpoints' }).click();
      await page.getByText('No endpoints yet').waitFor();
      expect(requests.length).toBeGreaterThan(0);
      for (const url of requests) expect(url).not.toContain(other.id as string);
      expect(await page.content()).not.toContain(secretUrl);
    } finally {
      await context.close();
    }
  });

  it('every control is reachable by Tab and labelled; axe-core finds no serious violation', async () => {
    const app = await admin('POST', '/app', { name: 'Keys' });
    const appId = app.id as string;
    const ep = await admin('POST', `/app/${appId}/endpoint`, { url: receiver.url, description: 'a11y' });
    await admin('POST', `/app/${appId}/msg`, { eventType: 'order.created', payload: {} });
    const link = await linkFor(appId);
    const { page, context } = await open(link, { bypassCSP: true });
    try {
      const screens: [string, () => Promise<void>][] = [
        ['endpoints', () => page.getByRole('link', { name: receiver.url }).waitFor()],
        [
          `endpoints/${ep.id}`,
          async () => {
            await page.goto(`${link.replace(/#.*/, '')}#/endpoints/${ep.id}`);
            await page.locator('tbody tr').first().waitFor({ timeout: 10_000 });
            // With the transformation editor open: its controls are checked too.
            await page.locator('summary', { hasText: 'Transformation' }).click();
            await page.getByLabel('Code', { exact: true }).waitFor();
          },
        ],
        ['endpoints/new', () => page.getByLabel('Endpoint URL').waitFor()],
        ['catalog', () => page.getByText('order.created').first().waitFor()],
      ];
      for (const [route, ready] of screens) {
        if (route !== screens[1]![0]) await page.evaluate(`location.hash = ${JSON.stringify(`/${route}`)}`);
        await ready();
        expect(await axeViolations(page), route).toEqual([]);
        // Tab through the page: every visible control gets the focus, and has a name.
        const controls = await page.evaluate<number>(`
          [...document.querySelectorAll('a[href], button, input, select, textarea, summary')]
            .filter((el) => el.offsetParent !== null && !el.disabled)
            .map((el, i) => { el.dataset.tabCheck = String(i); return i; }).length`);
        await page.evaluate('document.activeElement?.blur()');
        const reached = new Set<string>();
        // Twice round: the browser starts from where the focus last was, and wraps at the end.
        for (let i = 0; i < controls * 2 + 4; i++) {
          await page.keyboard.press('Tab');
          const id = await page.evaluate<string | undefined>('document.activeElement?.dataset?.tabCheck');
          if (id) reached.add(id);
        }
        const missed = await page.evaluate<string[]>(`
          [...document.querySelectorAll('[data-tab-check]')]
            .filter((el) => !${JSON.stringify([...reached])}.includes(el.dataset.tabCheck))
            .map((el) => el.outerHTML.slice(0, 120))`);
        expect(missed, route).toEqual([]);
      }
    } finally {
      await context.close();
    }
  });
});

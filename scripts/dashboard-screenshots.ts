/**
 * Renders the operator dashboard's main screens into docs/dashboard-*.png, against a real
 * `herald serve` (dist/) with a few customers' data and local receivers, in Debian's chromium.
 *
 *   npm run build && npx tsx scripts/dashboard-screenshots.ts   (npm run screenshots does both pages)
 */
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, SHOP_EVENT_TYPES, startDemoHerald, statusReceiver } from './portal-demo.js';

const OUT = new URL('../docs/', import.meta.url);

const ok = await statusReceiver((n) => (n % 5 === 4 ? 503 : 200));
const down = await statusReceiver(502);
const herald = await startDemoHerald();
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
try {
  for (const t of SHOP_EVENT_TYPES) await herald.call('POST', '/event-type', t);
  const apps: Record<string, unknown>[] = [];
  for (const [name, uid] of [
    ['Acme Shop', 'acme'],
    ['Globex Logistics', 'globex'],
    ['Initech Billing', 'initech'],
    ['Umbrella Health', 'umbrella'],
  ] as const)
    apps.push(await herald.call('POST', '/app', { name, uid }));
  const acme = apps[0]!;
  await herald.call('POST', `/app/${acme.id}/endpoint`, {
    url: `http://localhost:${ok.port}/webhooks/orders`,
    description: 'Order fulfilment service',
  });
  await herald.call('POST', `/app/${acme.id}/endpoint`, {
    url: `http://localhost:${down.port}/hooks/crm`,
    description: 'CRM sync',
    retrySchedule: [],
  });
  await herald.call('POST', `/app/${apps[1]!.id}/endpoint`, { url: `http://localhost:${ok.port}/globex` });
  const types = ['order.created', 'order.paid', 'customer.updated', 'order.refunded'];
  for (let i = 0; i < 16; i++) {
    const eventType = types[i % types.length]!;
    const example = SHOP_EVENT_TYPES.find((t) => t.name === eventType)!.schemas['1'].examples[0]!;
    await herald.call('POST', `/app/${acme.id}/msg`, {
      eventType,
      eventId: `evt_${1000 + i}`,
      payload: { ...example, id: `${example.id}${i}` },
    });
  }
  // Two and a half minutes of traffic, a few messages every 5 s, so that the overview's
  // charts (per minute, from the store) have minutes to show and the server has taken its
  // queue snapshots: this makes the script that much slower.
  for (let i = 0; i < 30; i++) {
    const eventType = types[i % types.length]!;
    for (let j = 0; j < 1 + ((i * 7) % 5); j++)
      await herald.call('POST', `/app/${(i + j) % 3 === 0 ? apps[1]!.id : acme.id}/msg`, {
        eventType,
        payload: { id: `ord_${i}_${j}` },
      });
    await new Promise((r) => setTimeout(r, 5000));
  }

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  const shot = async (name: string, p: Page, fullPage = false) => {
    await p.waitForLoadState('networkidle');
    await p.screenshot({ path: new URL(`dashboard-${name}.png`, OUT).pathname, fullPage });
    process.stdout.write(`docs/dashboard-${name}.png\n`);
  };
  await page.goto(`${herald.url}/dashboard`);
  await page.getByLabel('Admin token').fill('a-wrong-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  await shot('sign-in', page);
  await page.getByLabel('Admin token').fill(herald.admin);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.overview-chart canvas').first().waitFor();
  // The whole page: its four charts run below the fold.
  await shot('overview', page, true);
  await page.goto(`${herald.url}/dashboard#/apps`);
  await page.getByRole('link', { name: 'Acme Shop' }).waitFor();
  await shot('applications', page);
  await page.goto(`${herald.url}/dashboard#/apps/${acme.id}/messages`);
  await page.getByRole('link', { name: 'order.created' }).first().waitFor();
  await shot('messages', page);
  // A host pasted into the one search box: the endpoints under it, in every application.
  await page.goto(`${herald.url}/dashboard#/search`);
  await page.getByLabel('Search everything').fill(`localhost:${ok.port}`);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('table', { name: 'Endpoints' }).waitFor();
  await shot('search', page);
  await page.getByLabel('Search everything').fill('evt_1002');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: 'customer.updated' }).click();
  await page.getByRole('heading', { name: 'Endpoints' }).waitFor();
  await page.getByText('No attempt yet').or(page.getByText('Failed').first()).first().waitFor();
  await shot('message', page);
  await page.goto(`${herald.url}/dashboard#/failures`);
  await page.getByText('HTTP 5xx').first().waitFor();
  await shot('failures', page);
  await page.getByRole('button', { name: /Resend all failed messages to .*crm/ }).click();
  await page.getByRole('dialog').waitFor();
  await shot('resend-confirm', page);
  await page.keyboard.press('Escape');
  await page.goto(`${herald.url}/dashboard#/event-types`);
  await page.getByRole('button', { name: 'Edit order.created' }).click();
  await page.getByLabel('JSON Schema').waitFor();
  await shot('event-types', page);
  const source = await herald.call('POST', '/source', {
    name: 'Stripe payments',
    provider: 'none',
    appId: acme.id,
  });
  for (const body of ['{"type":"charge.succeeded"}', '{"type":"charge.refunded"}'])
    await fetch(source.ingestUrl as string, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
  // A forged request (the source verifies Standard Webhooks signatures) shows a rejection and its reason.
  const signed = await herald.call('POST', '/source', {
    name: 'Billing events',
    provider: 'standard-webhooks',
    appId: acme.id,
    secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
  });
  await fetch(signed.ingestUrl as string, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': 'msg_forged',
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': 'v1,Zm9yZ2Vk',
    },
    body: '{"type":"invoice.paid"}',
  });
  await page.goto(`${herald.url}/dashboard#/sources`);
  const stripe = page.getByRole('article', { name: 'Source Stripe payments' });
  await stripe.getByRole('button', { name: 'Requests' }).click();
  await stripe.getByText('accepted').first().waitFor();
  await page
    .getByRole('article', { name: 'Source Billing events' })
    .getByRole('button', { name: 'Requests' })
    .click();
  await page.getByText('rejected').first().waitFor();
  await shot('sources', page);
  const [first] = (await herald.call('GET', `/source/${source.id}/request`)).data as { id: string }[];
  await stripe.getByRole('button', { name: `Replay request ${first!.id}` }).click();
  await page.getByRole('dialog', { name: /^Replay request/ }).waitFor();
  await shot('source-replay-confirm', page);
  await page.keyboard.press('Escape');

  const ops = await herald.call('POST', '/operational-webhook/endpoint', {
    url: `http://localhost:${ok.port}/ops/herald-events`,
    description: 'On-call pager bridge',
    filterTypes: ['endpoint.disabled', 'message.attempt.exhausted', 'background_task.finished'],
    rateLimit: 10,
  });
  await herald.call('PATCH', `/operational-webhook/endpoint/${ops.id}/headers`, {
    headers: { 'X-Team': 'platform-oncall' },
  });
  await herald.call('POST', '/operational-webhook/endpoint', {
    url: `http://localhost:${ok.port}/ops/audit`,
    description: 'Audit log',
  });
  await page.goto(`${herald.url}/dashboard#/operational`);
  await page.getByRole('link', { name: /herald-events/ }).waitFor();
  await shot('operational', page);
  await page.goto(`${herald.url}/dashboard#/operational/${ops.id}`);
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  await page.getByText('Custom headers').waitFor();
  // Tall enough for the form and the secret and headers under it.
  await page.setViewportSize({ width: 1280, height: 1080 });
  await shot('operational-endpoint', page);
} finally {
  await browser.close();
  await herald.stop();
  for (const r of [ok, down]) r.server.close();
}

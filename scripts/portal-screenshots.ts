/**
 * Renders the consumer portal's main screens into docs/portal-*.png, against a real
 * `herald serve` (dist/, so `npm run screenshots` builds first) with a small shop's data and
 * local receivers, in Debian's chromium.
 *
 *   npm run screenshots
 */
import { chromium, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, SHOP_EVENT_TYPES, startDemoHerald, statusReceiver } from './portal-demo.js';

const OUT = new URL('../docs/', import.meta.url);

// The orders service is down for every fourth request: the log and the chart show failures.
const ok = await statusReceiver((n) => (n % 4 === 3 ? 503 : 200));
const failing = await statusReceiver(500);
const gone = await statusReceiver(410);
const herald = await startDemoHerald();
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
try {
  for (const t of SHOP_EVENT_TYPES) await herald.call('POST', '/event-type', t);
  const app = await herald.call('POST', '/app', { name: 'Acme Shop', uid: 'acme' });
  const appPath = `/app/${app.id}`;
  const orders = await herald.call('POST', `${appPath}/endpoint`, {
    url: `http://localhost:${ok.port}/webhooks/orders`,
    description: 'Order fulfilment service',
    filterTypes: ['order.created', 'order.paid', 'order.refunded'],
    rateLimit: 50,
  });
  await herald.call('POST', `${appPath}/endpoint`, {
    url: `http://localhost:${failing.port}/hooks/crm`,
    description: 'CRM sync',
    filterTypes: ['customer.updated'],
  });
  const legacy = await herald.call('POST', `${appPath}/endpoint`, {
    url: `http://localhost:${gone.port}/legacy/webhook`,
    description: 'Old integration',
    filterTypes: ['order.refunded'],
  });
  await herald.call('PUT', `${appPath}/endpoint/${orders.id}/headers`, {
    headers: { 'x-shop-region': 'eu-west', 'x-api-key': 'k_live_8f2c' },
    sensitive: ['x-api-key'],
  });
  const sends = [
    'order.created',
    'order.paid',
    'order.created',
    'customer.updated',
    'order.refunded',
    'order.paid',
  ];
  for (const [i, eventType] of [...sends, ...sends].entries()) {
    const example = SHOP_EVENT_TYPES.find((t) => t.name === eventType)!.schemas['1'].examples[0]!;
    await herald.call('POST', `${appPath}/msg`, {
      eventType,
      payload: { ...example, id: `${example.id}${i}` },
    });
  }
  // Until every first attempt is recorded.
  for (let i = 0; i < 100; i++) {
    const attempts = await herald.call('GET', `${appPath}/attempt/endpoint/${orders.id}?limit=50`);
    if ((attempts.data as unknown[]).length >= 8) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Until Herald has disabled the 410 endpoint by itself (the list says when and why).
  for (let i = 0; i < 100; i++) {
    if ((await herald.call('GET', `${appPath}/endpoint/${legacy.id}`)).disabledReason) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const { url: link } = (await herald.call('POST', `/auth/app-portal-access/${app.id}`, {})) as {
    url: string;
  };

  const shot = async (name: string, page: Page, fullPage = true) => {
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: new URL(`portal-${name}.png`, OUT).pathname, fullPage });
    process.stdout.write(`docs/portal-${name}.png\n`);
  };
  const open = async (fragment: string, width = 1280, height = 800) => {
    const page = await browser.newPage({ viewport: { width, height }, colorScheme: 'light' });
    await page.goto(`${link}${fragment}`);
    return page;
  };

  let page = await open('');
  await page.getByRole('link', { name: /localhost:\d+\/webhooks\/orders/ }).waitFor();
  await shot('endpoints', page, false);

  await page.getByRole('link', { name: /webhooks\/orders/ }).click();
  await page.getByRole('heading', { name: 'Message log' }).waitFor();
  await page
    .getByRole('button', { name: /^Details of attempt/ })
    .first()
    .click();
  await page.waitForSelector('.chart canvas');
  await shot('endpoint', page);
  await page.close();

  page = await open(`&to=/endpoints/${orders.id}`);
  await page.locator('summary', { hasText: 'Transformation' }).click();
  await page.getByRole('button', { name: 'Test transformation' }).click();
  await page.locator('.transform-result').waitFor();
  await page.waitForLoadState('networkidle');
  await page
    .locator('details.transformation')
    .screenshot({ path: new URL('portal-transformation.png', OUT).pathname });
  process.stdout.write('docs/portal-transformation.png\n');
  await page.close();

  page = await open(`&theme=dark&to=/endpoints/${orders.id}`);
  await page.getByRole('heading', { name: 'Message log' }).waitFor();
  await page.waitForSelector('.chart canvas');
  await shot('dark', page, false);
  await page.close();

  page = await open(`&to=/endpoints/${legacy.id}`, 1280, 560);
  await page.getByRole('note').waitFor();
  await shot('disabled', page, false);
  await page.close();

  page = await open('&to=/endpoints/new');
  await page.getByLabel('Endpoint URL').fill('ftp://files.example.com/in');
  await page.getByLabel('Description').fill('Warehouse');
  await page.getByRole('checkbox', { name: /order\.paid/ }).check();
  await page.getByRole('button', { name: 'Add header' }).click();
  await page.getByLabel('Header 1 name').fill('Authorization');
  await page.getByLabel('Header 1 value').fill('Bearer wh_9c1f2d');
  await page.getByLabel('Payload filter').fill('{"payload.total": {"$gt": 100}}');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await page.locator('.field-error').first().waitFor();
  await shot('add-endpoint', page);
  await page.close();

  page = await open('&to=/catalog');
  await page.getByRole('heading', { name: 'Event catalog' }).waitFor();
  await page.getByText('JSON Schema').first().waitFor();
  await shot('catalog', page, false);
  await page.close();

  page = await open(`&to=/endpoints/${orders.id}&primaryColor=%237c3aed`, 390, 844);
  await page.getByRole('heading', { name: 'Message log' }).waitFor();
  await shot('mobile', page, false);
  await page.close();
} finally {
  await browser.close();
  await herald.stop();
  for (const r of [ok, failing, gone]) r.server.close();
}

/**
 * Ingest alone: `herald serve --role api` (no dispatcher) on a fresh SQLite file, 30,000
 * messages POSTed by 64 concurrent clients, three rounds; the rate and the CPU of the API
 * process. What the API costs per message, apart from delivery.
 *
 *   npm run build && npx tsx bench/ingest.ts
 */
import { PAYLOAD } from './e2e.js';
import { lanes, measureHeraldCpu, startHerald, takeHeraldCpu } from './harness.js';

const MESSAGES = 30_000;
const herald = await startHerald(['--role', 'api']);
try {
  const app = await herald.post('/app', { name: 'ingest' });
  // Nothing sends to it: the endpoint only makes each message create a delivery.
  await herald.post(`/app/${app.id}/endpoint`, { url: 'http://127.0.0.1:9/' });
  for (let round = 1; round <= 3; round++) {
    const done = measureHeraldCpu(herald.pid);
    const started = performance.now();
    await lanes(MESSAGES, 64, async () => {
      await herald.post(`/app/${app.id}/msg`, { eventType: 'content.published', payload: PAYLOAD });
    });
    const rate = MESSAGES / ((performance.now() - started) / 1000);
    done();
    console.log(`round ${round}: ${Math.round(rate)} messages/s accepted; ${takeHeraldCpu()}`);
  }
} finally {
  await herald.stop();
}

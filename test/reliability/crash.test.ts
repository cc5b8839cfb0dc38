/**
 * `herald serve` stopped with SIGKILL or SIGTERM at seeded moments and restarted on the
 * same database, on SQLite and on PostgreSQL: every accepted message reaches the receiver,
 * nothing unknown appears, SIGTERM causes no duplicate, and the SQLite file stays intact.
 * `npm test` runs a short version; `npm run chaos` sets CHAOS_MESSAGES=20000 CHAOS_KILLS=5.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { freshDatabase } from '../pg.js';
import { type CrashOptions, crashRun, describeReport, sqliteIntegrity } from './crash.js';

const MESSAGES = Number(process.env.CHAOS_MESSAGES ?? 3_000);
const KILLS = Number(process.env.CHAOS_KILLS ?? 2);
const SEED = Number(process.env.CHAOS_SEED ?? 20261127);
const TIMEOUT = 120_000 + MESSAGES * KILLS * 10;

const dir = tempDir();
afterAll(() => dir.remove());

async function database(backend: string, name: string): Promise<{ db: string; drop: () => Promise<void> }> {
  if (backend === 'sqlite') return { db: dir.path(`${name}.db`), drop: async () => undefined };
  const fresh = await freshDatabase(name);
  return { db: fresh.url, drop: fresh.drop };
}

describe.each(['sqlite', 'postgres'])('crashes on %s', (backend) => {
  it.each(['SIGKILL', 'SIGTERM'] as const)(
    '%s mid-run, restarted: nothing accepted is lost',
    { timeout: TIMEOUT },
    async (signal) => {
      const { db, drop } = await database(backend, `crash_${signal.toLowerCase()}`);
      try {
        const options: CrashOptions = { db, signal, messages: MESSAGES, kills: KILLS, seed: SEED };
        const report = await crashRun(options);
        console.log(describeReport(`${backend} ${signal}`, options, report));
        expect(report.stored).toBe(MESSAGES);
        expect(report.lost).toBe(0);
        expect(report.unknown).toBe(0);
        expect(report.delivered).toBe(MESSAGES);
        if (signal === 'SIGTERM') {
          expect(report.failedStops).toEqual([]);
          // A clean stop delivers or releases what it holds: exit 0, and nothing sent twice.
          expect(report.exitCodes.every((code) => code === 0)).toBe(true);
          expect(report.duplicates).toBe(0);
        }
        if (backend === 'sqlite') expect(sqliteIntegrity(db)).toBe('ok');
      } finally {
        await drop();
      }
    },
  );
});

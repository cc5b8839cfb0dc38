/**
 * `herald serve` on SQLite copies the WAL back into the database file from a thread of its
 * own, so that no API request waits for that copy in a commit.
 */
import { copyFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';

let herald: HeraldProcess | undefined;
const dir = tempDir();

afterEach(async () => {
  await herald?.stop();
  herald = undefined;
});
afterAll(() => dir.remove());

/**
 * Messages in the database file alone, as if its WAL were lost: what was checkpointed.
 * A copy taken while a checkpoint writes may be torn; that counts as none yet.
 */
function messagesInMainFile(dbPath: string, name: string): number {
  const copy = dir.path(name);
  copyFileSync(dbPath, copy);
  try {
    const db = new Database(copy, { readonly: true });
    try {
      return db.prepare<[], { n: number }>('SELECT count(*) AS n FROM messages').get()!.n;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

describe('checkpoint thread', () => {
  it('brings committed messages into the database file within a second, long before a commit would', async () => {
    herald = await startHerald();
    const app = await herald.post('/app', { name: 'checkpointed' });
    // 200 messages write far fewer than the 10,000 pages after which a commit checkpoints.
    for (let i = 0; i < 200; i++)
      await herald.post(`/app/${app.id}/msg`, { eventType: 'a.b', payload: { i } });
    let found = 0;
    const end = Date.now() + 5_000;
    for (let i = 0; found < 200 && Date.now() < end; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      found = messagesInMainFile(herald.dbPath, `copy-${i}.db`);
    }
    expect(found).toBe(200);
    expect(await herald.stop()).toBe(0);
    herald = undefined;
  });
});

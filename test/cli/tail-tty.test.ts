/**
 * `herald tail` and the progress bar of `herald replay-missing` on a terminal, as a person sees it: tmux runs it in a pane, capture-pane reads
 * the screen, and send-keys types Ctrl-C. Skipped, saying so, where tmux is not installed.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../helpers.js';
import { type HeraldProcess, startHerald } from '../serve.js';
import { api } from './run.js';

const BIN = fileURLToPath(new URL('../../bin/herald.js', import.meta.url));
const hasTmux = (() => {
  try {
    execFileSync('tmux', ['-V']);
    return true;
  } catch {
    return false;
  }
})();
let session = `herald-tail-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', session);

async function until(check: () => boolean): Promise<void> {
  // The screen has no event to wait on: it is read again until it shows what is expected.
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(check(), screen()).toBe(true);
}

let server: HeraldProcess;
let receiver: Receiver;
beforeAll(async () => {
  if (!hasTmux) return;
  server = await startHerald();
  receiver = await startReceiver();
  await api(server, 'POST', '/app', { name: 'Shop', uid: 'shop' });
  await api(server, 'POST', '/app/shop/endpoint', { url: receiver.url });
});
afterAll(async () => {
  if (!hasTmux) return;
  for (const name of [`herald-tail-${process.pid}`, `herald-bar-${process.pid}`])
    try {
      tmux('kill-session', '-t', name);
    } catch {
      // Already gone with its shell.
    }
  await receiver.close();
  await server.stop();
});

describe.skipIf(!hasTmux)('herald tail in a terminal (tmux)', () => {
  it('shows each attempt as a line as it happens, and Ctrl-C ends it with 0', async () => {
    const command = `HERALD_SERVER=${server.url} HERALD_TOKEN=${server.token} ${process.execPath} ${BIN} tail --app shop; echo "exit=$?"; sleep 30`;
    tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '20', command);
    await until(() => screen().includes("tailing shop's attempts"));
    const sent = await api(server, 'POST', '/app/shop/msg', { eventType: 'order.paid', payload: { n: 1 } });
    await until(() => screen().includes(`order.paid  ${sent.body.id}`));
    expect(screen()).toMatch(new RegExp(`order\\.paid {2}${sent.body.id} {2}ep_\\S+ {2}ok 200 {2}\\d+ ms`));
    tmux('send-keys', '-t', session, 'C-c');
    await until(() => screen().includes('exit=0'));
  });

  it('replay-missing draws a progress bar to 100% with the count, then prints its result', async () => {
    session = `herald-bar-${process.pid}`;
    const since = new Date(Date.now() - 60_000).toISOString();
    await api(server, 'POST', '/app', { name: 'Late', uid: 'late' });
    for (let n = 0; n < 2; n++)
      await api(server, 'POST', '/app/late/msg', { eventType: 'order.paid', payload: { n } });
    await api(server, 'POST', '/app/late/endpoint', { url: receiver.url, uid: 'new' });
    const command = `HERALD_SERVER=${server.url} HERALD_TOKEN=${server.token} ${process.execPath} ${BIN} replay-missing --app late --endpoint new --since ${since}; echo "exit=$?"; sleep 30`;
    tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '20', command);
    await until(() => screen().includes('exit=0'));
    const shown = screen();
    expect(shown).toMatch(/replay-missing \[#{40}\] 100% \| 2 deliveries \| \d+s/);
    expect(shown).toContain(`2 messages since ${since} that new never got are queued for it now.`);
  });
});

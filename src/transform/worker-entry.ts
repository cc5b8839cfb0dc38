/**
 * The transformations' worker thread: runs each call it is sent through a {@link Transformer}
 * and answers with the changed webhook or the error. Its parent (`pool.ts`) terminates it if
 * a call runs past the wall-clock limit (a native operation QuickJS's interrupt cannot stop,
 * such as filling a huge array near the memory cap), so no handler blocks the dispatcher.
 */
import { parentPort } from 'node:worker_threads';
import type { PoolReply, PoolRequest } from './pool.js';
import { checkTransformation, TransformationError, Transformer, tryTransformation } from './sandbox.js';

const transformer = new Transformer();
const port = parentPort;
if (!port) throw new Error('worker-entry.ts runs as a worker thread');
// Load QuickJS's WebAssembly before saying so: the first call's time limit must not count it.
await checkTransformation('function handler(webhook) { return webhook; }');
port.postMessage('ready');
port.on('message', async (request: PoolRequest) => {
  let reply: PoolReply;
  try {
    const value =
      request.kind === 'run'
        ? await transformer.run(request.endpointId, request.code, request.input)
        : request.kind === 'check'
          ? await checkTransformation(request.code)
          : await tryTransformation(request.code, request.input);
    reply = { id: request.id, ok: true, value };
  } catch (error) {
    reply = {
      id: request.id,
      ok: false,
      error:
        error instanceof TransformationError
          ? error.message
          : `the transformation could not run: ${String(error)}`,
    };
  }
  port.postMessage(reply);
});

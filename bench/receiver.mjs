// A minimal webhook receiver for benchmarks, run in its own process so that it does not
// share an event loop with what is measured. Answers 200 to every POST, counts them, and
// reports the count over IPC when asked.
import { createServer } from 'node:http';

let count = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    count++;
    res.end('ok');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('message', (m) => {
  if (m === 'count') process.send?.({ count });
  if (m === 'reset') count = 0;
  if (m === 'exit') server.close(() => process.exit(0));
});

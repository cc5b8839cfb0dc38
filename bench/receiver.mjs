// A minimal webhook receiver for benchmarks, run in its own process so that it does not
// share an event loop with what is measured. Answers 200 to every POST (or, started with
// `hang`, never answers), counts requests, and over IPC reports the count or the arrival
// time of each webhook-id (performance.timeOrigin + now, comparable across processes).
import { createServer } from 'node:http';

const hang = process.argv.includes('hang');
let count = 0;
let arrivals = new Map();
const server = createServer((req, res) => {
  const id = req.headers['webhook-id'];
  if (id && !arrivals.has(id)) arrivals.set(id, performance.timeOrigin + performance.now());
  req.resume();
  req.on('end', () => {
    count++;
    if (!hang) res.end('ok');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('message', (m) => {
  if (m === 'count') process.send?.({ count });
  if (m === 'arrivals') process.send?.({ arrivals: [...arrivals] });
  if (m === 'reset') {
    count = 0;
    arrivals = new Map();
  }
  if (m === 'exit') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});

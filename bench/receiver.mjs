// A minimal webhook receiver for benchmarks, run in its own process so that it does not
// share an event loop with what is measured. Answers 200 to every POST (or, started with
// `hang`, never answers), counts requests, and over IPC reports the count or the arrival
// time of each webhook-id (performance.timeOrigin + now, comparable across processes).
// Started with `latency` (the sustained bench), it keeps no arrivals but reads `sentAt`
// (epoch ms) from each JSON body and hands over the latencies collected since it last did.
import { createServer } from 'node:http';

const hang = process.argv.includes('hang');
const measure = process.argv.includes('latency');
let count = 0;
let arrivals = new Map();
let latencies = [];
const server = createServer((req, res) => {
  const at = performance.timeOrigin + performance.now();
  const id = req.headers['webhook-id'];
  if (!measure && id && !arrivals.has(id)) arrivals.set(id, at);
  const chunks = [];
  if (measure) req.on('data', (c) => chunks.push(c));
  else req.resume();
  req.on('end', () => {
    count++;
    if (measure) {
      const sentAt = JSON.parse(Buffer.concat(chunks).toString()).sentAt;
      if (typeof sentAt === 'number') latencies.push(at - sentAt);
    }
    if (!hang) res.end('ok');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('message', (m) => {
  if (m === 'count') process.send?.({ count });
  if (m === 'arrivals') process.send?.({ arrivals: [...arrivals] });
  if (m === 'latencies') {
    process.send?.({ latencies });
    latencies = [];
  }
  if (m === 'reset') {
    count = 0;
    arrivals = new Map();
  }
  if (m === 'exit') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});

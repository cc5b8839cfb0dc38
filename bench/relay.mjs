// The relay ceiling of the end-to-end scenarios (issue 22): a minimal Node process that
// takes the ingest POST Herald takes (`/api/v1/app/<id>/msg`, JSON with a payload), forwards
// the payload to the receiver with undici and answers 202 once the receiver has answered,
// storing nothing, signing nothing: exactly the two HTTP exchanges of an end-to-end
// delivery. Started with the receiver's URL; reports its port over IPC.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Agent } from 'undici';

const target = new URL(process.argv[2]);
const agent = new Agent({ connections: 64, keepAliveTimeout: 60_000 });
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      const { payload } = JSON.parse(Buffer.concat(chunks).toString());
      const id = `msg_${randomUUID()}`;
      const answer = await agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'webhook-id': id },
        body: JSON.stringify(payload),
      });
      await answer.body.dump();
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id }));
    } catch (err) {
      res.writeHead(502);
      res.end(String(err));
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => agent.close().then(() => process.exit(0)));
});

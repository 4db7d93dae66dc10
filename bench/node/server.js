'use strict';
// Baseline for bench/run.sh: the seed's server design (express for the
// health routes, ws on the same http server at /wss, broadcast to every open
// client), written without logging per message so that the benchmark
// measures the design and not console I/O.
const http = require('node:http');
const express = require('express');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number.parseInt(process.env.PORT || '8080', 10);
const host = process.env.HOST || '127.0.0.1';
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`PORT ${JSON.stringify(process.env.PORT)}: want a TCP port number`);
  process.exit(2);
}

const app = express();
const ok = (_req, res) => res.status(200).send('Ok');
app.get('/', ok);
app.get('/health', ok);

const server = http.createServer(app);
const wss = new WebSocketServer({ server, path: '/wss' });

wss.on('connection', (client) => {
  client.send(JSON.stringify({ connection: 'ok' }));
  client.on('message', (data) => {
    let parsed;
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      return; // the seed drops invalid JSON silently
    }
    const out = JSON.stringify({ message: parsed });
    for (const peer of wss.clients) {
      if (peer.readyState === WebSocket.OPEN) peer.send(out);
    }
  });
  client.on('error', () => {}); // a reset peer must not crash the process
});

const shutdown = () => {
  for (const c of wss.clients) {
    if (c.readyState === WebSocket.OPEN) c.close(1001, 'server shutting down');
  }
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(1), 5000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(port, host, () => {
  console.log(`node baseline listening on ${host}:${port}`);
});

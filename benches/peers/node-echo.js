#!/usr/bin/env node
// node-echo: a Node.js `net` echo server, the Node peer of corenet's echo benchmarks.
//
//   node benches/peers/node-echo.js --addr 127.0.0.1:PORT
//
// Prints `listening on <addr>` once listening, sets TCP_NODELAY on every accepted socket and
// writes every chunk it reads straight back. Run node itself (exec it, no wrapper) so that the
// PID a benchmark measures is the server's.
'use strict';

const net = require('net');

function usage(msg) {
  process.stderr.write(`node-echo: ${msg}\nusage: node-echo.js --addr HOST:PORT\n`);
  process.exit(2);
}

function parseAddr(argv) {
  let value;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--addr') {
      if (i + 1 >= argv.length) usage('--addr needs a value');
      value = argv[++i];
    } else if (a.startsWith('--addr=')) {
      value = a.slice('--addr='.length);
    } else {
      usage(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  if (value === undefined) usage('--addr is required');
  // HOST:PORT, or [V6HOST]:PORT.
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
  if (!m) usage(`bad --addr ${JSON.stringify(value)}`);
  return { host: m[1] || m[2], port: Number(m[3]) };
}

const { host, port } = parseAddr(process.argv.slice(2));
const server = net.createServer({ noDelay: true }, (socket) => {
  socket.setNoDelay(true);
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('end', () => socket.end());
  // A peer that resets the connection is no error for an echo server.
  socket.on('error', () => socket.destroy());
});
server.on('error', (e) => {
  process.stderr.write(`node-echo: ${e.message}\n`);
  process.exit(1);
});
server.listen({ host, port, backlog: 4096 }, () => {
  const a = server.address();
  const shown = a.family === 'IPv6' || a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  process.stdout.write(`listening on ${shown}\n`);
});

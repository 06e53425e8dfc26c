#!/usr/bin/env node
// Print N free loopback ports below the ephemeral range (see src/util/ports.ts), for the shell
// scripts that start a PocketStack: `read -r A B C < <(node scripts/free-ports.mjs 3)`.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const n = Number(process.argv[2] ?? 1);
let start = 32768;
try {
  start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
} catch {}
const hi = Math.min(start, 65536) - 1;
const lo = Math.max(10000, hi - 20000);
const canBind = (port) =>
  new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
const ports = new Set();
while (ports.size < n) {
  const port = lo + Math.floor(Math.random() * (hi - lo));
  if (!ports.has(port) && (await canBind(port))) ports.add(port);
}
console.log([...ports].join(' '));

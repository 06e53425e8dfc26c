/**
 * ICMP echo for PING health monitors. Node has no ICMP sockets, so the check runs the system
 * `ping` when installed, else a small Python helper (ping socket, or raw socket as root); both
 * HAProxy's external check and the built-in engine use the same command.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from '../util/which.js';

const HELPER = `import os, select, socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
host, timeout = sys.argv[1], float(sys.argv[2])
v6 = ':' in host
fam = socket.AF_INET6 if v6 else socket.AF_INET
proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
raw = False
try:
    s = socket.socket(fam, socket.SOCK_DGRAM, proto)
except OSError:
    s = socket.socket(fam, socket.SOCK_RAW, proto); raw = True
ident = os.getpid() & 0xffff
body = b'pocketstack-health'
pkt = struct.pack('!BBHHH', 128 if v6 else 8, 0, 0, ident, 1) + body
if not v6: pkt = struct.pack('!BBHHH', 8, 0, csum(pkt), ident, 1) + body
s.sendto(pkt, (host, 0))
end = time.time() + timeout
while True:
    left = end - time.time()
    if left <= 0 or not select.select([s], [], [], left)[0]: sys.exit(1)
    data, addr = s.recvfrom(2048)
    if raw and not v6: data = data[(data[0] & 0x0f) * 4:]
    if data and data[0] == (129 if v6 else 0) and addr[0] == host: sys.exit(0)
`;

let cached: ((host: string, timeoutSeconds: number) => [string, string[]]) | undefined;

/** The command (file, args) that pings `host` once, failing after `timeoutSeconds`. */
export function pingCommand(host: string, timeoutSeconds: number): [string, string[]] {
  if (!cached) {
    const ping = which('ping');
    if (ping) cached = (h, t) => [ping, ['-n', '-q', '-c', '1', '-W', String(Math.max(1, t)), h]];
    else {
      const dir = join(tmpdir(), 'pocketstack-lb');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'icmp-echo.py');
      writeFileSync(file, HELPER);
      const py = which('python3') ?? '/usr/bin/python3';
      cached = (h, t) => [py, [file, h, String(Math.max(0.1, t))]];
    }
  }
  return cached(host, timeoutSeconds);
}

/** A shell script HAProxy's external-check can run: `script <proxy addr> <proxy port> <server addr> <server port>`. */
export function externalCheckScript(timeoutSeconds: number): string {
  const [file, args] = pingCommand('__HOST__', timeoutSeconds);
  const quoted = args.map((a) => (a === '__HOST__' ? '"$3"' : `'${a}'`)).join(' ');
  return `#!/bin/sh\nexec '${file}' ${quoted} >/dev/null 2>&1\n`;
}

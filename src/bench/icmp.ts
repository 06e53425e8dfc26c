import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/** Both programs' imports and the Internet checksum (RFC 1071) of the echo requests they build. */
const PY_PRELUDE = String.raw`import os, select, socket, struct, sys, time

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF
`;

/**
 * ICMP echo ("ping") for data-plane tests and the benchmark. Debian's minimal images have no
 * ping binary and Node has no raw sockets, so a small Python program (root opens a raw socket)
 * sends an echo request every `interval` until the first reply, and prints when it came.
 */
const PROBER = String.raw`
${PY_PRELUDE}
timeout, interval, targets = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
deadline = time.monotonic() + timeout
ident = os.getpid() & 0xFFFF
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
print("ready", flush=True)
waiting = {a: i for i, a in enumerate(targets)}
sent = {}
seq, next_send = 0, 0.0
while waiting:
    now = time.monotonic()
    if now >= deadline:
        sys.exit(1)
    if now >= next_send:
        seq = (seq + 1) & 0xFFFF
        payload = b"pocketstack"
        header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload
        for a in waiting:
            try:
                sock.sendto(packet, (a, 0))
            except OSError:
                pass
        sent[seq] = now
        next_send = now + interval
    ready, _, _ = select.select([sock], [], [], max(0.0, min(next_send, deadline) - time.monotonic()))
    if not ready:
        continue
    data, addr = sock.recvfrom(2048)
    ihl = (data[0] & 0x0F) * 4
    kind, _c, _s, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
    if kind == 0 and rid == ident and addr[0] in waiting and rseq in sent:
        del waiting[addr[0]]
        print("reply %s %.3f %.3f" % (addr[0], time.time() * 1000, (time.monotonic() - sent[rseq]) * 1000), flush=True)
`;

interface EchoResult {
  /** Wall-clock time (ms since the epoch) the first reply arrived, or null on timeout. */
  at: number | null;
  /** Round trip of that reply, ms. */
  rttMs: number | null;
}

export interface Prober {
  /** Resolves once every address answered or the time is up: address → its first reply. */
  result: Promise<Map<string, EchoResult>>;
  child: ChildProcessWithoutNullStreams;
}

/**
 * Start probing `addrs` (from the host, or from inside network namespace `ns`); resolves once
 * the prober runs, so a caller can start probing first and then cause what makes them answer.
 */
export async function startProber(addrs: string[], opts: { ns?: string; timeoutS?: number; intervalS?: number } = {}): Promise<Prober> {
  const argv = ['/usr/bin/python3', '-c', PROBER, String(opts.timeoutS ?? 2), String(opts.intervalS ?? 0.05), ...addrs];
  const child = opts.ns ? spawn('ip', ['netns', 'exec', opts.ns, ...argv]) : spawn(argv[0], argv.slice(1));
  let out = '';
  let readyResolve: () => void = () => undefined;
  const ready = new Promise<void>((r) => (readyResolve = r));
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
    if (out.includes('ready')) readyResolve();
  });
  const result = new Promise<Map<string, EchoResult>>((resolve) => {
    const done = () => {
      readyResolve();
      const replies = new Map<string, EchoResult>(addrs.map((a) => [a, { at: null, rttMs: null }]));
      for (const m of out.matchAll(/reply (\S+) ([\d.]+) ([\d.]+)/g)) replies.set(m[1], { at: Number(m[2]), rttMs: Number(m[3]) });
      resolve(replies);
    };
    child.on('close', done);
    child.on('error', done);
  });
  await ready;
  return { result, child };
}

/** ICMP echo: true when `addr` answered within `timeoutS`. */
export async function ping(addr: string, opts: { ns?: string; timeoutS?: number } = {}): Promise<boolean> {
  const p = await startProber([addr], opts);
  return (await p.result).get(addr)!.at !== null;
}

/**
 * A series of echoes, one at a time (as `ping -c N -i interval`): each waits for its own reply
 * up to `timeout` seconds, its round trip timed with the monotonic clock around send and receive.
 */
const SERIES = String.raw`
${PY_PRELUDE}
target, count, interval, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ident = os.getpid() & 0xFFFF
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
payload = b"pocketstack-series" + b"\0" * 38
for seq in range(1, count + 1):
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload
    sent = time.monotonic()
    sock.sendto(packet, (target, 0))
    rtt = None
    while rtt is None:
        left = sent + timeout - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            break
        data, addr = sock.recvfrom(2048)
        now = time.monotonic()
        ihl = (data[0] & 0x0F) * 4
        kind, _c, _s, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if kind == 0 and rid == ident and rseq == seq and addr[0] == target:
            rtt = (now - sent) * 1000
    print("rtt %.4f" % rtt if rtt is not None else "lost", flush=True)
    pause = sent + interval - time.monotonic()
    if pause > 0:
        time.sleep(pause)
`;

/** Round trips (ms) of `count` echoes to `addr` from namespace `ns` (or the host); lost ones are counted apart. */
export async function echoSeries(
  addr: string,
  opts: { ns?: string; count: number; intervalS: number; timeoutS?: number },
): Promise<{ rttMs: number[]; lost: number }> {
  const argv = ['/usr/bin/python3', '-c', SERIES, addr, String(opts.count), String(opts.intervalS), String(opts.timeoutS ?? 1)];
  const child = opts.ns ? spawn('ip', ['netns', 'exec', opts.ns, ...argv]) : spawn(argv[0], argv.slice(1));
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.on('close', resolve);
    child.on('error', () => resolve(-1));
  });
  if (code !== 0) throw new Error(`echo series to ${addr} failed (${code}): ${err.trim()}`);
  const rttMs = [...out.matchAll(/^rtt ([\d.]+)$/gm)].map((m) => Number(m[1]));
  return { rttMs, lost: (out.match(/^lost$/gm) ?? []).length };
}

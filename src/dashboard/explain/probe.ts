import { ping } from '../../bench/icmp.js';
import { run } from '../../dataplane/netns/exec.js';
import type { ProbeOutcome, Protocol } from './model.js';

/**
 * A real probe, sent from inside a namespace the netns data plane built (or from the host): a TCP
 * handshake, a UDP datagram, or an ICMP echo, to one address. It is run by this same Node binary
 * under `ip netns exec`, so it needs nothing the host may lack. The outcome is what the kernel did:
 * a handshake or an RST means the packet arrived; silence means something dropped it.
 */
const PROBE = String.raw`
const net = require('node:net'), dgram = require('node:dgram');
const [proto, host, port, ms] = process.argv.slice(1);
const done = (r) => { process.stdout.write(r + '\n'); process.exit(0); };
setTimeout(() => done(proto === 'udp' ? 'silent' : 'timeout'), Number(ms));
const fail = (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH' ? 'unreachable' : 'error ' + e.code);
if (proto === 'tcp') {
  const s = net.connect({ host, port: Number(port) });
  s.on('connect', () => done('connected'));
  s.on('error', fail);
} else {
  const s = dgram.createSocket('udp4');
  s.on('error', fail);
  s.on('message', () => done('answer'));
  s.connect(Number(port), host, () => { s.send('pocketstack explain probe'); setTimeout(() => s.send('again'), 300); });
}
`;

export interface ProbeResult {
  outcome: ProbeOutcome;
  detail: string;
}

/** Probe `addr` from namespace `ns` ('' = the host). */
export async function probe(ns: string, protocol: Protocol, addr: string, port: number | null, timeoutMs = 2000): Promise<ProbeResult> {
  const where = ns === '' ? 'the host' : `namespace ${ns}`;
  if (protocol === 'icmp') {
    const ok = await ping(addr, { ...(ns ? { ns } : {}), timeoutS: timeoutMs / 1000 });
    return { outcome: ok ? 'reply' : 'timeout', detail: `ICMP echo from ${where} to ${addr}: ${ok ? 'a reply' : `no reply in ${timeoutMs} ms`}` };
  }
  const argv = [process.execPath, '-e', PROBE, protocol, addr, String(port), String(timeoutMs)];
  const r =
    ns === ''
      ? await run(argv[0], argv.slice(1), { allowFail: true, timeoutMs: timeoutMs + 5000 })
      : await run('ip', ['netns', 'exec', ns, ...argv], { allowFail: true, timeoutMs: timeoutMs + 5000 });
  const out = r.stdout.trim().split('\n').pop() ?? '';
  const known: ProbeOutcome[] = ['connected', 'refused', 'timeout', 'unreachable', 'answer', 'silent'];
  const outcome = (known as string[]).includes(out) ? (out as ProbeOutcome) : 'unreachable';
  const words: Record<ProbeOutcome, string> = {
    connected: 'the handshake completed',
    refused: 'refused (the kernel there answered: nothing listens)',
    timeout: `no answer in ${timeoutMs} ms`,
    unreachable: `unreachable${out && !known.includes(out as ProbeOutcome) ? ` (${out || r.stderr.trim().slice(0, 200)})` : ''}`,
    reply: 'a reply',
    answer: 'an answer',
    silent: `no answer in ${timeoutMs} ms`,
  };
  return { outcome, detail: `${protocol.toUpperCase()} to ${addr}:${port} from ${where}: ${words[outcome]}` };
}

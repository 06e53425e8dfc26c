import { type ChildProcess, type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/dataplane/netns/exec.js';

/**
 * Traffic helpers for data-plane tests. Everything runs from the host's root namespace or
 * inside a namespace the test's own cloud created; nothing is sent anywhere else.
 */
const HERE = dirname(fileURLToPath(import.meta.url));
const PY = '/usr/bin/python3';

const inNs = (ns: string | null, argv: string[]): [string, string[]] => (ns ? ['ip', ['netns', 'exec', ns, ...argv]] : [argv[0], argv.slice(1)]);

/** ICMP echo; resolves true when `addr` answered within `timeoutS`. */
export { ping } from '../../src/bench/icmp.js';

/** GET `url` with curl (from the host, or from inside `ns`); null when nothing answered. */
export async function httpGet(url: string, opts: { ns?: string; timeoutS?: number; source?: string } = {}): Promise<string | null> {
  const argv = ['curl', '-s', '-m', String(opts.timeoutS ?? 2), ...(opts.source ? ['--interface', opts.source] : []), url];
  const [cmd, args] = inNs(opts.ns ?? null, argv);
  const r = await run(cmd, args, { allowFail: true });
  return r.code === 0 ? r.stdout.trim() : null;
}

const started: ChildProcessWithoutNullStreams[] = [];

/** A process inside `ns` (killed by stopAll); resolves once it is running. */
function spawnIn(ns: string, argv: string[]): ChildProcessWithoutNullStreams {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  started.push(child);
  return child;
}

/** HTTP server answering "<name> <client address>" on `port` inside `ns`. */
export async function serveHttp(ns: string, port: number, name: string): Promise<void> {
  spawnIn(ns, [PY, join(HERE, 'echo_server.py'), String(port), name]);
  await waitListening(ns, port);
}

export async function serveTcpEcho(ns: string, port: number): Promise<void> {
  spawnIn(ns, [PY, join(HERE, 'tcp_echo.py'), String(port)]);
  await waitListening(ns, port);
}

async function waitListening(ns: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await run('ip', ['netns', 'exec', ns, 'ss', '-Hltn', `sport = :${port}`], { allowFail: true });
    if (r.stdout.trim()) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`nothing listens on :${port} in ${ns}`);
}

/** A TCP connection from inside `ns` that sends a line per call and returns the answer or TIMEOUT. */
export async function tcpProbe(ns: string, host: string, port: number): Promise<{ send(line: string): Promise<string>; close(): void }> {
  const child = spawnIn(ns, [PY, '-u', join(HERE, 'tcp_probe.py'), host, String(port)]);
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  let buf = '';
  child.stdout.on('data', (b: Buffer) => {
    buf += b.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const next = () => new Promise<string>((res) => (lines.length ? res(lines.shift()!) : waiters.push(res)));
  // Python's start-up is inside this wait, and takes seconds on a loaded 2-core CI machine.
  const first = await Promise.race([next(), new Promise<string>((res) => setTimeout(() => res('NO CONNECTION'), 15_000))]);
  if (first !== 'CONNECTED') throw new Error(`probe: ${first}`);
  return {
    async send(line: string) {
      child.stdin.write(`${line}\n`);
      return next();
    },
    close() {
      child.kill();
    },
  };
}

export function stopAll(): void {
  for (const c of started.splice(0)) c.kill('SIGKILL');
}

export async function sh(argv: string[]): Promise<string> {
  return (await run(argv[0], argv.slice(1))).stdout;
}

/**
 * A user_data script for a web server instance (busybox, as in the default image): prints who it
 * runs as, then serves HTTP on each port answering "<name> <client address>" and logging each
 * request to the console. Without a name, the instance answers with its own id (from the
 * metadata service). `second` replaces the client address in the answer with another CGI
 * expression (busybox httpd hands every request header to CGI as HTTP_*).
 */
export function webUserData(name: string | null, ports: number[] = [80], second = '\\$A'): string {
  return [
    '#!/bin/sh',
    name === null
      ? 'NAME=$(wget -q -O - http://169.254.169.254/openstack/latest/meta_data.json | sed -n \'s/.*"uuid": "\\([^"]*\\)".*/\\1/p\')'
      : `NAME=${name}`,
    'mkdir -p /www/cgi-bin',
    'cat > /www/cgi-bin/index.cgi <<EOF',
    '#!/bin/sh',
    // busybox httpd listens on :: and names an IPv4 client [::ffff:a.b.c.d]: the plain address.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's parameter expansion
    'A=\\${REMOTE_ADDR#[}; A=\\${A%]}; A=\\${A#::ffff:}',
    'echo "request from \\$A: \\"\\$REQUEST_METHOD \\$REQUEST_URI\\" 200" > /dev/console',
    "printf 'Content-Type: text/plain\\r\\n\\r\\n'",
    `echo "$NAME ${second}"`,
    'EOF',
    'chmod 755 /www/cgi-bin/index.cgi',
    'echo "$NAME starting as $(id -un)"',
    ...ports.map((p) => `httpd -p ${p} -h /www`),
    '',
  ].join('\n');
}

/** Uids of every process inside `ns`. */
export async function namespaceUids(ns: string): Promise<number[]> {
  const pids = (await run('ip', ['netns', 'pids', ns], { allowFail: true })).stdout.split('\n').filter(Boolean);
  const uids: number[] = [];
  for (const pid of pids) {
    const status = (await run('cat', [`/proc/${pid}/status`], { allowFail: true })).stdout;
    const m = /^Uid:\s+(\d+)/m.exec(status);
    if (m) uids.push(Number(m[1]));
  }
  return uids;
}

/** tcpdump (link-level headers, so 802.1Q tags show) on link `dev` of namespace `ns`, until its process is killed; its output so far. */
export function capture(ns: string, dev: string): { proc: ChildProcess; out: () => string; ready: Promise<void> } {
  const proc = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-l', '-n', '-e', '-i', dev], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout!.on('data', (b: Buffer) => {
    text += b.toString();
  });
  const ready = new Promise<void>((resolve) => {
    proc.stderr!.on('data', (b: Buffer) => {
      if (b.toString().includes('listening on')) resolve();
    });
    proc.on('exit', () => resolve());
  });
  return { proc, out: () => text, ready };
}

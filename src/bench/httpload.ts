/**
 * A small closed-loop HTTP/1.1 load generator on raw sockets (wrk-like: N connections, each
 * sending its next request when the previous answer is complete), cheap enough per request that
 * a proxy, not the client, is what gets measured. Also: member servers as separate processes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { summarize } from './stats.js';

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

/** Bytes of a complete response at the start of `buf`, or 0 when it is not complete yet. */
function responseLength(buf: Buffer): number {
  const head = buf.indexOf('\r\n\r\n');
  if (head < 0) return 0;
  const headers = buf.toString('latin1', 0, head).toLowerCase();
  const cl = /\r\ncontent-length:\s*(\d+)/.exec(headers);
  if (cl) {
    const total = head + 4 + Number(cl[1]);
    return buf.length >= total ? total : 0;
  }
  if (/\r\ntransfer-encoding:\s*chunked/.test(headers)) {
    const end = buf.indexOf('\r\n0\r\n\r\n', head);
    return end < 0 ? 0 : end + 7;
  }
  return head + 4;
}

/**
 * GET `path` (default /) on `conns` connections for `seconds`. keepAlive: one connection each,
 * reused; else a new connection per request (`Connection: close`).
 */
export async function httpLoad(
  host: string,
  port: number,
  opts: { conns: number; seconds: number; keepAlive: boolean; path?: string; headers?: Record<string, string> },
): Promise<LoadResult> {
  const extra = Object.entries(opts.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const request = Buffer.from(`GET ${opts.path ?? '/'} HTTP/1.1\r\nHost: ${host}\r\n${extra}${opts.keepAlive ? '' : 'Connection: close\r\n'}\r\n`);
  const latencies: number[] = [];
  let errors = 0;
  let done = 0;
  const started = performance.now();
  const deadline = started + opts.seconds * 1000;

  const keepAliveLoop = () =>
    new Promise<void>((resolve) => {
      const s = net.connect({ host, port, noDelay: true });
      let buf: Buffer = Buffer.alloc(0);
      let t0 = 0;
      const send = () => {
        if (performance.now() >= deadline) {
          s.destroy();
          resolve();
          return;
        }
        t0 = performance.now();
        s.write(request);
      };
      s.on('connect', send);
      s.on('data', (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        for (;;) {
          const n = responseLength(buf);
          if (!n) return;
          if (!buf.subarray(9, 12).equals(Buffer.from('200'))) errors++;
          buf = buf.subarray(n);
          done++;
          latencies.push(performance.now() - t0);
          send();
        }
      });
      s.on('error', () => {
        errors++;
        resolve();
      });
      s.on('close', () => resolve());
    });

  const newConnectionLoop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host, port, noDelay: true });
        let buf: Buffer = Buffer.alloc(0);
        s.on('connect', () => s.write(request));
        s.on('data', (d: Buffer) => {
          buf = buf.length ? Buffer.concat([buf, d]) : d;
          if (responseLength(buf)) {
            s.destroy();
            resolve(buf.subarray(9, 12).equals(Buffer.from('200')));
          }
        });
        s.on('error', () => resolve(false));
        s.on('close', () => resolve(false));
      });
      if (ok) {
        done++;
        latencies.push(performance.now() - t0);
      } else errors++;
    }
  };

  await Promise.all(Array.from({ length: opts.conns }, () => (opts.keepAlive ? keepAliveLoop() : newConnectionLoop())));
  const seconds = (performance.now() - started) / 1000;
  const s = summarize(latencies);
  return { requests: done, errors, rps: done / seconds, p50: s.p50, p99: s.p99 };
}

/**
 * Answers "<name>" to every request; one process each (as a VM would be), on 127.0.0.1. Also the
 * bench's limit for an API server: plain Node answering a fixed body, nothing else. With no name
 * it answers what it reads on its standard input: a long list's body is over Linux's 128 KiB cap
 * on one argument (MAX_ARG_STRLEN).
 */
const MEMBER_SCRIPT = `
const http = require('node:http');
const serve = (body) => {
  const s = http.createServer((req, res) => { res.setHeader('content-length', body.length); res.end(body); });
  s.keepAliveTimeout = 60000;
  s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));
};
if (process.argv.length > 1) serve(Buffer.from(process.argv[1]));
else {
  const parts = [];
  process.stdin.on('data', (d) => parts.push(d)).on('end', () => serve(Buffer.concat(parts)));
}
`;

export interface MemberServer {
  name: string;
  port: number;
  stop(): void;
}

export async function startMember(name: string): Promise<MemberServer> {
  return startPlain(name, [name]);
}

/** Plain Node answering `body` (its UTF-8) to every request: a limit for an answer of any length. */
export async function startPlainServer(body: string): Promise<MemberServer> {
  return startPlain('plain', [], body);
}

async function startPlain(name: string, args: string[], stdin?: string): Promise<MemberServer> {
  const child: ChildProcess = spawn(process.execPath, ['-e', MEMBER_SCRIPT, ...args], { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'inherit'] });
  if (stdin !== undefined) child.stdin!.end(stdin);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`member server exited (${code})`)));
  });
  return { name, port, stop: () => child.kill() };
}

/** GET / on a new connection; the body, or null when nothing answered. */
export function getOnce(host: string, port: number, timeoutMs = 2000): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.on('connect', () => s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const n = responseLength(buf);
      if (n) {
        clearTimeout(timer);
        s.destroy();
        resolve(buf.toString('utf8', buf.indexOf('\r\n\r\n') + 4, n));
      }
    });
    s.on('error', () => resolve(null));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(null);
    });
  });
}

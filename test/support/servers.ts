import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Backend {
  name: string;
  port: number;
  /** X-Forwarded-For seen on the last proxied request. */
  lastForwardedFor?: string;
  /** Every header of the last proxied request. */
  lastHeaders?: http.IncomingHttpHeaders;
  hits: number;
  close(): Promise<void>;
  /** Stop listening (the member dies); `start()` brings it back on the same port. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 answering its name (a pool member). */
export async function httpBackend(name: string, port = 0): Promise<Backend> {
  let server: http.Server | null = null;
  const b: Backend = {
    name,
    port,
    hits: 0,
    async start() {
      server = http.createServer((req, res) => {
        b.hits++;
        // A health check (it carries no X-Forwarded-* or X-SSL-* header) is not the last proxied
        // request: a monitor probing between two client requests would hide what the proxy sent.
        if (Object.keys(req.headers).some((h) => h.startsWith('x-forwarded-') || h.startsWith('x-ssl-'))) {
          b.lastForwardedFor = req.headers['x-forwarded-for'] as string | undefined;
          b.lastHeaders = req.headers;
        }
        res.setHeader('content-type', 'text/plain');
        // `/slow/<ms>`: answer after a while (a request in flight across a reconfiguration).
        const slow = /^\/slow\/(\d+)$/.exec(req.url ?? '');
        if (slow) setTimeout(() => res.end(name), Number(slow[1]));
        else res.end(name);
      });
      server.keepAliveTimeout = 1000;
      await new Promise<void>((r) => server!.listen(b.port, '127.0.0.1', () => r()));
      b.port = (server!.address() as AddressInfo).port;
    },
    async kill() {
      const s = server;
      server = null;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
    async close() {
      await b.kill();
    },
  };
  await b.start();
  return b;
}

/** GET http://host:port/path on a fresh connection; resolves status and body. */
export function get(
  host: string,
  port: number,
  path = '/',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

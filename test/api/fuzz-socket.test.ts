import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../../src/api/http.js';
import { APP_PORTS } from '../../src/server.js';
import { ADMIN_PASSWORD, type TestCloud, startCloud, tokenFor } from '../support/cloud.js';
import { checkAnswer } from '../support/fuzz/oracle.js';

/**
 * What only a socket can send, to every service over a real connection: paths whose
 * percent-encoding is not UTF-8, path segments of any length, CONNECT, bodies shorter than their
 * Content-Length, request lines and headers Node's parser refuses. Every answer must come (no
 * dropped connection), be no 5xx, and be in the service's own error format. Seeded with
 * FUZZ_SEED, sized by FUZZ_RUNS like fuzz.test.ts.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const RUNS = Number(process.env.FUZZ_RUNS ?? 8);

let tc: TestCloud;
let token: string;

beforeAll(async () => {
  tc = await startCloud({ listen: true });
  token = await tokenFor(tc, 'admin', ADMIN_PASSWORD);
}, 60_000);
afterAll(async () => tc?.stop());

interface Raw {
  status: number;
  headers: Record<string, string>;
  body: string;
  ms: number;
}

/** Send bytes, half-close when asked, and read one HTTP answer (or report that none came). */
function raw(port: number, data: string | Buffer, halfClose = false): Promise<Raw | undefined> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(data);
      if (halfClose) s.end();
    });
    let buf = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      const text = buf.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!m || end < 0) return resolve(undefined);
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, end).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({
        status: Number(m[1]),
        headers,
        body: buf.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1')).toString('utf8'),
        ms: performance.now() - t0,
      });
    };
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      // One answer is enough: stop at the end of its body.
      const text = buf.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
      if (end >= 0 && len && buf.length >= end + 4 + Number(len[1])) done();
    });
    s.on('end', done);
    s.on('error', done);
    const timer = setTimeout(done, 3000);
  });
}

const SERVICES = Object.keys(APP_PORTS);
const port = (service: string) => tc.config.ports[APP_PORTS[service]];

/** A registered route with its parameters filled by `fill` (the first GET route with a parameter, else `/`). */
function pathWith(service: string, fill: string): string {
  const routes = [...routeTable(tc.cloud.apps.get(service)!).registered].filter((r) => r.startsWith('GET ') && /:[a-z]/i.test(r)).sort();
  const route = routes.find((r) => !r.includes('*')) ?? 'GET /';
  return route.slice(4).replace(/:[A-Za-z_]+/g, fill);
}

const head = (method: string, path: string, extra: string[] = []) =>
  [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', `X-Auth-Token: ${token}`, ...extra].join('\r\n');

describe.each(SERVICES)('%s over a socket', (service) => {
  const expectOwn = (what: string, a: Raw | undefined, method = 'GET') => {
    expect(a, `${what}: an answer`).toBeDefined();
    expect(
      checkAnswer(service, method, undefined, { status: a!.status, headers: a!.headers, body: a!.body }),
      `${what}: ${a!.status} ${a!.body.slice(0, 200)}`,
    ).toBeUndefined();
    expect(a!.ms, what).toBeLessThan(1000);
  };

  it('answers a path whose percent-encoding is not UTF-8', async () => {
    for (const bad of ['%ff', '%zz', '%', '%c3%28', '%e2%82']) {
      expectOwn(bad, await raw(port(service), `${head('GET', pathWith(service, bad))}\r\n\r\n`));
    }
  });

  it('answers a path segment of any length with the service’s own not-found or refusal', async () => {
    for (const n of [501, 600, 4000]) {
      const a = await raw(port(service), `${head('GET', pathWith(service, 'a'.repeat(n)))}\r\n\r\n`);
      expectOwn(`${n} characters`, a);
      expect(a!.status, `${n} characters`).not.toBe(414);
    }
  });

  it('answers CONNECT', async () => {
    for (const target of ['127.0.0.1:1', '/', pathWith(service, 'x')]) {
      expectOwn(`CONNECT ${target}`, await raw(port(service), `${head('CONNECT', target)}\r\n\r\n`), 'CONNECT');
    }
  });

  it('answers a body shorter than its Content-Length, and other requests Node’s parser refuses', async () => {
    const post = (extra: string[], body: string) => `${head('POST', '/x', ['Content-Type: application/json', ...extra])}\r\n\r\n${body}`;
    expectOwn('short body', await raw(port(service), post(['Content-Length: 100'], '{"x":'), true), 'POST');
    expectOwn('two lengths', await raw(port(service), post(['Content-Length: 5', 'Content-Length: 6'], '{}')), 'POST');
    expectOwn('bad length', await raw(port(service), post(['Content-Length: abc'], '{}')), 'POST');
    expectOwn('bad chunk', await raw(port(service), post(['Transfer-Encoding: chunked'], 'zz\r\n{}\r\n0\r\n\r\n')), 'POST');
    expectOwn('bad request line', await raw(port(service), 'GET\r\n\r\n'));
    expectOwn('bad header', await raw(port(service), `${head('GET', '/')}\r\nBad Header: x\r\n\r\n`));
    expectOwn('huge header', await raw(port(service), `${head('GET', '/', [`X-Big: ${'x'.repeat(20_000)}`])}\r\n\r\n`));
  });

  it('answers generated raw requests in its own format (property)', async () => {
    const segment = fc.oneof(
      fc.constantFrom('%ff', '%zz', '%', '%00', '%2F', '..', 'a'.repeat(700), '%E2%98%83', 'constructor', '__proto__'),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
    );
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'CONNECT', 'OPTIONS', 'HEAD'),
      path: segment.map((s) => pathWith(service, s)),
      declared: fc.option(fc.nat(200), { nil: undefined }),
      body: fc.constantFrom('', '{}', '{"a":', '[', 'x'.repeat(50)),
      halfClose: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const length = r.declared ?? Buffer.byteLength(r.body);
        const text = `${head(r.method, r.path, r.method === 'GET' || r.method === 'HEAD' ? [] : ['Content-Type: application/json', `Content-Length: ${length}`])}\r\n\r\n${r.method === 'GET' || r.method === 'HEAD' ? '' : r.body}`;
        const a = await raw(port(service), text, r.halfClose || length > Buffer.byteLength(r.body));
        // HEAD answers have no body to check; a GET with an unread body may be answered twice.
        if (r.method === 'HEAD') return a !== undefined && a.status < 500;
        expectOwn(`${r.method} ${r.path.slice(0, 80)} (${length} declared, ${r.body.length} sent)`, a, r.method);
        return true;
      }),
      { seed: SEED, numRuns: RUNS * 4 },
    );
  });
});

/**
 * An HTTP listener of the built-in engine: per-request balancing with keep-alive to members,
 * L7 policies (reject, redirect to URL or prefix, redirect to pool) matched in position order,
 * HTTP_COOKIE and APP_COOKIE persistence, X-Forwarded-* insertion, and retry of a request on
 * another member when its member cannot be reached (HAProxy `retries 3` + `option redispatch`).
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { RtListener, RtPolicy, RtRule } from '../config.js';
import { type BuiltinListener, type Counters, type PoolLookup, cidrAllowed, clientIp, newCounters, proxyHeader } from './common.js';
import type { MemberState, PoolState } from './pool.js';
import { RETRIES, connectMember } from './tcp.js';

/** HAProxy's cookie for HTTP_COOKIE persistence (Octavia: `cookie SRV insert indirect nocache`). */
const SERVER_COOKIE = 'SRV';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

const page = (code: number, title: string, text: string) => `<html><body><h1>${code} ${title}</h1>\n${text}\n</body></html>\n`;
const ERRORS: Record<number, [string, string]> = {
  403: ['Forbidden', 'Request forbidden by administrative rules.'],
  502: ['Bad Gateway', 'The server returned an invalid or incomplete response.'],
  503: ['Service Unavailable', 'No server is available to handle this request.'],
  504: ['Gateway Time-out', 'The server didn\'t respond in time.'],
};

function cookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

function compare(type: string, subject: string | undefined, value: string, caseless: boolean): boolean {
  if (subject === undefined) return false;
  const s = caseless ? subject.toLowerCase() : subject;
  const v = caseless ? value.toLowerCase() : value;
  switch (type) {
    case 'STARTS_WITH':
      return s.startsWith(v);
    case 'ENDS_WITH':
      return s.endsWith(v);
    case 'CONTAINS':
      return s.includes(v);
    case 'EQUAL_TO':
      return s === v;
    case 'REGEX':
      try {
        return new RegExp(value, caseless ? 'i' : '').test(subject);
      } catch {
        return false;
      }
    default:
      return false;
  }
}

/** Does one rule match the request (before `invert`)? */
function ruleMatches(r: RtRule, req: http.IncomingMessage, path: string): boolean {
  switch (r.type) {
    case 'HOST_NAME':
      return compare(r.compareType, (req.headers.host ?? '').replace(/:\d+$/, ''), r.value, true);
    case 'PATH':
      return compare(r.compareType, path, r.value, false);
    case 'FILE_TYPE': {
      const last = path.slice(path.lastIndexOf('/') + 1);
      const dot = last.lastIndexOf('.');
      if (r.compareType === 'REGEX') return dot >= 0 && compare('REGEX', last.slice(dot + 1), r.value, true);
      return dot >= 0 && compare('EQUAL_TO', last.slice(dot + 1), r.value.replace(/^\./, ''), true);
    }
    case 'HEADER': {
      const h = req.headers[(r.key ?? '').toLowerCase()];
      return compare(r.compareType, Array.isArray(h) ? h.join(',') : h, r.value, false);
    }
    case 'COOKIE':
      return compare(r.compareType, cookies(req.headers.cookie).get(r.key ?? ''), r.value, false);
    default:
      // Client-certificate rules need TLS termination, which this engine does not do.
      return false;
  }
}

export function policyMatches(p: RtPolicy, req: http.IncomingMessage, path: string): boolean {
  return p.rules.every((r) => ruleMatches(r, req, path) !== r.invert);
}

export class HttpListener implements BuiltinListener {
  private readonly server: http.Server;
  private readonly stats: Counters = newCounters();
  private readonly agents = new Map<string, http.Agent>();
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    public cfg: RtListener,
    private readonly pools: PoolLookup,
  ) {
    this.server = http.createServer({ noDelay: true, keepAlive: true, requestTimeout: 0 }, (req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: net.Socket) => this.onConnection(s));
    this.server.on('clientError', (_err, socket) => {
      this.stats.request_errors++;
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket as net.Socket, head));
    this.update(cfg);
  }

  static async open(cfg: RtListener, address: string, pools: PoolLookup): Promise<HttpListener> {
    const l = new HttpListener(cfg, pools);
    await new Promise<void>((resolve, reject) => {
      l.server.once('error', reject);
      l.server.listen({ host: address, port: cfg.port, exclusive: true }, () => {
        l.server.off('error', reject);
        resolve();
      });
    });
    return l;
  }

  update(cfg: RtListener): void {
    this.cfg = cfg;
    this.server.maxConnections = cfg.connectionLimit >= 0 ? cfg.connectionLimit : Infinity;
    this.server.keepAliveTimeout = cfg.timeoutClientData || 50_000;
    this.server.headersTimeout = (cfg.timeoutClientData || 50_000) + 1000;
    this.server.timeout = cfg.timeoutClientData || 0;
  }

  state(): 'OPEN' | 'FULL' {
    return this.cfg.connectionLimit >= 0 && this.stats.active_connections >= this.cfg.connectionLimit ? 'FULL' : 'OPEN';
  }

  counters(): Counters {
    let bytesIn = this.stats.bytes_in;
    let bytesOut = this.stats.bytes_out;
    for (const s of this.sockets) {
      bytesIn += s.bytesRead;
      bytesOut += s.bytesWritten;
    }
    return { ...this.stats, bytes_in: bytesIn, bytes_out: bytesOut };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      // Idle keep-alive connections would hold the old listener open forever.
      this.server.closeIdleConnections();
      for (const a of this.agents.values()) a.destroy();
    });
  }

  destroy(): void {
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
  }

  private onConnection(s: net.Socket): void {
    const ip = clientIp(s.remoteAddress);
    if (!cidrAllowed(this.cfg.allowedCidrs, ip)) {
      s.destroy();
      return;
    }
    s.setNoDelay(true);
    this.stats.total_connections++;
    this.stats.active_connections++;
    this.sockets.add(s);
    s.once('close', () => {
      this.stats.active_connections--;
      this.stats.bytes_in += s.bytesRead;
      this.stats.bytes_out += s.bytesWritten;
      this.sockets.delete(s);
    });
  }

  private agentFor(pool: PoolState, m: MemberState): http.Agent {
    const key = `${pool.cfg.id}/${pool.cfg.tls ? 's' : ''}/${pool.cfg.protocol}/${m.cfg.address}/${m.cfg.port}`;
    let a = this.agents.get(key);
    if (!a) {
      const opts = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' as const };
      a = pool.cfg.tls ? new https.Agent({ ...opts, rejectUnauthorized: false }) : new http.Agent(opts);
      this.agents.set(key, a);
    }
    return a;
  }

  private reply(res: http.ServerResponse, code: number, headers: Record<string, string> = {}): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const [title, text] = ERRORS[code] ?? ['Error', ''];
    const body = code >= 300 && code < 400 ? '' : page(code, title, text);
    res.writeHead(code, { 'content-type': 'text/html', 'cache-control': 'no-cache', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    let poolId = this.cfg.defaultPoolId;
    for (const p of this.cfg.policies) {
      if (!policyMatches(p, req, path)) continue;
      if (p.action === 'REJECT') return this.reply(res, 403);
      if (p.action === 'REDIRECT_TO_URL') return this.reply(res, p.redirectHttpCode, { location: p.redirectUrl! });
      if (p.action === 'REDIRECT_PREFIX') return this.reply(res, p.redirectHttpCode, { location: `${p.redirectPrefix!.replace(/\/$/, '')}${url}` });
      poolId = p.redirectPoolId;
      break;
    }
    const pool = this.pools(poolId);
    if (!pool) return this.reply(res, 503);
    this.forward(req, res, pool);
  }

  private stickyOf(pool: PoolState, req: http.IncomingMessage): string | undefined {
    const p = pool.cfg.persistence;
    if (!p) return undefined;
    if (p.type === 'HTTP_COOKIE') return cookies(req.headers.cookie).get(SERVER_COOKIE);
    if (p.type === 'APP_COOKIE' && p.cookieName) {
      const v = cookies(req.headers.cookie).get(p.cookieName);
      return v ? pool.appCookieMember(v) : undefined;
    }
    return undefined;
  }

  private forwardedHeaders(req: http.IncomingMessage): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    const ip = clientIp(req.socket.remoteAddress);
    if (this.cfg.insertHeaders.forwardedFor) {
      const prev = req.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = prev ? `${Array.isArray(prev) ? prev.join(', ') : prev}, ${ip}` : ip;
    }
    if (this.cfg.insertHeaders.forwardedPort) headers['x-forwarded-port'] = String(this.cfg.port);
    if (this.cfg.insertHeaders.forwardedProto) headers['x-forwarded-proto'] = 'http';
    return headers;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, pool: PoolState): void {
    const ctx = { clientIp: clientIp(req.socket.remoteAddress), clientPort: req.socket.remotePort ?? 0, sticky: this.stickyOf(pool, req) };
    const headers = this.forwardedHeaders(req);
    const tried = new Set<string>();
    const attempt = (n: number) => {
      const m = pool.pick(ctx, tried);
      if (!m) return this.reply(res, 503);
      tried.add(m.cfg.id);
      m.active++;
      let released = false;
      const release = () => {
        if (!released) {
          released = true;
          m.active--;
        }
      };
      let started = false;
      const header = proxyHeader(pool.cfg, ctx.clientIp, ctx.clientPort, req.socket.localAddress ?? '', req.socket.localPort ?? 0);
      const preq = (pool.cfg.tls ? https : http).request({
        host: m.cfg.address,
        port: m.cfg.port,
        method: req.method,
        path: req.url,
        headers,
        // A PROXY header must open the connection, so such pools do not reuse connections.
        agent: header ? false : this.agentFor(pool, m),
        ...(header ? { createConnection: () => {
          const s = net.connect({ host: m.cfg.address, port: m.cfg.port });
          s.write(header);
          return s;
        } } : {}),
      });
      const connectTimer = setTimeout(() => {
        if (!started) preq.destroy(new Error('connect timeout'));
      }, Math.max(1, this.cfg.timeoutMemberConnect));
      const start = () => {
        if (started) return;
        started = true;
        clearTimeout(connectTimer);
        req.pipe(preq);
      };
      preq.on('socket', (s: net.Socket) => {
        if (s.connecting) s.once(pool.cfg.tls ? 'secureConnect' : 'connect', start);
        else start();
      });
      preq.setTimeout(this.cfg.timeoutMemberData || 0, () => preq.destroy(new Error('member data timeout')));
      preq.on('error', () => {
        clearTimeout(connectTimer);
        release();
        if (!started && n < RETRIES && !res.headersSent) return attempt(n + 1);
        if (!res.headersSent) this.reply(res, started ? 502 : 503);
        else res.destroy();
      });
      preq.on('response', (pres) => {
        pool.remember(ctx, m);
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(pres.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
        const p = pool.cfg.persistence;
        if (p?.type === 'HTTP_COOKIE' && ctx.sticky !== m.cfg.id) {
          const set = out['set-cookie'];
          const ours = `${SERVER_COOKIE}=${m.cfg.id}; path=/`;
          out['set-cookie'] = set ? [...(Array.isArray(set) ? set : [String(set)]), ours] : [ours];
          out['cache-control'] = 'private';
        }
        if (p?.type === 'APP_COOKIE' && p.cookieName) {
          for (const c of [pres.headers['set-cookie'] ?? []].flat()) {
            const mm = new RegExp(`^\\s*${p.cookieName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^;]*)`).exec(c);
            if (mm) pool.learnAppCookie(mm[1], m);
          }
        }
        res.writeHead(pres.statusCode ?? 502, pres.statusMessage, out);
        pres.pipe(res);
        pres.once('end', release);
        pres.once('close', release);
      });
      res.once('close', () => {
        if (!res.writableFinished) preq.destroy();
        release();
      });
    };
    attempt(0);
  }

  /** WebSocket and other upgrades: tunnel the connection to one member. */
  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const pool = this.pools(this.cfg.defaultPoolId);
    if (!pool) {
      socket.destroy();
      return;
    }
    const ctx = { clientIp: clientIp(socket.remoteAddress), clientPort: socket.remotePort ?? 0 };
    void connectMember(pool, ctx, this.cfg.timeoutMemberConnect).then((up) => {
      if (!up) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) up.socket.write(head);
      socket.pipe(up.socket).pipe(socket);
      const done = () => {
        up.member.active--;
        socket.destroy();
        up.socket.destroy();
      };
      up.socket.once('close', done);
      socket.once('close', () => up.socket.destroy());
      up.socket.on('error', () => socket.destroy());
      socket.on('error', () => up.socket.destroy());
    });
  }
}

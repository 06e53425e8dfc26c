/**
 * An HTTP listener of the built-in engine: per-request balancing over pooled keep-alive member
 * connections, L7 policies (reject, redirect to URL or prefix, redirect to pool) matched in
 * position order, HTTP_COOKIE and APP_COOKIE persistence, X-Forwarded-* insertion, retry of a
 * request on another member when its member cannot be reached (HAProxy `retries 3` + `option
 * redispatch`), WebSocket and other upgrades tunnelled. Messages are framed by `http1.ts` on
 * the raw sockets; bodies pass through unchanged.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { RtListener, RtPolicy, RtRule } from '../config.js';
import { type BuiltinListener, type Counters, type PoolLookup, cidrAllowed, clientIp, listenExclusive, newCounters, proxyHeader } from './common.js';
import {
  BodyDelimiter,
  type Framing,
  type Head,
  HttpParseError,
  connectionHas,
  endToEnd,
  framing,
  header,
  headText,
  parseHead,
  serialiseHead,
} from './http1.js';
import type { MemberState, PoolState } from './pool.js';
import { RETRIES } from './tcp.js';
import { type ClientTls, ServerTls, clientTls, memberTlsOptions } from './tls.js';

/** HAProxy's cookie for HTTP_COOKIE persistence (Octavia: `cookie SRV insert indirect nocache`). */
const SERVER_COOKIE = 'SRV';
/** Idle member connections kept per member, and for how long. */
const IDLE_PER_MEMBER = 64;
const IDLE_MS = 30_000;
const SWEEP_MS = 100;
/** Response bodies up to this size are sent in one write with their head. */
const SMALL_BODY = 4096;
/** Request bytes kept to resend on a fresh connection when a reused one turns out closed. */
const REPLAY_LIMIT = 64 * 1024;
/** No bytes (shared: an empty buffer is never written into). */
const EMPTY = Buffer.alloc(0);
/** No member excluded (a request's first pick; never added to). */
const NO_MEMBERS: ReadonlySet<string> = new Set();

const page = (code: number, title: string, text: string) => `<html><body><h1>${code} ${title}</h1>\n${text}\n</body></html>\n`;
const ERRORS: Record<number, [string, string]> = {
  400: ['Bad request', 'Your browser sent an invalid request.'],
  403: ['Forbidden', 'Request forbidden by administrative rules.'],
  431: ['Request Header Fields Too Large', 'Your browser sent a request whose headers are too large.'],
  502: ['Bad Gateway', 'The server returned an invalid or incomplete response.'],
  503: ['Service Unavailable', 'No server is available to handle this request.'],
  504: ['Gateway Time-out', "The server didn't respond in time."],
};
const REASONS: Record<number, string> = { 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 307: 'Temporary Redirect', 308: 'Permanent Redirect' };

function cookies(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!value) return out;
  for (const part of value.split(';')) {
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

/** Does one rule match the request (before `invert`)? `conn`: the client's TLS, if any. */
function ruleMatches(r: RtRule, req: Head, path: string, conn: ClientTls | null): boolean {
  switch (r.type) {
    case 'HOST_NAME':
      return compare(r.compareType, (header(req, 'host') ?? '').replace(/:\d+$/, ''), r.value, true);
    case 'PATH':
      return compare(r.compareType, path, r.value, false);
    case 'FILE_TYPE': {
      const last = path.slice(path.lastIndexOf('/') + 1);
      const dot = last.lastIndexOf('.');
      if (r.compareType === 'REGEX') return dot >= 0 && compare('REGEX', last.slice(dot + 1), r.value, true);
      return dot >= 0 && compare('EQUAL_TO', last.slice(dot + 1), r.value.replace(/^\./, ''), true);
    }
    case 'HEADER':
      return compare(r.compareType, header(req, (r.key ?? '').toLowerCase()), r.value, false);
    case 'COOKIE':
      return compare(r.compareType, cookies(header(req, 'cookie')).get(r.key ?? ''), r.value, false);
    // Client-certificate rules (HAProxy: ssl_c_used, ssl_c_verify, ssl_c_s_dn(field)).
    case 'SSL_CONN_HAS_CERT':
      return !!conn?.hasCert;
    case 'SSL_VERIFY_RESULT':
      return !!conn && conn.verify === Number(r.value);
    case 'SSL_DN_FIELD':
      return compare(r.compareType, conn?.subjectField(r.key ?? ''), r.value, false);
    default:
      return false;
  }
}

export function policyMatches(p: RtPolicy, req: Head, path: string, conn: ClientTls | null = null): boolean {
  return p.rules.every((r) => ruleMatches(r, req, path, conn) !== r.invert);
}

/** Whoever a member connection's events go to: the exchange using it, or the idle pool. */
interface UpstreamOwner {
  /**
   * `borrowed`: `d` lies in the buffer all member connections read into (see `memberConnect`),
   * valid only until this call returns: bytes kept or written must be copied.
   */
  upstreamData(s: net.Socket, d: Buffer, borrowed: boolean): void;
  upstreamClosed(s: net.Socket): void;
}

const OWNER = Symbol('owner');
type OwnedSocket = net.Socket & { [OWNER]?: UpstreamOwner };

/**
 * A member connection, with its listeners attached once for its whole life (per-request
 * listeners cost more than the proxying itself); events go to its current owner. `reads`: as
 * 'data' events, or through the `onread` callback `memberConnect` gave (no listener needed here).
 */
function memberSocket(s: net.Socket, owner: UpstreamOwner, reads: 'onread' | 'data'): OwnedSocket {
  const o = s as OwnedSocket;
  o[OWNER] = owner;
  if (reads === 'data') s.on('data', (d: Buffer) => o[OWNER]?.upstreamData(s, d, false));
  s.on('error', () => o[OWNER]?.upstreamClosed(s));
  s.on('close', () => o[OWNER]?.upstreamClosed(s));
  return o;
}

/**
 * What every plain member connection reads into. With `onread`, libuv reads straight into this
 * one buffer and the bytes go to the owner synchronously; as a stream (a 'data' event) each read
 * costs a 64 KiB allocation shrunk to size, a Buffer, the Readable push and a next-tick callback
 * (profile of lb-throughput's keep-alive load: a tenth of the engine's CPU on the response read
 * alone). Sharing it is safe: one read is handled completely before libuv starts the next.
 */
const MEMBER_READS = Buffer.allocUnsafe(64 * 1024);

/** A plain TCP connection to a member, read through `MEMBER_READS`. */
function memberConnect(host: string, port: number, owner: UpstreamOwner): OwnedSocket {
  let o: OwnedSocket | undefined;
  const s = net.connect({
    host,
    port,
    noDelay: true,
    onread: {
      buffer: MEMBER_READS,
      // true: keep reading (pausing goes through `pause()`, as for a stream).
      callback: (n: number, buf: Uint8Array) => {
        o?.[OWNER]?.upstreamData(o, (buf as Buffer).subarray(0, n), true);
        return true;
      },
    },
  });
  o = memberSocket(s, owner, 'onread');
  return o;
}

/** Bytes to keep or hand to a write: a copy when `d` is borrowed (see `UpstreamOwner`). */
const own = (d: Buffer, borrowed: boolean): Buffer => (borrowed ? Buffer.from(d) : d);

/** Idle keep-alive connections to members, reused last-in first-out. */
class MemberConnections implements UpstreamOwner {
  private readonly idle = new Map<string, Array<{ s: OwnedSocket; since: number }>>();

  take(key: string, owner: UpstreamOwner): OwnedSocket | undefined {
    const list = this.idle.get(key);
    while (list?.length) {
      const { s } = list.pop()!;
      if (!s.destroyed && s.readyState === 'open') {
        s[OWNER] = owner;
        return s;
      }
      s.destroy();
    }
    return undefined;
  }

  give(key: string, s: OwnedSocket, now: number): void {
    let list = this.idle.get(key);
    if (!list) {
      list = [];
      this.idle.set(key, list);
    }
    if (list.length >= IDLE_PER_MEMBER) {
      s[OWNER] = undefined;
      s.destroy();
      return;
    }
    s[OWNER] = this;
    list.push({ s, since: now });
  }

  /** Anything arriving on an idle connection, or its end, makes it unusable. */
  upstreamData(s: net.Socket): void {
    s.destroy();
  }

  upstreamClosed(s: net.Socket): void {
    (s as OwnedSocket)[OWNER] = undefined;
    s.destroy();
  }

  /** Drop connections idle for too long, and dead ones. */
  sweep(now: number): void {
    for (const [key, list] of this.idle) {
      const keep = list.filter((e) => !e.s.destroyed && now - e.since < IDLE_MS);
      for (const e of list) if (!keep.includes(e)) e.s.destroy();
      if (keep.length) this.idle.set(key, keep);
      else this.idle.delete(key);
    }
  }

  closeAll(): void {
    for (const list of this.idle.values()) for (const { s } of list.splice(0)) s.destroy();
    this.idle.clear();
  }
}

export class HttpListener implements BuiltinListener {
  private readonly server: net.Server;
  /** TERMINATED_HTTPS: the server-side TLS (certificates, SNI, client authentication). */
  private readonly tls: ServerTls | null;
  private readonly stats: Counters = newCounters();
  private readonly conns = new Set<ClientConnection>();
  readonly upstream = new MemberConnections();
  closing = false;
  /** Timeouts are checked by a sweep, not per-socket timers (those cost on every read and write). */
  private readonly sweeper: NodeJS.Timeout;

  private constructor(
    public cfg: RtListener,
    readonly pools: PoolLookup,
  ) {
    if (cfg.protocol === 'TERMINATED_HTTPS' && cfg.tls) {
      const t = new ServerTls(cfg.tls);
      this.tls = t;
      const server = tls.createServer({ ...t.serverOptions(), noDelay: true, allowHalfOpen: true }, (s) => {
        if (t.refuses(s)) s.destroy();
        else this.onConnection(s);
      });
      // Source filtering before the handshake; a failed handshake costs nothing else.
      server.on('connection', (s: net.Socket) => {
        if (!cidrAllowed(this.cfg.allowedCidrs, clientIp(s.remoteAddress))) s.destroy();
      });
      server.on('tlsClientError', (_e, s) => {
        this.stats.request_errors++;
        s.destroy();
      });
      this.server = server;
    } else {
      this.tls = null;
      this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.onConnection(s));
    }
    this.update(cfg);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.conns) c.sweep(now);
    this.upstream.sweep(now);
  }

  static async open(cfg: RtListener, address: string, pools: PoolLookup): Promise<HttpListener> {
    const l = new HttpListener(cfg, pools);
    try {
      await listenExclusive(l.server, address, cfg.port);
    } catch (e) {
      l.destroy();
      throw e;
    }
    return l;
  }

  update(cfg: RtListener): void {
    // New certificates first: one node refuses leaves the listener as it was (connections included).
    if (this.tls && cfg.tls && cfg !== this.cfg) this.tls.update(this.server as tls.Server, cfg.tls);
    this.cfg = cfg;
    this.server.maxConnections = cfg.connectionLimit >= 0 ? cfg.connectionLimit : Number.POSITIVE_INFINITY;
  }

  state(): 'OPEN' | 'FULL' {
    return this.cfg.connectionLimit >= 0 && this.stats.active_connections >= this.cfg.connectionLimit ? 'FULL' : 'OPEN';
  }

  counters(): Counters {
    let bytesIn = this.stats.bytes_in;
    let bytesOut = this.stats.bytes_out;
    for (const c of this.conns) {
      bytesIn += c.socket.bytesRead;
      bytesOut += c.socket.bytesWritten;
    }
    return { ...this.stats, bytes_in: bytesIn, bytes_out: bytesOut };
  }

  badRequest(): void {
    this.stats.request_errors++;
  }

  /** Stop accepting; idle connections close now, busy ones after their current exchange. */
  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      this.server.close(() => {
        clearInterval(this.sweeper);
        resolve();
      });
      for (const c of this.conns) c.closeIfIdle();
      this.upstream.closeAll();
    });
  }

  destroy(): void {
    clearInterval(this.sweeper);
    for (const c of this.conns) c.socket.destroy();
    this.upstream.closeAll();
  }

  private onConnection(s: net.Socket): void {
    if (!cidrAllowed(this.cfg.allowedCidrs, clientIp(s.remoteAddress))) {
      s.destroy();
      return;
    }
    s.setNoDelay(true);
    this.stats.total_connections++;
    this.stats.active_connections++;
    const c = new ClientConnection(this, s);
    this.conns.add(c);
    s.once('close', () => {
      this.stats.active_connections--;
      this.stats.bytes_in += s.bytesRead;
      this.stats.bytes_out += s.bytesWritten;
      this.conns.delete(c);
    });
  }
}

/** One client connection: requests in order (pipelined ones wait), each proxied to a member. */
class ClientConnection {
  private buf: Buffer = EMPTY;
  /** head: waiting for a request; busy: one is being proxied; closed: nothing more is read. */
  private phase: 'head' | 'busy' | 'closed' = 'head';
  private exchange: Exchange | null = null;
  /** The client half-closed: answer what was asked, then close. */
  private ended = false;
  /** When the client last sent something (performance.now()). */
  private lastActive = performance.now();

  constructor(
    readonly listener: HttpListener,
    readonly socket: net.Socket,
  ) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.exchange?.clientGone());
    socket.on('end', () => {
      this.ended = true;
      // Ending an already ended socket builds an ERR_STREAM_ALREADY_FINISHED, stack trace and all
      // (2% of the engine's time in a profile of a new connection per request).
      if (this.phase !== 'busy' && !socket.writableEnded) socket.end();
    });
  }

  /**
   * `timeout client` is the client's inactivity while the proxy waits for it; while a member is
   * being waited for, `timeout member data` applies instead.
   */
  sweep(now: number): void {
    const limit = this.listener.cfg.timeoutClientData;
    if (this.phase === 'busy') this.exchange?.sweep(now);
    else if (limit > 0 && now - this.lastActive > limit) this.socket.destroy();
  }

  closeIfIdle(): void {
    if (this.phase === 'head' && this.buf.length === 0) {
      this.phase = 'closed';
      this.socket.end();
    }
  }

  private onData(d: Buffer): void {
    this.lastActive = performance.now();
    if (this.phase === 'busy') {
      this.exchange!.requestData(d);
      return;
    }
    if (this.phase === 'closed') return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    this.next();
  }

  /** Start the next request if its head is complete in the buffer. */
  private next(): void {
    if (this.phase !== 'head' || this.buf.length === 0 || this.socket.destroyed) return;
    let head: Head | null;
    let f: Framing;
    try {
      head = parseHead(this.buf, 'request');
      if (!head) return;
      f = framing(head, 'request');
    } catch (e) {
      this.listener.badRequest();
      this.fail(e instanceof HttpParseError ? e.status : 400);
      return;
    }
    const bytes = this.buf.subarray(0, head.length);
    const rest = this.buf.subarray(head.length);
    this.buf = EMPTY;
    this.phase = 'busy';
    this.exchange = new Exchange(this, head, f, bytes);
    this.exchange.start(rest);
  }

  /** An error page, then close (the request cannot be framed or answered). */
  fail(status: number): void {
    this.phase = 'closed';
    this.exchange = null;
    this.socket.end(errorResponse(status, false));
  }

  /** The exchange is over: the next request, or close. `leftover` is client data read past it. */
  done(keepAlive: boolean, leftover: Buffer): void {
    this.exchange = null;
    if (!keepAlive || this.listener.closing || (this.ended && leftover.length === 0)) {
      this.phase = 'closed';
      this.socket.end();
      return;
    }
    this.phase = 'head';
    this.lastActive = performance.now();
    if (leftover.length) this.buf = this.buf.length ? Buffer.concat([leftover, this.buf]) : leftover;
    this.socket.resume();
    this.next();
  }

  /** Upgraded: the exchange pipes the connection from now on. */
  becomeTunnel(): void {
    this.phase = 'closed';
    this.exchange = null;
  }
}

function errorResponse(status: number, keepAlive: boolean, location?: string, minor: 0 | 1 = 1): string {
  const [title, text] = ERRORS[status] ?? [REASONS[status] ?? 'Redirect', ''];
  const body = location ? '' : page(status, title, text);
  let head = `HTTP/1.1 ${status} ${title}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-cache\r\n`;
  head += location ? `location: ${location}\r\n` : 'content-type: text/html\r\n';
  if (!keepAlive) head += 'connection: close\r\n';
  else if (minor === 0) head += 'connection: keep-alive\r\n';
  return `${head}\r\n${body}`;
}

/** One request and its response. */
class Exchange implements UpstreamOwner {
  private readonly l: HttpListener;
  private readonly client: net.Socket;
  private readonly reqBody: BodyDelimiter;
  private readonly pool: PoolState | undefined;
  private readonly ctx: { clientIp: string; clientPort: number; sticky?: string };
  private readonly upgrade: boolean;
  private readonly clientKeepAlive: boolean;
  /** The client's TLS connection (TERMINATED_HTTPS), for SSL rules and X-SSL-* headers. */
  private tlsInfo: ClientTls | null = null;
  /** A local answer (policy, no pool): its keep-alive decision, taken once the body is read. */
  private local: boolean | null = null;
  /** Client bytes past this request's body (a pipelined next request). */
  private leftover: Buffer = EMPTY;
  /** Everything sent for this request, while it may need sending again on another connection. */
  private replay: Buffer[] = [];
  private replayBytes = 0;
  private replayable = true;
  /** Request bytes not yet written to the current member connection. */
  private unsent: Buffer[] = [];
  private member: MemberState | null = null;
  private upstream: net.Socket | null = null;
  /** When the member last sent something, or was sent the request. */
  private lastUpstream = 0;
  private wired = false;
  private upstreamKey = '';
  private reused = false;
  /** Members this request went to (retries go elsewhere); null until the first pick. */
  private tried: string[] | null = null;
  private retries = 0;
  private connectTimer: NodeJS.Timeout | null = null;
  private resBuf: Buffer = EMPTY;
  private resBody: BodyDelimiter | null = null;
  private closeDelimited = false;
  private memberKeepAlive = false;
  private responding = false;
  private finished = false;

  constructor(
    private readonly conn: ClientConnection,
    private readonly req: Head,
    f: Framing,
    /** The request head as received (CRLF CRLF included). */
    private readonly reqBytes: Buffer,
  ) {
    this.l = conn.listener;
    this.client = conn.socket;
    this.reqBody = new BodyDelimiter(f);
    this.upgrade = header(req, 'upgrade') !== undefined && connectionHas(req, 'upgrade');
    this.clientKeepAlive = req.minor === 1 ? !connectionHas(req, 'close') : connectionHas(req, 'keep-alive');
    const q = req.target.indexOf('?');
    const path = q < 0 ? req.target : req.target.slice(0, q);
    let poolId = this.l.cfg.defaultPoolId;
    let answer: { status: number; location?: string } | null = null;
    this.tlsInfo = clientTls(this.client);
    for (const p of this.l.cfg.policies) {
      if (!policyMatches(p, req, path, this.tlsInfo)) continue;
      if (p.action === 'REJECT') answer = { status: 403 };
      else if (p.action === 'REDIRECT_TO_URL') answer = { status: p.redirectHttpCode, location: p.redirectUrl! };
      else if (p.action === 'REDIRECT_PREFIX') answer = { status: p.redirectHttpCode, location: `${p.redirectPrefix!.replace(/\/$/, '')}${req.target}` };
      else poolId = p.redirectPoolId;
      break;
    }
    this.pool = answer ? undefined : this.l.pools(poolId);
    if (!answer && !this.pool) answer = { status: 503 };
    this.ctx = { clientIp: clientIp(this.client.remoteAddress), clientPort: this.client.remotePort ?? 0 };
    if (this.pool) this.ctx.sticky = this.stickyOf(this.pool);
    if (answer) {
      this.finished = true;
      this.local = this.clientKeepAlive && !this.upgrade && !this.l.closing;
      this.client.write(errorResponse(answer.status, this.local, answer.location, req.minor));
    }
  }

  private stickyOf(pool: PoolState): string | undefined {
    const p = pool.cfg.persistence;
    if (!p) return undefined;
    if (p.type === 'HTTP_COOKIE') return cookies(header(this.req, 'cookie')).get(SERVER_COOKIE);
    if (p.type === 'APP_COOKIE' && p.cookieName) {
      const v = cookies(header(this.req, 'cookie')).get(p.cookieName);
      return v ? pool.appCookieMember(v) : undefined;
    }
    return undefined;
  }

  /** The request as the member gets it: hop-by-hop fields dropped, X-Forwarded-* added. */
  private memberHead(): Buffer {
    const ins = this.l.cfg.insertHeaders;
    const req = this.req;
    // Nothing to drop or rewrite: the head's own bytes, with inserted fields appended (what the
    // general path below produces, without splitting and joining every field again).
    if (req.canonical && !req.hopByHop && req.minor === 1 && !this.upgrade && !(this.tlsInfo && this.l.cfg.sslHeaders?.length)) {
      if (!ins.forwardedFor || header(req, 'x-forwarded-for') === undefined) {
        let extra = '';
        if (ins.forwardedFor) extra += `X-Forwarded-For: ${this.ctx.clientIp}\r\n`;
        if (ins.forwardedPort) extra += `X-Forwarded-Port: ${this.l.cfg.port}\r\n`;
        if (ins.forwardedProto) extra += `X-Forwarded-Proto: ${this.tlsInfo ? 'https' : 'http'}\r\n`;
        if (!extra) return this.reqBytes;
        return Buffer.concat([this.reqBytes.subarray(0, this.reqBytes.length - 2), Buffer.from(`${extra}\r\n`, 'latin1')]);
      }
    }
    let fields = endToEnd(req, this.upgrade ? 'upgrade' : undefined);
    if (ins.forwardedFor) {
      const prev = header(this.req, 'x-forwarded-for');
      fields = fields.filter(([k]) => k.toLowerCase() !== 'x-forwarded-for');
      fields.push(['X-Forwarded-For', prev ? `${prev}, ${this.ctx.clientIp}` : this.ctx.clientIp]);
    }
    if (ins.forwardedPort) fields.push(['X-Forwarded-Port', String(this.l.cfg.port)]);
    if (ins.forwardedProto) fields.push(['X-Forwarded-Proto', this.tlsInfo ? 'https' : 'http']);
    if (this.tlsInfo && this.l.cfg.sslHeaders?.length) {
      const names = new Set(this.l.cfg.sslHeaders.map((h) => h.toLowerCase()));
      fields = fields.filter(([k]) => !names.has(k.toLowerCase()));
      fields.push(...this.tlsInfo.headers(this.l.cfg.sslHeaders));
    }
    if (this.upgrade) fields.push(['Connection', 'upgrade']);
    else if (this.req.minor === 0) fields.push(['Connection', 'keep-alive']);
    return serialiseHead(`${this.req.method} ${this.req.target} HTTP/1.${this.req.minor}`, fields);
  }

  start(rest: Buffer): void {
    if (!this.finished) {
      this.out(this.memberHead());
      this.connect(false);
    }
    this.requestData(rest);
  }

  /** Client bytes while this request is current: its body, then (kept) the next request. */
  requestData(d: Buffer): void {
    if (d.length) {
      let n = 0;
      if (!this.reqBody.done) {
        try {
          n = this.reqBody.feed(d);
        } catch {
          this.l.badRequest();
          this.abort();
          return;
        }
      }
      if (n > 0 && this.local === null) this.out(n === d.length ? d : d.subarray(0, n));
      if (n < d.length) {
        this.leftover = this.leftover.length ? Buffer.concat([this.leftover, d.subarray(n)]) : d.subarray(n);
        // Pipelined requests wait for this response.
        this.client.pause();
      }
    }
    if (this.local !== null && this.reqBody.done) {
      const keep = this.local;
      this.local = null;
      this.conn.done(keep, this.leftover);
    }
  }

  /** Send request bytes to the member (or hold them until it is connected); keep them for a resend. */
  private out(b: Buffer): void {
    if (this.replayable) {
      this.replayBytes += b.length;
      if (this.replayBytes > REPLAY_LIMIT) {
        this.replayable = false;
        this.replay = [];
      } else this.replay.push(b);
    }
    if (this.wired && this.upstream) {
      if (!this.upstream.write(b)) {
        this.client.pause();
        this.upstream.once('drain', () => this.client.resume());
      }
    } else this.unsent.push(b);
  }

  private dropMember(): void {
    if (this.member) this.member.active--;
    this.member = null;
  }

  /** Connect to a member (the same one on a fresh connection, or the next one) and send. */
  private connect(sameMember: boolean): void {
    const pool = this.pool!;
    if (!sameMember || !this.member) {
      this.dropMember();
      const m = pool.pick(this.ctx, this.tried ? new Set(this.tried) : NO_MEMBERS);
      if (!m) {
        this.replyError(503);
        return;
      }
      if (this.tried) this.tried.push(m.cfg.id);
      else this.tried = [m.cfg.id];
      m.active++;
      this.member = m;
    }
    const m = this.member!;
    // The local address is a getsockname() per client connection: only PROXY pools need it.
    const proxy = pool.cfg.protocol.startsWith('PROXY')
      ? proxyHeader(pool.cfg, this.ctx.clientIp, this.ctx.clientPort, this.client.localAddress ?? '', this.client.localPort ?? 0)
      : null;
    this.upstreamKey = `${pool.cfg.tls ? 's' : ''}${m.cfg.address}:${m.cfg.port}`;
    // PROXY headers open their connection and upgrades keep theirs: neither takes an idle one.
    const idle = proxy || this.upgrade || sameMember ? undefined : this.l.upstream.take(this.upstreamKey, this);
    this.reused = idle !== undefined;
    // TLS connections and upgrades (piped once switched) are read as streams.
    const s: OwnedSocket =
      idle ??
      (pool.cfg.tls
        ? memberSocket(tls.connect(memberTlsOptions(pool.cfg.tlsOptions, m.cfg.address, m.cfg.port)), this, 'data')
        : this.upgrade
          ? memberSocket(net.connect({ host: m.cfg.address, port: m.cfg.port, noDelay: true }), this, 'data')
          : memberConnect(m.cfg.address, m.cfg.port, this));
    this.upstream = s;
    this.wired = false;
    this.resBuf = EMPTY;
    if (idle) this.send(s, proxy);
    else {
      this.lastUpstream = performance.now();
      this.connectTimer = setTimeout(() => s.destroy(), Math.max(1, this.l.cfg.timeoutMemberConnect));
      s.once(pool.cfg.tls ? 'secureConnect' : 'connect', () => {
        s.setNoDelay(true);
        this.send(s, proxy);
      });
    }
  }

  /** The member connection `s` is ready: what the request has so far goes out (after `proxy`). */
  private send(s: net.Socket, proxy: Buffer | null): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (s !== this.upstream) return;
    this.wired = true;
    this.lastUpstream = performance.now();
    const pending = proxy ? [proxy, ...this.unsent] : this.unsent;
    this.unsent = [];
    // One write for the head and what came with it: one packet, one system call.
    if (pending.length) s.write(pending.length === 1 ? pending[0] : Buffer.concat(pending));
  }

  /** The member connection failed or closed: resend elsewhere, or end the exchange. */
  upstreamClosed(s: net.Socket): void {
    if (s !== this.upstream || this.finished) return;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.upstream = null;
    s.destroy();
    if (this.responding) {
      // A close-delimited body ends here; any other response is cut short, and so is the client.
      if (this.closeDelimited) this.finish();
      else this.abort();
      return;
    }
    if (this.resBuf.length) {
      this.replyError(502);
      return;
    }
    // Nothing came back: resend, if everything sent can be sent again.
    if (!this.replayable || this.retries >= RETRIES) {
      this.replyError(503);
      return;
    }
    this.retries++;
    this.unsent = [...this.replay];
    // A reused connection the member had closed: the same member on a fresh one; else redispatch.
    this.connect(this.reused);
  }

  /** `timeout member data`: the member's inactivity while it is waited for. */
  sweep(now: number): void {
    const limit = this.l.cfg.timeoutMemberData;
    if (this.finished || !this.upstream || !this.wired || limit <= 0 || now - this.lastUpstream <= limit) return;
    if (this.responding) this.abort();
    else this.replyError(504);
  }

  upstreamData(s: net.Socket, d: Buffer, borrowed: boolean): void {
    if (s !== this.upstream || this.finished) return;
    this.lastUpstream = performance.now();
    this.onResponseBytes(s, d, borrowed);
  }

  private onResponseBytes(s: net.Socket, d: Buffer, borrowed: boolean): void {
    if (this.responding) {
      this.responseBody(d, undefined, borrowed);
      return;
    }
    // A concatenation is a copy of its own.
    const joined = this.resBuf.length > 0;
    if (joined) borrowed = false;
    this.resBuf = joined ? Buffer.concat([this.resBuf, d]) : d;
    let head: Head | null;
    let f: Framing;
    try {
      head = parseHead(this.resBuf, 'response');
      if (!head) {
        // An incomplete head waits for the next read: keep its bytes.
        this.resBuf = own(this.resBuf, borrowed);
        return;
      }
      f = framing(head, 'response', this.req.method);
    } catch {
      this.replyError(502);
      return;
    }
    const rest = this.resBuf.subarray(head.length);
    this.resBuf = EMPTY;
    if (head.status >= 100 && head.status < 200 && head.status !== 101) {
      // Interim (100 Continue): pass it on and wait for the final answer.
      this.client.write(serialiseHead(`HTTP/1.1 ${head.status} ${head.reason}`, endToEnd(head)));
      if (rest.length) this.onResponseBytes(s, rest, borrowed);
      return;
    }
    const out = this.responseHead(head, f);
    if (head.status === 101 && this.upgrade) {
      this.client.write(out, 'latin1');
      this.tunnel(s, own(rest, borrowed));
      return;
    }
    // The head and the body bytes that came with it leave in one write.
    if (rest.length) this.responseBody(rest, out, borrowed);
    else {
      this.client.write(out, 'latin1');
      if (this.resBody!.done) this.finish();
    }
  }

  /** Note what the response means for both connections; the head the client gets. */
  private responseHead(head: Head, f: Framing): string {
    const pool = this.pool!;
    const m = this.member!;
    this.responding = true;
    this.replay = [];
    this.replayable = false;
    this.closeDelimited = f.kind === 'close';
    this.resBody = new BodyDelimiter(head.status === 101 ? { kind: 'none' } : f);
    this.memberKeepAlive = !this.closeDelimited && (head.minor === 1 ? !connectionHas(head, 'close') : connectionHas(head, 'keep-alive'));
    pool.remember(this.ctx, m);
    let fields = endToEnd(head, head.status === 101 ? 'upgrade' : undefined);
    const p = pool.cfg.persistence;
    if (p?.type === 'HTTP_COOKIE' && this.ctx.sticky !== m.cfg.id) {
      fields = fields.filter(([k]) => k.toLowerCase() !== 'cache-control');
      fields.push(['Set-Cookie', `${SERVER_COOKIE}=${m.cfg.id}; path=/`], ['Cache-Control', 'private']);
    }
    if (p?.type === 'APP_COOKIE' && p.cookieName) {
      const re = new RegExp(`^\\s*${p.cookieName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^;]*)`);
      for (const [k, v] of head.fields) {
        const mm = k.toLowerCase() === 'set-cookie' ? re.exec(v) : null;
        if (mm) pool.learnAppCookie(mm[1], m);
      }
    }
    if (head.status === 101) fields.push(['Connection', 'upgrade']);
    else if (!this.keepClient()) fields.push(['Connection', 'close']);
    else if (this.req.minor === 0) fields.push(['Connection', 'keep-alive']);
    return headText(`HTTP/1.1 ${head.status} ${head.reason}`, fields);
  }

  /** Keep the client connection after this response? Only when its end is known. */
  private keepClient(): boolean {
    return this.clientKeepAlive && !this.closeDelimited && !this.l.closing;
  }

  private responseBody(d: Buffer, head: string | undefined, borrowed: boolean): void {
    let n: number;
    try {
      n = this.resBody!.feed(d);
    } catch {
      this.abort();
      return;
    }
    let flowing = true;
    if (head !== undefined) {
      // Small bodies join the head's text (one write, no buffer copies); larger ones are corked.
      if (n <= SMALL_BODY) flowing = this.client.write(n ? head + d.toString('latin1', 0, n) : head, 'latin1');
      else {
        this.client.cork();
        this.client.write(head, 'latin1');
        flowing = this.client.write(own(n === d.length ? d : d.subarray(0, n), borrowed));
        this.client.uncork();
      }
    } else if (n > 0) flowing = this.client.write(own(n === d.length ? d : d.subarray(0, n), borrowed));
    if (!flowing) {
      const up = this.upstream;
      up?.pause();
      this.client.once('drain', () => up?.resume());
    }
    // Bytes after the response: that connection is not trusted again.
    if (n < d.length) this.memberKeepAlive = false;
    if (this.resBody!.done) this.finish();
  }

  /** 101 Switching Protocols: from now on both connections are piped to each other. */
  private tunnel(s: net.Socket, rest: Buffer): void {
    this.finished = true;
    (s as OwnedSocket)[OWNER] = undefined;
    this.upstream = null;
    const m = this.member;
    this.member = null;
    this.conn.becomeTunnel();
    this.client.removeAllListeners('data');
    if (rest.length) this.client.write(rest);
    if (this.leftover.length) s.write(this.leftover);
    s.pipe(this.client);
    this.client.pipe(s);
    this.client.resume();
    s.once('close', () => {
      if (m) m.active--;
      this.client.destroy();
    });
    s.on('error', () => s.destroy());
    this.client.once('close', () => s.destroy());
  }

  /** The response is complete: the member connection goes back to the pool, the client goes on. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const s = this.upstream as OwnedSocket | null;
    this.upstream = null;
    this.dropMember();
    if (s) {
      const reusable = this.memberKeepAlive && this.reqBody.done && !this.pool!.cfg.protocol.startsWith('PROXY');
      if (reusable) this.l.upstream.give(this.upstreamKey, s, performance.now());
      else {
        s[OWNER] = undefined;
        s.destroy();
      }
    }
    // A member that answered before the whole request arrived ends this connection.
    this.conn.done(this.keepClient() && this.reqBody.done, this.leftover);
  }

  /** An error page when nothing was sent to the client yet; else the client connection is cut. */
  private replyError(status: number): void {
    if (this.finished) return;
    if (this.responding) {
      this.abort();
      return;
    }
    this.finished = true;
    this.closeUpstream();
    this.dropMember();
    this.conn.fail(status);
  }

  private closeUpstream(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.upstream) this.upstream.destroy();
    this.upstream = null;
  }

  private abort(): void {
    this.finished = true;
    this.closeUpstream();
    this.dropMember();
    this.client.destroy();
  }

  clientGone(): void {
    if (this.finished) return;
    this.finished = true;
    this.closeUpstream();
    this.dropMember();
  }
}

/**
 * A UDP listener (Octavia serves these with LVS, not HAProxy; here the built-in engine does it in
 * both modes): each client address gets a session bound to one member, kept while datagrams flow.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { RtListener } from '../config.js';
import { type BuiltinListener, type Counters, type PoolLookup, cidrAllowed, newCounters } from './common.js';
import type { MemberState } from './pool.js';

interface Session {
  upstream: dgram.Socket;
  member: MemberState;
  timer: NodeJS.Timeout;
}

export class UdpListener implements BuiltinListener {
  private readonly socket: dgram.Socket;
  private readonly stats: Counters = newCounters();
  private readonly sessions = new Map<string, Session>();

  private constructor(
    public cfg: RtListener,
    private readonly pools: PoolLookup,
    family: 'udp4' | 'udp6',
  ) {
    this.socket = dgram.createSocket({ type: family, reuseAddr: false });
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
  }

  static async open(cfg: RtListener, address: string, pools: PoolLookup): Promise<UdpListener> {
    const l = new UdpListener(cfg, pools, net.isIPv6(address) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      l.socket.once('error', reject);
      l.socket.bind({ address, port: cfg.port, exclusive: true }, () => {
        l.socket.off('error', reject);
        resolve();
      });
    });
    return l;
  }

  update(cfg: RtListener): void {
    this.cfg = cfg;
  }

  state(): 'OPEN' | 'FULL' {
    return 'OPEN';
  }

  counters(): Counters {
    return { ...this.stats, active_connections: this.sessions.size };
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) this.endSession(s);
    this.sessions.clear();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  destroy(): void {
    /* close() already drops every session */
  }

  private idleMs(): number {
    return this.cfg.timeoutClientData || 50_000;
  }

  private endSession(s: Session): void {
    clearTimeout(s.timer);
    s.member.active--;
    try {
      s.upstream.close();
    } catch {
      /* closed already */
    }
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (!cidrAllowed(this.cfg.allowedCidrs, rinfo.address)) return;
    const key = `${rinfo.address}/${rinfo.port}`;
    let s = this.sessions.get(key);
    if (s && !s.member.cfg.enabled) {
      this.endSession(s);
      this.sessions.delete(key);
      s = undefined;
    }
    if (!s) {
      const pool = this.pools(this.cfg.defaultPoolId);
      const ctx = { clientIp: rinfo.address, clientPort: rinfo.port };
      const m = pool?.pick(ctx);
      if (!pool || !m) return;
      pool.remember(ctx, m);
      m.active++;
      const upstream = dgram.createSocket(net.isIPv6(m.cfg.address) ? 'udp6' : 'udp4');
      const session: Session = { upstream, member: m, timer: setTimeout(() => this.expire(key), this.idleMs()) };
      session.timer.unref();
      upstream.on('message', (reply) => {
        this.stats.bytes_out += reply.length;
        this.socket.send(reply, rinfo.port, rinfo.address);
        this.touch(key);
      });
      upstream.on('error', () => this.expire(key));
      upstream.connect(m.cfg.port, m.cfg.address);
      this.sessions.set(key, session);
      this.stats.total_connections++;
      s = session;
    }
    this.stats.bytes_in += msg.length;
    const up = s.upstream;
    const send = () => up.send(msg, (err) => err && this.expire(key));
    try {
      up.remoteAddress();
      send();
    } catch {
      up.once('connect', send);
    }
    this.touch(key);
  }

  private touch(key: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    s.timer.refresh();
  }

  private expire(key: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    this.endSession(s);
  }
}

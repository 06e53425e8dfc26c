/**
 * A TCP (and HTTPS passthrough) listener of the built-in engine: each connection goes to one
 * member; a member that refuses or does not answer within timeout_member_connect is retried on
 * another member, up to three times (HAProxy's `retries 3` + `option redispatch`).
 */
import net from 'node:net';
import tls from 'node:tls';
import type { RtListener } from '../config.js';
import { type BuiltinListener, type Counters, type PoolLookup, cidrAllowed, clientIp, listenExclusive, newCounters, proxyHeader } from './common.js';
import type { MemberState, PoolState } from './pool.js';
import { memberTlsOptions } from './tls.js';

export const RETRIES = 3;

/** Connect to a member of `pool`, retrying on others; resolves the upstream socket or null. */
export function connectMember(
  pool: PoolState,
  ctx: { clientIp: string; clientPort: number; sticky?: string },
  timeoutMs: number,
  onConnected?: (m: MemberState) => void,
): Promise<{ socket: net.Socket; member: MemberState } | null> {
  const tried = new Set<string>();
  return new Promise((resolve) => {
    const attempt = (n: number) => {
      const m = pool.pick(ctx, tried);
      if (!m) return resolve(null);
      tried.add(m.cfg.id);
      m.active++;
      const socket = pool.cfg.tls
        ? tls.connect(memberTlsOptions(pool.cfg.tlsOptions, m.cfg.address, m.cfg.port))
        : net.connect({ host: m.cfg.address, port: m.cfg.port, allowHalfOpen: true });
      socket.setNoDelay(true);
      const timer = setTimeout(() => fail(), Math.max(1, timeoutMs));
      let settled = false;
      const fail = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        m.active--;
        socket.destroy();
        if (n < RETRIES) attempt(n + 1);
        else resolve(null);
      };
      socket.once('error', fail);
      socket.once(pool.cfg.tls ? 'secureConnect' : 'connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('error', fail);
        onConnected?.(m);
        resolve({ socket, member: m });
      });
    };
    attempt(0);
  });
}

export class TcpListener implements BuiltinListener {
  private readonly server: net.Server;
  private readonly stats: Counters = newCounters();
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    public cfg: RtListener,
    private readonly pools: PoolLookup,
  ) {
    this.server = net.createServer({ noDelay: true, allowHalfOpen: true }, (c) => this.onConnection(c));
    this.applyLimit();
  }

  static async open(cfg: RtListener, address: string, pools: PoolLookup): Promise<TcpListener> {
    const l = new TcpListener(cfg, pools);
    await listenExclusive(l.server, address, cfg.port);
    return l;
  }

  update(cfg: RtListener): void {
    this.cfg = cfg;
    this.applyLimit();
  }

  private applyLimit(): void {
    this.server.maxConnections = this.cfg.connectionLimit >= 0 ? this.cfg.connectionLimit : Infinity;
  }

  state(): 'OPEN' | 'FULL' {
    return this.cfg.connectionLimit >= 0 && this.stats.active_connections >= this.cfg.connectionLimit ? 'FULL' : 'OPEN';
  }

  counters(): Counters {
    return { ...this.stats };
  }

  /** Stop accepting; connections already open finish on their own (graceful, like a reload). */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Drop everything now (load balancer deleted). */
  destroy(): void {
    for (const s of this.sockets) s.destroy();
  }

  private onConnection(client: net.Socket): void {
    const ip = clientIp(client.remoteAddress);
    if (!cidrAllowed(this.cfg.allowedCidrs, ip)) {
      client.destroy();
      return;
    }
    this.stats.total_connections++;
    this.stats.active_connections++;
    this.sockets.add(client);
    client.once('close', () => {
      this.stats.active_connections--;
      this.sockets.delete(client);
    });
    client.on('error', () => client.destroy());
    client.pause();
    const pool = this.pools(this.cfg.defaultPoolId);
    if (!pool) {
      client.destroy();
      return;
    }
    const ctx = { clientIp: ip, clientPort: client.remotePort ?? 0 };
    void connectMember(pool, ctx, this.cfg.timeoutMemberConnect).then((up) => {
      if (!up || client.destroyed) {
        up?.socket.destroy();
        if (up) up.member.active--;
        client.destroy();
        return;
      }
      const { socket, member } = up;
      pool.remember(ctx, member);
      this.sockets.add(socket);
      const header = proxyHeader(pool.cfg, ip, client.remotePort ?? 0, client.localAddress ?? '', client.localPort ?? 0);
      if (header) socket.write(header);
      const idle = () => {
        client.destroy();
        socket.destroy();
      };
      client.setTimeout(this.cfg.timeoutClientData || 0, idle);
      socket.setTimeout(this.cfg.timeoutMemberData || 0, idle);
      client.on('data', (d: Buffer) => {
        this.stats.bytes_in += d.length;
        if (!socket.write(d)) client.pause();
      });
      socket.on('drain', () => client.resume());
      socket.on('data', (d: Buffer) => {
        this.stats.bytes_out += d.length;
        if (!client.write(d)) socket.pause();
      });
      client.on('drain', () => socket.resume());
      client.on('end', () => socket.end());
      socket.on('end', () => client.end());
      socket.on('error', () => client.destroy());
      // Half-closes pass through; a side that is gone takes the other with it.
      socket.once('close', () => {
        member.active--;
        this.sockets.delete(socket);
        if (client.writableFinished) client.destroy();
        else client.end(() => client.destroy());
      });
      client.once('close', () => socket.destroy());
      client.resume();
    });
  }
}

/** Pieces the built-in listeners share: counters, source filtering, PROXY protocol headers. */
import net from 'node:net';
import { cidrContains, parseCidr, parseIp } from '../../util/ip.js';
import type { RtListener, RtPool } from '../config.js';
import type { PoolState } from './pool.js';

export interface Counters {
  bytes_in: number;
  bytes_out: number;
  active_connections: number;
  total_connections: number;
  request_errors: number;
}

export const newCounters = (): Counters => ({ bytes_in: 0, bytes_out: 0, active_connections: 0, total_connections: 0, request_errors: 0 });

/** Client addresses arrive IPv4-mapped on dual-stack sockets: report them as IPv4. */
export function clientIp(addr: string | undefined): string {
  if (!addr) return '';
  return addr.startsWith('::ffff:') && net.isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
}

export function cidrAllowed(cidrs: string[], ip: string): boolean {
  if (cidrs.length === 0) return true;
  const a = parseIp(ip);
  if (!a) return false;
  return cidrs.some((c) => {
    const cc = parseCidr(c);
    return !!cc && cidrContains(cc, a);
  });
}

/** PROXY protocol v1 header (HAProxy's send-proxy). */
export function proxyV1(src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  const fam = net.isIPv6(src) ? 'TCP6' : 'TCP4';
  return Buffer.from(`PROXY ${fam} ${src} ${dst} ${srcPort} ${dstPort}\r\n`, 'latin1');
}

/** PROXY protocol v2 header (HAProxy's send-proxy-v2), PROXY command over TCP. */
export function proxyV2(src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const v6 = net.isIPv6(src) || net.isIPv6(dst);
  const addrLen = v6 ? 36 : 12;
  const head = Buffer.alloc(4);
  head[0] = 0x21;
  head[1] = v6 ? 0x21 : 0x11;
  head.writeUInt16BE(addrLen, 2);
  const addr = Buffer.alloc(addrLen);
  const bytes = (ip: string, len: number) => {
    const p = parseIp(v6 && net.isIPv4(ip) ? `::ffff:${ip}` : ip)!;
    const b = Buffer.alloc(len);
    let v = p.value;
    for (let i = len - 1; i >= 0; i--) {
      b[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return b;
  };
  const len = v6 ? 16 : 4;
  bytes(src, len).copy(addr, 0);
  bytes(dst, len).copy(addr, len);
  addr.writeUInt16BE(srcPort, 2 * len);
  addr.writeUInt16BE(dstPort, 2 * len + 2);
  return Buffer.concat([sig, head, addr]);
}

export function proxyHeader(pool: RtPool, src: string, srcPort: number, dst: string, dstPort: number): Buffer | null {
  if (pool.protocol === 'PROXY') return proxyV1(src, srcPort, clientIp(dst), dstPort);
  if (pool.protocol === 'PROXYV2') return proxyV2(src, srcPort, clientIp(dst), dstPort);
  return null;
}

/** Listen on address:port; a port another socket holds is an error, not a shared port. */
export function listenExclusive(server: net.Server, address: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The state every built-in listener kind exposes to its instance. */
export interface BuiltinListener {
  readonly cfg: RtListener;
  update(cfg: RtListener): void;
  close(): Promise<void>;
  counters(): Counters;
  /** OPEN, or FULL when the connection limit is reached. */
  state(): 'OPEN' | 'FULL';
}

export type PoolLookup = (id: string | null) => PoolState | undefined;

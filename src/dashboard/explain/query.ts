import { badRequest } from '../../core/errors.js';
import type { Protocol } from './model.js';

/** `GET /explain?from=…&to=…&protocol=tcp&port=80[&path=/x][&probe=false]`, checked. */
export interface ExplainQuery {
  /** An instance (id or name), a port id, or `internet` (also `host`, `external`). */
  from: string;
  /** An instance (id or name), a port id, a floating IP (id or address), a load balancer (id, name or VIP address). */
  to: string;
  protocol: Protocol;
  /** tcp/udp: 1–65535; icmp: none (an echo request). */
  port: number | null;
  path?: string;
  /** On netns, also send a real probe (default true). */
  probe: boolean;
}

const bad = (msg: string) => badRequest('BadRequest', msg);

export function parseExplainQuery(q: Map<string, string[]>): ExplainQuery {
  const one = (k: string): string | undefined => {
    const v = q.get(k);
    if (v && v.length > 1) throw bad(`${k} is given ${v.length} times.`);
    return v?.[0];
  };
  const from = one('from')?.trim();
  const to = one('to')?.trim();
  if (!from) throw bad('from is required: an instance, a port, or "internet".');
  if (!to) throw bad('to is required: an instance, a port, a floating IP or a load balancer.');
  if (from.length > 255 || to.length > 255) throw bad('from and to are at most 255 characters.');
  const protocol = (one('protocol') ?? 'tcp').toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'icmp') throw bad(`protocol must be tcp, udp or icmp, not "${protocol.slice(0, 20)}".`);
  const portText = one('port');
  let port: number | null = null;
  if (protocol !== 'icmp') {
    if (portText === undefined || portText === '') throw bad(`port is required for ${protocol}.`);
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
      throw bad(`port must be a number from 1 to 65535, not "${portText.slice(0, 20)}".`);
    port = Number(portText);
  }
  const path = one('path');
  if (path !== undefined && (!path.startsWith('/') || path.length > 2048)) throw bad('path must start with "/" (at most 2048 characters).');
  const probeText = (one('probe') ?? 'true').toLowerCase();
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(probeText)) throw bad('probe must be true or false.');
  return { from, to, protocol, port, ...(path !== undefined ? { path } : {}), probe: ['true', '1', 'yes'].includes(probeText) };
}

/**
 * HAProxy configuration for one load balancer, generated from the engine-neutral model the way
 * Octavia's amphora template maps it: a frontend per listener, a backend per (pool, listener),
 * health monitor delay → `inter`, timeout → `timeout check`, max_retries → `rise`,
 * max_retries_down → `fall`, and always `retries 3` + `option redispatch` so a member that
 * refuses a connection costs the client nothing. UDP listeners are not HAProxy's (the built-in
 * engine serves them next to it).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { RtListener, RtLoadBalancer, RtPolicy, RtPool, RtRule } from '../config.js';

/**
 * Global maxconn within the file-descriptor limit: HAProxy needs about two descriptors per
 * connection and refuses to start when it cannot raise its limit (measured: maxconn ≤ ~9000
 * under a 20000 limit).
 */
export function maxConnections(): number {
  let limit = 20000;
  try {
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) limit = m[2] === 'unlimited' ? 1_000_000 : Number(m[2]);
  } catch {
    /* keep the conservative default */
  }
  return Math.max(256, Math.min(9000, Math.floor((limit - 200) / 2)));
}

/** A quoted HAProxy argument (no environment expansion, backslashes and quotes escaped). */
export const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$')}"`;

const addr = (ip: string, port: number) => (net.isIPv6(ip) ? `ipv6@${ip}:${port}` : `${ip}:${port}`);
const ms = (v: number) => `${Math.max(0, Math.round(v))}`;

const BALANCE: Record<RtPool['algorithm'], string[]> = {
  ROUND_ROBIN: ['balance roundrobin'],
  LEAST_CONNECTIONS: ['balance leastconn'],
  SOURCE_IP: ['balance source'],
  SOURCE_IP_PORT: ['balance hash src,concat(:,txn.sport)'],
};

const MATCH: Record<string, string> = { REGEX: 'reg', STARTS_WITH: 'beg', ENDS_WITH: 'end', CONTAINS: 'sub', EQUAL_TO: 'str' };

function acl(name: string, r: RtRule): string {
  const m = MATCH[r.compareType] ?? 'str';
  switch (r.type) {
    case 'HOST_NAME':
      return `acl ${name} req.hdr(host),field(1,:) -i -m ${m} ${quote(r.value)}`;
    case 'PATH':
      return `acl ${name} path -m ${m} ${quote(r.value)}`;
    case 'FILE_TYPE':
      return r.compareType === 'REGEX'
        ? `acl ${name} path_reg -i ${quote(`\\.(${r.value})$`)}`
        : `acl ${name} path_end -i ${quote(`.${r.value.replace(/^\./, '')}`)}`;
    case 'HEADER':
      return `acl ${name} req.hdr(${r.key}) -m ${m} ${quote(r.value)}`;
    case 'COOKIE':
      return `acl ${name} req.cook(${r.key}) -m ${m} ${quote(r.value)}`;
    default:
      // Client-certificate rules need TLS termination, which this engine does not do.
      return `acl ${name} always_false`;
  }
}

export const backendName = (pool: RtPool, l: RtListener) => `${pool.id}:${l.id}`;

function frontend(lb: RtLoadBalancer, l: RtListener, bindAddress: string, globalMax: number): string[] {
  const http = l.protocol === 'HTTP';
  const pools = new Map(lb.pools.map((p) => [p.id, p]));
  const out = [`frontend ${l.id}`, `    bind ${addr(bindAddress, l.port)}`, `    mode ${http ? 'http' : 'tcp'}`];
  out.push(`    maxconn ${l.connectionLimit >= 0 ? Math.min(l.connectionLimit, globalMax) : globalMax}`);
  out.push(`    timeout client ${ms(l.timeoutClientData)}`);
  if (l.allowedCidrs.length) out.push(`    tcp-request connection reject unless { src ${l.allowedCidrs.join(' ')} }`);
  if (!http && l.timeoutTcpInspect > 0) out.push(`    tcp-request inspect-delay ${ms(l.timeoutTcpInspect)}`);
  if (http) {
    if (l.insertHeaders.forwardedFor) out.push('    option forwardfor');
    if (l.insertHeaders.forwardedPort) out.push('    http-request set-header X-Forwarded-Port %[dst_port]');
    if (l.insertHeaders.forwardedProto) out.push('    http-request set-header X-Forwarded-Proto http');
    // Policies apply in position order: the first that matches wins, whatever its action.
    const decided = '!{ var(txn.l7pool) -m found }';
    l.policies.forEach((p: RtPolicy, i) => {
      const names = p.rules.map((r, j) => {
        const n = `p${i}r${j}`;
        out.push(`    ${acl(n, r)}`);
        return r.invert ? `!${n}` : n;
      });
      const cond = `${names.join(' ')} ${decided}`;
      if (p.action === 'REJECT') out.push(`    http-request deny if ${cond}`);
      else if (p.action === 'REDIRECT_TO_URL') out.push(`    http-request redirect location ${quote(p.redirectUrl!)} code ${p.redirectHttpCode} if ${cond}`);
      else if (p.action === 'REDIRECT_PREFIX')
        out.push(`    http-request redirect prefix ${quote(p.redirectPrefix!.replace(/\/$/, ''))} code ${p.redirectHttpCode} if ${cond}`);
      else if (p.redirectPoolId && pools.has(p.redirectPoolId)) {
        out.push(`    http-request set-var(txn.l7pool) str(${backendName(pools.get(p.redirectPoolId)!, l)}) if ${cond}`);
      }
    });
    if (l.policies.some((p) => p.action === 'REDIRECT_TO_POOL')) out.push('    use_backend %[var(txn.l7pool)] if { var(txn.l7pool) -m found }');
  }
  const def = l.defaultPoolId ? pools.get(l.defaultPoolId) : undefined;
  if (def) out.push(`    default_backend ${backendName(def, l)}`);
  return out;
}

function backend(pool: RtPool, l: RtListener, checkScript: string | null): string[] {
  const http = l.protocol === 'HTTP';
  const out = [`backend ${backendName(pool, l)}`, `    mode ${http ? 'http' : 'tcp'}`, ...BALANCE[pool.algorithm].map((x) => `    ${x}`)];
  if (pool.algorithm === 'SOURCE_IP_PORT')
    out.push(http ? '    http-request set-var(txn.sport) src_port' : '    tcp-request content set-var(txn.sport) src_port');
  if (!pool.enabled) out.push('    disabled');
  const sp = pool.persistence;
  if (sp?.type === 'SOURCE_IP') {
    out.push(
      `    stick-table type ${pool.members.some((m) => net.isIPv6(m.address)) ? 'ipv6' : 'ip'} size 10k${sp.timeout ? ` expire ${sp.timeout}s` : ''}`,
      '    stick on src',
    );
  } else if (sp?.type === 'HTTP_COOKIE' && http) {
    out.push('    cookie SRV insert indirect nocache');
  } else if (sp?.type === 'APP_COOKIE' && http && sp.cookieName) {
    out.push(
      '    stick-table type string len 64 size 10k',
      `    stick store-response res.cook(${sp.cookieName})`,
      `    stick match req.cook(${sp.cookieName})`,
    );
  }
  out.push(`    timeout connect ${ms(l.timeoutMemberConnect)}`, `    timeout server ${ms(l.timeoutMemberData)}`);
  const hm = pool.monitor;
  if (hm) {
    out.push(`    timeout check ${ms(hm.timeout * 1000)}`);
    if (hm.type === 'HTTP' || hm.type === 'HTTPS') {
      out.push('    option httpchk');
      const send = [`meth ${hm.httpMethod}`, `uri ${quote(hm.urlPath)}`];
      if (hm.httpVersion === '1.1') send.push('ver HTTP/1.1');
      if (hm.domainName) send.push(`hdr Host ${quote(hm.domainName)}`);
      out.push(`    http-check send ${send.join(' ')}`);
      const codes = hm.expectedCodes.trim();
      const range = /^(\d{3})-(\d{3})$/.exec(codes);
      if (range) {
        const all: number[] = [];
        for (let c = Number(range[1]); c <= Number(range[2]); c++) all.push(c);
        out.push(`    http-check expect rstatus (${all.join('|')})`);
      } else if (codes.includes(','))
        out.push(
          `    http-check expect rstatus (${codes
            .split(',')
            .map((c) => c.trim())
            .join('|')})`,
        );
      else out.push(`    http-check expect status ${codes}`);
    } else if (hm.type === 'TLS-HELLO') out.push('    option ssl-hello-chk');
    else if (hm.type === 'PING' && checkScript) out.push('    option external-check', `    external-check command ${checkScript}`);
  }
  for (const m of pool.members) {
    const parts = [`    server ${m.id} ${addr(m.address, m.port)} weight ${m.weight}`];
    if (hm) {
      parts.push(`check inter ${ms(Math.max(100, hm.delay * 1000))} fall ${hm.fall} rise ${hm.rise}`);
      if (m.checkAddress !== m.address) parts.push(`addr ${m.checkAddress}`);
      if (m.checkPort !== m.port) parts.push(`port ${m.checkPort}`);
      if (hm.type === 'HTTPS') parts.push('check-ssl verify none');
    }
    if (m.backup) parts.push('backup');
    if (!m.enabled) parts.push('disabled');
    if (sp?.type === 'HTTP_COOKIE' && http) parts.push(`cookie ${m.id}`);
    if (pool.protocol === 'PROXY') parts.push('send-proxy');
    if (pool.protocol === 'PROXYV2') parts.push('send-proxy-v2');
    if (pool.tls) parts.push('ssl verify none');
    out.push(parts.join(' '));
  }
  return out;
}

export interface CfgOptions {
  bindAddress: string;
  statsSocket: string;
  /** Path of the PING external-check script (written by the runtime). */
  pingScript: string | null;
  maxconn?: number;
  /** Drop to this user once the sockets are bound. */
  user?: { uid: number; gid: number };
}

/** The whole configuration file. */
export function haproxyConfig(lb: RtLoadBalancer, o: CfgOptions): string {
  const globalMax = o.maxconn ?? maxConnections();
  const tcpListeners = lb.listeners.filter((l) => l.protocol !== 'UDP');
  const needsPing = lb.pools.some((p) => p.monitor?.type === 'PING');
  const lines = [
    `# load balancer ${lb.id}, generated by PocketStack`,
    'global',
    `    maxconn ${globalMax}`,
    ...(o.user ? [`    uid ${o.user.uid}`, `    gid ${o.user.gid}`] : []),
    `    stats socket ${o.statsSocket} mode 600 level admin expose-fd listeners`,
    '    stats timeout 30s',
    ...(needsPing ? ['    external-check', '    insecure-fork-wanted'] : []),
    'defaults',
    '    retries 3',
    '    option redispatch',
    '    timeout connect 5000',
    '    timeout client 50000',
    '    timeout server 50000',
    '',
  ];
  for (const l of tcpListeners) {
    lines.push(...frontend(lb, l, o.bindAddress, globalMax), '');
    const used = new Set<string>();
    if (l.defaultPoolId) used.add(l.defaultPoolId);
    for (const p of l.policies) if (p.redirectPoolId) used.add(p.redirectPoolId);
    for (const p of lb.pools) if (used.has(p.id) && p.protocol !== 'UDP') lines.push(...backend(p, l, needsPing ? o.pingScript : null), '');
  }
  return lines.join('\n');
}

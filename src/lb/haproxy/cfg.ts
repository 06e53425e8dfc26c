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
import type { RtCertificate, RtListener, RtLoadBalancer, RtMember, RtPolicy, RtPool, RtRule, RtTlsParams } from '../config.js';

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
    // Client-certificate rules, as Octavia's template writes them.
    case 'SSL_CONN_HAS_CERT':
      return `acl ${name} ssl_c_used`;
    case 'SSL_VERIFY_RESULT':
      return `acl ${name} ssl_c_verify eq ${Number(r.value)}`;
    case 'SSL_DN_FIELD':
      return `acl ${name} ssl_c_s_dn(${r.key}) -m ${m} ${quote(r.value)}`;
    default:
      return `acl ${name} always_false`;
  }
}

export const backendName = (pool: RtPool, l: RtListener) => `${pool.id}:${l.id}`;

/** HTTP-mode listeners: plain HTTP, and HTTPS once terminated here. */
const isHttp = (l: RtListener) => l.protocol === 'HTTP' || l.protocol === 'TERMINATED_HTTPS';

const HAPROXY_VERSION: Record<string, string> = { SSLv3: 'SSLv3', TLSv1: 'TLSv1.0', 'TLSv1.1': 'TLSv1.1', 'TLSv1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3' };
const VERSION_ORDER = ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** tls_versions, tls_ciphers and alpn_protocols as bind/server keywords. */
function tlsParams(p: RtTlsParams, alpn: boolean): string[] {
  const out: string[] = [];
  const v = p.versions.filter((x) => VERSION_ORDER.includes(x)).sort((a, b) => VERSION_ORDER.indexOf(a) - VERSION_ORDER.indexOf(b));
  if (v.length) out.push(`ssl-min-ver ${HAPROXY_VERSION[v[0]]}`, `ssl-max-ver ${HAPROXY_VERSION[v[v.length - 1]]}`);
  if (p.ciphers) {
    // OpenSSL takes TLS 1.3 suites apart from the older ciphers.
    const all = p.ciphers.split(':').filter(Boolean);
    const v13 = all.filter((c) => c.startsWith('TLS_'));
    const older = all.filter((c) => !c.startsWith('TLS_'));
    if (older.length) out.push(`ciphers ${older.join(':')}`);
    if (v13.length) out.push(`ciphersuites ${v13.join(':')}`);
  }
  if (alpn && p.alpn.length) out.push(`alpn ${p.alpn.join(',')}`);
  return out;
}

/** Where the TLS files of a load balancer live (the runtime writes them, 0600, before `haproxy -c`). */
export interface TlsPaths {
  certificate(c: RtCertificate): string;
  crtList(l: RtListener): string;
  pem(ownerId: string, what: 'ca' | 'crl'): string;
}

export function tlsPaths(dir: string): TlsPaths {
  return {
    certificate: (c) => `${dir}/${c.id}.pem`,
    crtList: (l) => `${dir}/${l.id}.crt-list`,
    pem: (ownerId, what) => `${dir}/${ownerId}-${what}.pem`,
  };
}

/** Every TLS file the configuration names, path → content (certificate files hold the key). */
export function tlsFiles(lb: RtLoadBalancer, paths: TlsPaths): Map<string, string> {
  const files = new Map<string, string>();
  const cert = (c: RtCertificate) => files.set(paths.certificate(c), `${c.chain.trim()}\n${c.key.trim()}\n`);
  for (const l of lb.listeners) {
    if (!l.tls) continue;
    for (const c of l.tls.certificates) cert(c);
    // The first line is the default certificate; HAProxy picks the others by their names.
    files.set(paths.crtList(l), l.tls.certificates.map((c) => `${paths.certificate(c)}\n`).join(''));
    if (l.tls.clientCa) files.set(paths.pem(l.id, 'ca'), l.tls.clientCa);
    if (l.tls.clientCrl) files.set(paths.pem(l.id, 'crl'), l.tls.clientCrl);
  }
  for (const p of lb.pools) {
    const t = p.tlsOptions;
    if (!p.tls || !t) continue;
    if (t.clientCertificate) cert(t.clientCertificate);
    if (t.ca) files.set(paths.pem(p.id, 'ca'), t.ca);
    if (t.crl) files.set(paths.pem(p.id, 'crl'), t.crl);
  }
  return files;
}

/** The X-SSL-* headers of Octavia's template. */
const SSL_HEADER_VALUES = new Map([
  ['X-SSL-Client-Verify', '%[ssl_c_verify]'],
  ['X-SSL-Client-Has-Cert', '%[ssl_c_used]'],
  ['X-SSL-Client-DN', '%{+Q}[ssl_c_s_dn]'],
  ['X-SSL-Client-CN', '%{+Q}[ssl_c_s_dn(cn)]'],
  ['X-SSL-Issuer', '%{+Q}[ssl_c_i_dn]'],
  ['X-SSL-Client-SHA1', '%{+Q}[ssl_c_sha1,hex]'],
  ['X-SSL-Client-Not-Before', '%{+Q}[ssl_c_notbefore]'],
  ['X-SSL-Client-Not-After', '%{+Q}[ssl_c_notafter]'],
]);

function bindLine(l: RtListener, bindAddress: string, paths: TlsPaths | null): string {
  const parts = [`    bind ${addr(bindAddress, l.port)}`];
  if (l.tls && paths) {
    parts.push(`ssl crt-list ${paths.crtList(l)}`);
    if (l.tls.clientAuth !== 'NONE' && l.tls.clientCa) {
      parts.push(`ca-file ${paths.pem(l.id, 'ca')} verify ${l.tls.clientAuth === 'MANDATORY' ? 'required' : 'optional'}`);
      if (l.tls.clientCrl) parts.push(`crl-file ${paths.pem(l.id, 'crl')}`);
    }
    parts.push(...tlsParams(l.tls, true));
  }
  return parts.join(' ');
}

function frontend(lb: RtLoadBalancer, l: RtListener, bindAddress: string, globalMax: number, paths: TlsPaths | null): string[] {
  const http = isHttp(l);
  const pools = new Map(lb.pools.map((p) => [p.id, p]));
  const out = [`frontend ${l.id}`, bindLine(l, bindAddress, paths), `    mode ${http ? 'http' : 'tcp'}`];
  out.push(`    maxconn ${l.connectionLimit >= 0 ? Math.min(l.connectionLimit, globalMax) : globalMax}`);
  out.push(`    timeout client ${ms(l.timeoutClientData)}`);
  if (l.allowedCidrs.length) out.push(`    tcp-request connection reject unless { src ${l.allowedCidrs.join(' ')} }`);
  if (!http && l.timeoutTcpInspect > 0) out.push(`    tcp-request inspect-delay ${ms(l.timeoutTcpInspect)}`);
  if (http) {
    if (l.insertHeaders.forwardedFor) out.push('    option forwardfor');
    if (l.insertHeaders.forwardedPort) out.push('    http-request set-header X-Forwarded-Port %[dst_port]');
    if (l.insertHeaders.forwardedProto) out.push(`    http-request set-header X-Forwarded-Proto ${l.tls ? 'https' : 'http'}`);
    for (const h of l.sslHeaders ?? []) {
      const v = SSL_HEADER_VALUES.get(h);
      if (v) out.push(`    http-request set-header ${h} ${v}`);
    }
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

function backend(pool: RtPool, l: RtListener, checkScript: string | null, paths: TlsPaths | null, members: readonly RtMember[] = pool.members): string[] {
  const http = isHttp(l);
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
  for (const m of members) {
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
    if (pool.tls) parts.push(...serverTls(pool, paths));
    out.push(parts.join(' '));
  }
  return out;
}

/** A TLS pool's member side: client certificate, CA and CRL, versions, ciphers, ALPN. */
function serverTls(pool: RtPool, paths: TlsPaths | null): string[] {
  const t = pool.tlsOptions;
  const out = ['ssl'];
  if (!t || !paths) return [...out, 'verify none'];
  if (t.clientCertificate) out.push(`crt ${paths.certificate(t.clientCertificate)}`);
  if (t.ca) {
    out.push(`ca-file ${paths.pem(pool.id, 'ca')} verify required`);
    if (t.crl) out.push(`crl-file ${paths.pem(pool.id, 'crl')}`);
  } else out.push('verify none');
  out.push(...tlsParams(t, true));
  return out;
}

export interface CfgOptions {
  /** Where the TLS files live (tlsPaths); null: no TLS listener or pool is served. */
  tls?: TlsPaths | null;
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
    lines.push(...frontend(lb, l, o.bindAddress, globalMax, o.tls ?? null), '');
    for (const p of backendPools(lb, l)) lines.push(...backend(p, l, needsPing ? o.pingScript : null, o.tls ?? null), '');
  }
  return lines.join('\n');
}

/** The pools a listener has a backend for, in the file's order. */
function backendPools(lb: RtLoadBalancer, l: RtListener): RtPool[] {
  const used = new Set<string>();
  if (l.defaultPoolId) used.add(l.defaultPoolId);
  for (const p of l.policies) if (p.redirectPoolId) used.add(p.redirectPoolId);
  return lb.pools.filter((p) => used.has(p.id) && p.protocol !== 'UDP');
}

/**
 * The backends of `pool` in haproxyConfig(lb, o), each with the server lines of `members` only:
 * what the runtime gives serverplan.ts when only members changed (the file's other lines are the
 * same before and after, and reading 1,000 server lines to find one is what issue 17 removed).
 */
export function backendExcerpt(lb: RtLoadBalancer, pool: RtPool, members: readonly RtMember[], o: CfgOptions): string {
  const needsPing = lb.pools.some((p) => p.monitor?.type === 'PING');
  const lines: string[] = [];
  for (const l of lb.listeners) {
    if (l.protocol === 'UDP' || !backendPools(lb, l).includes(pool)) continue;
    lines.push(...backend(pool, l, needsPing ? o.pingScript : null, o.tls ?? null, members), '');
  }
  return lines.join('\n');
}

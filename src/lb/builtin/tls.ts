/**
 * TLS for the built-in engine, with node:tls: a TERMINATED_HTTPS listener's server side (the
 * default certificate, SNI certificates chosen by name as HAProxy's crt-list chooses them,
 * tls_versions, tls_ciphers, ALPN, client authentication against a CA and its CRL), a TLS pool's
 * client side toward members, and what the X-SSL-* headers and the SSL_* L7 rules read from a
 * client's connection.
 *
 * A changed configuration (a replaced certificate, say) takes effect for new connections only:
 * `setSecureContext` swaps what new handshakes use, connections already open keep theirs.
 */
import { createHash } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { RtCertificate, RtListenerTls, RtPoolTls, RtTlsParams } from '../config.js';

const NODE_VERSIONS: Record<string, tls.SecureVersion | undefined> = {
  TLSv1: 'TLSv1',
  'TLSv1.1': 'TLSv1.1',
  'TLSv1.2': 'TLSv1.2',
  'TLSv1.3': 'TLSv1.3',
};
const ORDER: tls.SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/**
 * Versions, ciphers and ALPN as node:tls takes them. Versions become a min..max range (what
 * OpenSSL can express; HAProxy's `no-tlsv1x` flags can leave holes, nobody configures one). This
 * engine speaks HTTP/1.x only, so `h2` is never offered: a client then uses HTTP/1.1.
 */
function params(p: RtTlsParams): Pick<tls.SecureContextOptions, 'minVersion' | 'maxVersion' | 'ciphers'> & { ALPNProtocols?: string[] } {
  const versions = p.versions.map((v) => NODE_VERSIONS[v]).filter((v): v is tls.SecureVersion => !!v);
  const idx = versions.map((v) => ORDER.indexOf(v)).sort();
  const alpn = p.alpn.filter((a) => a !== 'h2');
  return {
    ...(idx.length ? { minVersion: ORDER[idx[0]], maxVersion: ORDER[idx[idx.length - 1]] } : {}),
    ...(p.ciphers ? { ciphers: p.ciphers } : {}),
    ...(alpn.length ? { ALPNProtocols: alpn } : {}),
  };
}

function contextOptions(t: RtListenerTls, cert: RtCertificate): tls.SecureContextOptions {
  const { ALPNProtocols: _alpn, ...p } = params(t);
  return {
    cert: cert.chain,
    key: cert.key,
    ...p,
    ...(t.clientAuth !== 'NONE' && t.clientCa ? { ca: t.clientCa, ...(t.clientCrl ? { crl: t.clientCrl } : {}) } : {}),
  };
}

/** `*.example.com` matches `a.example.com`, not `example.com` nor `a.b.example.com`. */
const nameMatches = (pattern: string, host: string) =>
  pattern === host || (pattern.startsWith('*.') && host.endsWith(pattern.slice(1)) && !host.slice(0, -pattern.length + 1).includes('.'));

/** A TERMINATED_HTTPS listener's server-side TLS; `update` applies to new handshakes only. */
export class ServerTls {
  private sni: Array<{ names: string[]; context: tls.SecureContext }> = [];
  private fallback: tls.SecureContext | null = null;
  cfg: RtListenerTls;

  constructor(cfg: RtListenerTls) {
    this.cfg = cfg;
    this.build(cfg);
  }

  /** Options for tls.createServer (the default certificate; SNI through the callback). */
  serverOptions(): tls.TlsOptions {
    return { ...this.base(this.cfg), SNICallback: (name, cb) => cb(null, this.contextFor(name)) };
  }

  private base(t: RtListenerTls): tls.TlsOptions {
    const first = t.certificates[0];
    return {
      ...(first ? contextOptions(t, first) : {}),
      ...(params(t).ALPNProtocols ? { ALPNProtocols: params(t).ALPNProtocols } : {}),
      requestCert: t.clientAuth !== 'NONE',
      // OPTIONAL: a client without a certificate passes; one with a bad certificate is refused
      // after the handshake (HAProxy's `verify optional`), see refuses().
      rejectUnauthorized: t.clientAuth === 'MANDATORY',
    };
  }

  /** Build the contexts first: a certificate node refuses leaves the running ones untouched. */
  private build(t: RtListenerTls): void {
    const sni = t.certificates.map((c) => ({ names: c.names, context: tls.createSecureContext(contextOptions(t, c)) }));
    this.sni = sni;
    this.fallback = sni[0]?.context ?? null;
  }

  update(server: tls.Server, t: RtListenerTls): void {
    this.build(t);
    this.cfg = t;
    server.setSecureContext(this.base(t));
  }

  private contextFor(servername: string): tls.SecureContext | undefined {
    const host = servername.toLowerCase();
    for (const s of this.sni) if (s.names.some((n) => n === host)) return s.context;
    for (const s of this.sni) if (s.names.some((n) => nameMatches(n, host))) return s.context;
    return this.fallback ?? undefined;
  }

  /** `verify optional`: a certificate was presented and it did not verify. */
  refuses(s: tls.TLSSocket): boolean {
    if (this.cfg.clientAuth !== 'OPTIONAL') return false;
    return !s.authorized && Object.keys(s.getPeerCertificate() ?? {}).length > 0;
  }
}

/** How a TLS pool connects to a member. */
export function memberTlsOptions(t: RtPoolTls | null | undefined, host: string, port: number): tls.ConnectionOptions {
  const p = t ? params(t) : {};
  return {
    host,
    port,
    ...p,
    ...(t?.clientCertificate ? { cert: t.clientCertificate.chain, key: t.clientCertificate.key } : {}),
    // With a CA, members' certificates must chain to it (HAProxy `verify required ca-file`), the
    // name is not checked (no `verifyhost`); without one nothing is verified (`verify none`).
    ...(t?.ca ? { ca: t.ca, ...(t.crl ? { crl: t.crl } : {}), rejectUnauthorized: true, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }),
  };
}

/** OpenSSL's X509_V_ERR numbers (HAProxy's ssl_c_verify) for node's authorizationError codes. */
const VERIFY_CODES: Record<string, number> = {
  UNABLE_TO_GET_ISSUER_CERT: 2,
  UNABLE_TO_GET_CRL: 3,
  CERT_SIGNATURE_FAILURE: 7,
  CERT_NOT_YET_VALID: 9,
  CERT_HAS_EXPIRED: 10,
  DEPTH_ZERO_SELF_SIGNED_CERT: 18,
  SELF_SIGNED_CERT_IN_CHAIN: 19,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 20,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 21,
  CERT_REVOKED: 23,
};

/** What a client's TLS connection says about its certificate (HAProxy's ssl_c_* fetches). */
export interface ClientTls {
  hasCert: boolean;
  verify: number;
  /** A subject DN field (`CN`, `O`, …). */
  subjectField(name: string): string | undefined;
  headers(wanted: readonly string[]): Array<[string, string]>;
}

const dn = (o: Record<string, string | string[]> | undefined) =>
  o
    ? `/${Object.entries(o)
        .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)
        .join('/')}`
    : '';
/** ASN.1 UTCTime as HAProxy prints ssl_c_notbefore: YYMMDDhhmmssZ. */
const utcTime = (s: string | undefined) => {
  if (!s) return '';
  const d = new Date(s);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
};

export function clientTls(s: net.Socket): ClientTls | null {
  if (!(s instanceof tls.TLSSocket)) return null;
  const cert = s.getPeerCertificate();
  const hasCert = !!cert && Object.keys(cert).length > 0;
  const err = s.authorizationError ? String(s.authorizationError) : null;
  const verify = !hasCert || err === null ? 0 : (VERIFY_CODES[err] ?? 1);
  // DN field names come from L7 rules: read as own properties only.
  const field = (name: string) => {
    const subject = (hasCert ? cert.subject : undefined) as unknown as Record<string, string | string[]> | undefined;
    const v = subject && Object.hasOwn(subject, name) ? subject[name] : undefined;
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    hasCert,
    verify,
    subjectField: field,
    headers(wanted) {
      // Octavia's template asks %{+Q}; HAProxy's set-header writes the value itself, unquoted.
      const quoted = (v: string) => v;
      // Header names come from listeners' insert_headers: looked up in a Map, never an object.
      const values = new Map<string, () => string>([
        ['X-SSL-Client-Verify', () => String(verify)],
        ['X-SSL-Client-Has-Cert', () => (hasCert ? '1' : '0')],
        ['X-SSL-Client-DN', () => quoted(hasCert ? dn(cert.subject as unknown as Record<string, string>) : '')],
        ['X-SSL-Client-CN', () => quoted(field('CN') ?? '')],
        ['X-SSL-Issuer', () => quoted(hasCert ? dn(cert.issuer as unknown as Record<string, string>) : '')],
        ['X-SSL-Client-SHA1', () => quoted(hasCert ? createHash('sha1').update(cert.raw).digest('hex').toUpperCase() : '')],
        ['X-SSL-Client-Not-Before', () => quoted(hasCert ? utcTime(cert.valid_from) : '')],
        ['X-SSL-Client-Not-After', () => quoted(hasCert ? utcTime(cert.valid_to) : '')],
      ]);
      const out: Array<[string, string]> = [];
      for (const h of wanted) {
        const v = values.get(h);
        if (v) out.push([h, v()]);
      }
      return out;
    },
  };
}

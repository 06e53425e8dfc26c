/**
 * Glance's `validate_import_uri` (glance/common/utils.py): what web-download may fetch, by the
 * operator's `[import_filtering_opts]` lists. Hosts are normalised first (`normalize_hostname`):
 * IP literals in their canonical form, shorthand or numeric IPv4 spellings refused, and a name
 * only when it resolves (Glance's SSRF guard).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import type { ImportFilter } from './options.js';

/**
 * Python's urlparse of what validate_import_uri reads: scheme, hostname (lowercase), port. Read
 * from the text as written: a WHATWG URL would turn `http://2130706433/` into 127.0.0.1 before
 * the filter saw it, which is what Glance's numeric-host check exists to refuse.
 */
function parse(uri: string): { scheme: string; host: string; port: number | null } | null {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)(?::([^/?#]*))?(?:[/?#]|$)/i.exec(uri);
  if (!m) return null;
  if (m[3] !== undefined && m[3] !== '' && !/^\d+$/.test(m[3])) return null;
  const host = m[2].replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return { scheme: m[1].toLowerCase(), host, port: m[3] ? Number(m[3]) : null };
}

/** normalize_hostname: the canonical IP, the name when it resolves, or null. */
async function normalizeHost(host: string, resolves: (name: string) => Promise<boolean>): Promise<string | null> {
  if (!host) return null;
  if (isIP(host)) return host;
  // Numeric spellings the OS would still resolve as an address (2130706433, 127.1) are refused.
  if (/^[\d.]+$/.test(host)) return null;
  return (await resolves(host.endsWith('.') ? host : `${host}.`)) ? host : null;
}

const defaultResolves = async (name: string): Promise<boolean> => {
  try {
    await lookup(name);
    return true;
  } catch {
    return false;
  }
};

/**
 * True when web-download may fetch `uri`. An allow list, when set, wins over the matching deny
 * list (as Glance logs and does). A host outside a configured allow list is refused before any
 * name lookup: Glance would look it up and refuse it either way.
 */
export async function importUriAllowed(uri: string | undefined, f: ImportFilter, resolves = defaultResolves): Promise<boolean> {
  if (!uri) return false;
  const p = parse(uri);
  if (!p) return false;
  // The fetch reads URLs the WHATWG way: one it would send elsewhere than Python's reading names
  // (a backslash, a numeric host) is refused rather than fetched from where the filter never looked.
  let fetched: URL;
  try {
    fetched = new URL(uri);
  } catch {
    return false;
  }
  if (fetched.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase() !== p.host) return false;
  const blSchemes = f.allowedSchemes.length ? [] : f.disallowedSchemes;
  const blHosts = f.allowedHosts.length ? [] : f.disallowedHosts;
  const blPorts = f.allowedPorts.length ? [] : f.disallowedPorts;
  if (!p.scheme || (f.allowedSchemes.length && !f.allowedSchemes.includes(p.scheme)) || blSchemes.includes(p.scheme)) return false;
  if (f.allowedHosts.length && !isIP(p.host) && !f.allowedHosts.includes(p.host)) return false;
  const host = await normalizeHost(p.host, resolves);
  if (!host || (f.allowedHosts.length && !f.allowedHosts.includes(host)) || blHosts.includes(host)) return false;
  if (p.port !== null && ((f.allowedPorts.length && !f.allowedPorts.includes(p.port)) || blPorts.includes(p.port))) return false;
  return true;
}

/**
 * Open `uri` for a web-download (script_utils.get_image_data_iter): redirects followed as urllib
 * follows them (at most 10), each one vetted by the import filter (Glance's SafeRedirectHandler);
 * an HTTP error fails. `size` is the announced Content-Length (0 when there is none).
 */
export async function openImportUrl(uri: string, f: ImportFilter): Promise<{ body: Readable; size: number }> {
  let target = uri;
  for (let hop = 0; ; hop++) {
    const res = await fetch(target, { redirect: 'manual' });
    if ([301, 302, 303, 307, 308].includes(res.status) && hop < 10) {
      const next = new URL(res.headers.get('location') ?? '', target).href;
      await res.body?.cancel();
      if (!(await importUriAllowed(next, f))) throw new Error(`Redirect to disallowed URL: ${next}`);
      target = next;
      continue;
    }
    if (res.status >= 300) {
      await res.body?.cancel();
      throw new Error(`HTTP Error ${res.status}: ${res.statusText}`);
    }
    const size = Number(res.headers.get('content-length') ?? 0) || 0;
    const body = res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) : Readable.from([]);
    return { body, size };
  }
}

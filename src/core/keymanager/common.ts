/**
 * What every key-manager resource shares: ids and references, Barbican's timestamps, its paging
 * (repositories.clean_paging_values, hrefs.add_nav_hrefs) and Python's way of quoting values in
 * the jsonschema messages Barbican passes on to clients.
 */
export type EntityType = 'secret' | 'container';
export type Json = Record<string, unknown>;

export const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;

/** Barbican's timestamps: Python's isoformat() of a naive UTC datetime, microseconds included. */
export const isoNow = (): string => `${new Date().toISOString().slice(0, 23)}000`;

/** A reference Octavia (or a container) holds: `…/v1/secrets/<id>` or `…/v1/containers/<id>`. */
export function parseRef(ref: string): { type: EntityType; id: string } | null {
  const m = /\/(secrets|containers)\/([0-9a-fA-F-]{32,36})\/?$/.exec(ref);
  if (!m || !UUID_RE.test(m[2])) return null;
  return { type: m[1] === 'secrets' ? 'secret' : 'container', id: m[2].toLowerCase() };
}

/** clean_paging_values: a bad or negative offset is 0; no limit is the default, below 1 is 1, above the maximum the maximum. */
export function paging(params: Map<string, string>): { offset: number; limit: number } {
  const int = (k: string) => {
    const v = params.get(k);
    if (v === undefined || v === '' || !/^\s*[+-]?\d+\s*$/.test(v)) return undefined;
    return Number.parseInt(v, 10);
  };
  const o = int('offset');
  const offset = o === undefined || o < 0 ? 0 : o;
  // `limit_arg or default` on the query's text: an absent, empty or non-integer limit is the default.
  let limit = int('limit') ?? DEFAULT_LIMIT;
  if (limit < 1) limit = 1;
  return { offset, limit: Math.min(limit, MAX_LIMIT) };
}

/** hrefs.add_nav_hrefs: `previous`/`next` links (only on a page with items), and the total. */
export function navigation(base: string, name: string, offset: number, limit: number, total: number, items: Json[], nested = false): Json {
  const href = (o: number) => `${nested ? base : `${base}/v1`}/${name}?limit=${limit}&offset=${o}`;
  const out: Json = { [name]: items };
  if (items.length) {
    if (offset > 0) out.previous = href(Math.max(0, offset - limit));
    if (total > offset + limit) out.next = href(offset + limit);
  }
  out.total = total;
  return out;
}

/** Python's repr() of a JSON value, as jsonschema quotes it in its messages. */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v).includes('.') || String(v).includes('e') ? String(v) : `${v}.0`;
  if (typeof v === 'string') {
    const q = v.includes("'") && !v.includes('"') ? '"' : "'";
    const body = v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
    return q + (q === "'" ? body.replace(/'/g, "\\'") : body) + q;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  return `{${Object.entries(v as Json)
    .map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`)
    .join(', ')}}`;
}

export const pyList = (xs: readonly string[]): string => `[${xs.map((x) => pyRepr(x)).join(', ')}]`;

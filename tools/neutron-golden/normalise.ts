/**
 * Turns a real Neutron response into its fixture form: whatever varies between runs becomes a
 * named placeholder, everything else (key order, defaults, error wording) stays as it was sent.
 *
 * Placeholders (the replayer in test/support/neutron-golden.ts reads them back):
 * - `{{name}}` for a value bound by a step (`bind`) or a project (`projectA`, `projectB`,
 *   `projectAdmin`); the same value is always the same name, and two names never stand for one value.
 * - `{{key#n}}` for an id nobody bound, named by where it was first seen (`port_id#1`,
 *   `security_group_rules.id#2`), `{{mac#n}}` for MACs, `{{ip#n}}` for addresses Neutron picked
 *   (an address the scenario wrote in a request stays literal), `{{segmentation_id#n}}` for
 *   segmentation ids Neutron picked; these bind like the others.
 * - `{{timestamp}}` for any timestamp (checked for format only), `{{any}}` for a number Python made
 *   up (the object ids in RbacPolicyInUse details).
 * A placeholder may also sit inside a string (`Network {{net}} could not be found.`).
 *
 * Arrays whose elements are all objects are compared as sets (Neutron's order is the database's,
 * random ids make it vary), except the top-level collection of a list asked with `sort_key`; the
 * fixture keeps such arrays sorted by their content so that it is stable from run to run.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_IN = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
/** Neutron's resource times (created_at, updated_at); an extension's fixed `updated` date has an offset and stays. */
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const MAC = /^fa:16:3e(:[0-9a-f]{2}){3}$/;
const IP4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const IP6 = /^[0-9a-f:]+$/i;
/** Keys whose address Neutron picks when the request does not name one. */
const IP_KEYS = new Set(['ip_address', 'floating_ip_address', 'fixed_ip_address', 'local_ip_address', 'internal_ip_address']);
/** Numbers Neutron picks (or counts) that vary from run to run. */
const SEGID_KEYS = new Set(['provider:segmentation_id', 'segmentation_id', 'standard_attr_id']);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class Normaliser {
  /** value -> placeholder name, for the whole scenario. */
  private readonly names = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  /** Every string the scenario's requests contained (an address there stays literal). */
  private readonly literals = new Set<string>();
  /** Segmentation ids the scenario's requests chose (those stay literal). */
  private readonly chosenSegIds = new Set<number>();

  /** A value a step bound (or a project id): it is `{{name}}` from now on. */
  bindName(name: string, value: unknown) {
    if (typeof value !== 'string' && typeof value !== 'number') return;
    const key = String(value);
    if (this.names.has(key)) return;
    this.names.set(key, name);
    if (IP4.test(key) || (key.includes(':') && IP6.test(key))) this.names.set(key.replace(/[.:]/g, '-'), `${name}-dashed`);
  }

  /** Remember what a request said, so that an address the scenario chose is not a placeholder. */
  sawRequest(v: unknown, key = '') {
    if (typeof v === 'number' && SEGID_KEYS.has(key)) this.chosenSegIds.add(v);
    if (typeof v === 'string') {
      this.literals.add(v);
      for (const m of v.matchAll(/[^/?&=,]+/g)) this.literals.add(decodeURIComponent(m[0]));
    } else if (Array.isArray(v)) for (const x of v) this.sawRequest(x, key);
    else if (isObj(v)) for (const [k, x] of Object.entries(v)) this.sawRequest(x, k);
  }

  private auto(kind: string, value: string): string {
    const n = (this.counters.get(kind) ?? 0) + 1;
    this.counters.set(kind, n);
    const name = `${kind}#${n}`;
    this.names.set(value, name);
    // Neutron's default hostname for a port is `host-` and its address with dashes.
    if (kind === 'ip') this.names.set(value.replace(/[.:]/g, '-'), `${name}-dashed`);
    return name;
  }

  /** `sorted`: the top-level collection keeps Neutron's order (the request had sort_key). */
  body(v: unknown, sorted = false): unknown {
    return this.walk(v, [], sorted);
  }

  private walk(v: unknown, keys: string[], keepTopOrder: boolean): unknown {
    const key = keys[keys.length - 1] ?? '';
    if (typeof v === 'string') return this.str(v, keys);
    if (typeof v === 'number' && SEGID_KEYS.has(key) && (key === 'standard_attr_id' || !this.chosenSegIds.has(v))) {
      const known = this.names.get(`#num:${v}`);
      if (known) return `{{${known}}}`;
      const kind = key === 'standard_attr_id' ? key : 'segmentation_id';
      const n = (this.counters.get(kind) ?? 0) + 1;
      this.counters.set(kind, n);
      this.names.set(`#num:${v}`, `${kind}#${n}`);
      return `{{${kind}#${n}}}`;
    }
    if (Array.isArray(v)) {
      let items = v;
      const top = keys.length === 1;
      if (v.length > 1 && v.every(isObj) && !(top && keepTopOrder)) {
        items = [...v].sort((a, b) => (canonical(a) < canonical(b) ? -1 : canonical(a) > canonical(b) ? 1 : 0));
      }
      return items.map((x) => this.walk(x, keys, keepTopOrder));
    }
    if (isObj(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.walk(x, [...keys, k], keepTopOrder);
      return out;
    }
    return v;
  }

  private str(s: string, keys: string[]): string {
    const key = keys[keys.length - 1] ?? '';
    const known = this.names.get(s);
    if (known) return `{{${known}}}`;
    if (UUID.test(s)) {
      const parent = keys.length > 1 ? keys[keys.length - 2] : 'uuid';
      return `{{${this.auto(key === 'id' || key === '' ? `${parent}.id` : key, s)}}}`;
    }
    if (TIMESTAMP.test(s) && key !== 'updated') return '{{timestamp}}';
    if (MAC.test(s)) return `{{${this.auto('mac', s)}}}`;
    if (IP_KEYS.has(key) && (IP4.test(s) || (s.includes(':') && IP6.test(s))) && !this.literals.has(s)) return `{{${this.auto('ip', s)}}}`;
    return this.inString(s);
  }

  /** Known values and unknown ids inside a longer string (error messages, hostnames). */
  private inString(s: string): string {
    let out = s.replace(UUID_IN, (u) => `{{${this.names.get(u) ?? this.auto('uuid', u)}}}`);
    // A callback's name in Neutron's RbacPolicyInUse details ends in a Python object id.
    out = out.replace(/(Callback [\w.]+)-\d+( failed with)/g, '$1-{{any}}$2');
    // Neutron names the object type of an RBAC policy it cannot show by chance (`network` or `unknown`).
    out = out.replace(/^(RBAC policy of type )\w+( with ID)/, '$1{{any}}$2');
    const values = [...this.names.keys()].filter((k) => !k.startsWith('#num:') && k.length >= 7 && !UUID.test(k)).sort((a, b) => b.length - a.length);
    for (const value of values) {
      if (!out.includes(value)) continue;
      out = out.replace(new RegExp(`(?<![0-9A-Za-z.:_])${escapeRe(value)}(?![0-9A-Za-z:_-]|\\.[0-9])`, 'g'), `{{${this.names.get(value)}}}`);
    }
    return out;
  }
}

/** The order a set-like array is kept in: content with ids, times and MACs blanked. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    typeof x === 'string'
      ? x
          .replace(UUID_IN, '')
          .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/, '')
          .replace(/fa:16:3e(:[0-9a-f]{2}){3}/, '')
      : x,
  );
}

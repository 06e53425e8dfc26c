/**
 * Keystone's list filters ("driver hints"): for each attribute a list accepts, `?attr=value`
 * (equals) and the inexact `?attr__contains=`, `__startswith=`, `__endswith=` with an `i`
 * prefix for the case-insensitive forms (`__icontains` …), as keystone/server/flask/common.py
 * builds them (build_driver_hints) and applies what the driver did not (filter_by_attributes).
 * Every filter here is applied to the rendered entities, so the result is the same whatever
 * the store.
 */

export type Comparator = 'equals' | 'contains' | 'startswith' | 'endswith';

export interface Filter {
  name: string;
  value: string;
  comparator: Comparator;
  caseSensitive: boolean;
}

/** Query parameters as Fastify gives them: a name with one value or several. */
export type QueryArgs = Readonly<Record<string, string | string[] | undefined>>;

/** Keystone's attr_as_boolean: these words mean false, anything else true. */
const FALSE_WORDS = new Set(['0', 'false', 'f', 'no', 'n', 'off']);
const asBool = (v: string) => !FALSE_WORDS.has(v.trim().toLowerCase());

/** The filters a request asks for among `supported` attributes (others are ignored, as Keystone does). */
export function hintsFrom(query: QueryArgs, supported: readonly string[]): Filter[] {
  const out: Filter[] = [];
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      if (supported.includes(key)) {
        out.push({ name: key, value, comparator: 'equals', caseSensitive: true });
        continue;
      }
      for (const base of supported) {
        if (!key.startsWith(`${base}__`)) continue;
        let comparator = key.slice(base.length + 2);
        let caseSensitive = true;
        if (comparator.startsWith('i')) {
          caseSensitive = false;
          comparator = comparator.slice(1);
        }
        // An unknown comparator matches everything ("silently ignore unsupported filters").
        out.push({ name: base, value, comparator: comparator as Comparator, caseSensitive });
      }
    }
  }
  return out;
}

/** A rendered entity's attribute by a dotted name (Keystone's flatten_dict for `equals`). */
function attr(ref: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.hasOwn(ref, name)) return ref[name];
  let v: unknown = ref;
  for (const part of name.split('.')) {
    if (!v || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

function matches(ref: Readonly<Record<string, unknown>>, f: Filter, insensitive: ReadonlySet<string>): boolean {
  const target = attr(ref, f.name);
  if (f.comparator === 'equals') {
    if (typeof target === 'boolean') return target === asBool(f.value);
    // Names of case-insensitive attributes (domain names: MySQL's collation) compare folded.
    if (insensitive.has(f.name) && typeof target === 'string') return target.toLowerCase() === f.value.toLowerCase();
    return target === f.value;
  }
  if (typeof target !== 'string') return false;
  const value = f.caseSensitive ? f.value : f.value.toLowerCase();
  const have = f.caseSensitive ? target : target.toLowerCase();
  switch (f.comparator) {
    case 'contains':
      return have.includes(value);
    case 'startswith':
      return have.startsWith(value);
    case 'endswith':
      return have.endsWith(value);
    default:
      return true;
  }
}

/**
 * Keep the entities that pass every filter. `insensitive` names attributes whose `equals`
 * ignores case, as DevStack's MySQL compares them.
 */
export function applyHints<T extends Readonly<Record<string, unknown>>>(
  refs: T[],
  filters: readonly Filter[],
  insensitive: ReadonlySet<string> = new Set(),
): T[] {
  if (filters.length === 0) return refs;
  return refs.filter((r) => filters.every((f) => matches(r, f, insensitive)));
}

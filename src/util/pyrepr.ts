/**
 * Python's repr() of JSON-like values. Neutron words many errors with `%s` of a Python object
 * ("['colour'] is invalid attribute for filtering"); clients and tests compare those strings.
 *
 * Request bodies are refused beyond MAX_JSON_DEPTH (util/json.ts) before they get here; values
 * nested deeper than that anyway are cut as reprlib cuts them (`[...]`, `{...}`), so no input
 * can make this walk exhaust the stack.
 */
import { MAX_JSON_DEPTH } from './json.js';

export function pyRepr(v: unknown): string {
  return reprAt(v, 0);
}

function reprAt(v: unknown, depth: number): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return pyStr(v);
  if (Array.isArray(v)) return depth >= MAX_JSON_DEPTH ? '[...]' : `[${v.map((x) => reprAt(x, depth + 1)).join(', ')}]`;
  if (typeof v === 'object') {
    if (depth >= MAX_JSON_DEPTH) return '{...}';
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${pyStr(k)}: ${reprAt(x, depth + 1)}`)
      .join(', ')}}`;
  }
  return String(v);
}

function pyStr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  const body = s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
  return q + (q === "'" ? body.replace(/'/g, "\\'") : body) + q;
}

/** `%s` of a value: strings as they are, everything else as repr. */
export function pyStrOf(v: unknown): string {
  return typeof v === 'string' ? v : pyRepr(v);
}

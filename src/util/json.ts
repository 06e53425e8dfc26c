/** A JSON object (not an array, not null), as Python's isinstance(v, dict) tells it. */
export const isDict = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * JSON text for values that may hold bigints (IPv6 address counts exceed 2^53): bigints are
 * written as exact integer literals, everything else as JSON.stringify writes it.
 */
export function stringifyExact(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stringifyExact(v))).join(',')}]`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined || typeof v === 'function') continue;
    parts.push(`${JSON.stringify(k)}:${stringifyExact(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * Python's default recursion limit: the real services' JSON decoders give up about this deep (a
 * RecursionError, which they answer with a 500 or a dropped connection). Deeper documents are
 * refused here as malformed, before anything recursive (repr, validators) walks them.
 */
export const MAX_JSON_DEPTH = 1000;

/** Nesting depth of JSON text (brackets outside strings), counted without parsing. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}

/**
 * JSON.parse, refusing (SyntaxError) documents nested deeper than MAX_JSON_DEPTH. A text no longer
 * than MAX_JSON_DEPTH characters cannot nest deeper (each level is a bracket), so the usual request
 * body is not scanned a character at a time before JSON.parse reads it.
 */
export function parseJson(text: string): unknown {
  if (text.length > MAX_JSON_DEPTH && jsonDepth(text) > MAX_JSON_DEPTH) throw new SyntaxError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  return JSON.parse(text);
}

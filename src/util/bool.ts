/**
 * Booleans written as strings, as OpenStack reads them: oslo.utils' `strutils.bool_from_string`
 * (Neutron, Nova, the query strings of every service) and WSME (Octavia's bodies) know the same
 * words. One copy, so no service drifts from the others.
 */

/** The words read as true, and as false. */
export const TRUE_WORDS: ReadonlySet<string> = new Set(['1', 't', 'true', 'on', 'y', 'yes']);
export const FALSE_WORDS: ReadonlySet<string> = new Set(['0', 'f', 'false', 'off', 'n', 'no']);

/** `bool_from_string(v)`: true for a true word (trimmed, any case); anything else is false. */
export function boolFromString(v: string | null | undefined): boolean {
  return v !== null && v !== undefined && TRUE_WORDS.has(v.trim().toLowerCase());
}

/** `bool_from_string(v, strict=True)`: true, false, or undefined for a word that is neither. */
export function strictBoolFromString(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  if (TRUE_WORDS.has(s)) return true;
  if (FALSE_WORDS.has(s)) return false;
  return undefined;
}

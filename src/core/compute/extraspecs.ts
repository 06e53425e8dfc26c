/**
 * Extra spec validation (2.86, nova/api/validation/extra_specs/validators.py): a spec Nova knows
 * must have a value of its kind; a spec in a namespace Nova validates but does not know is
 * refused; any other name (a custom namespace, no namespace) passes.
 */
import { strictBoolFromString } from '../../util/bool.js';
import { novaBadRequest } from './errors.js';
import { EXTRA_SPEC_DEFS, type ExtraSpecDef, STANDARD_TRAITS } from './extraspec-defs.js';

interface Validator {
  def: ExtraSpecDef;
  nameRe: RegExp;
  valueRe?: RegExp;
}

const GROUP = { name: 'group', pattern: '([a-zA-Z0-9_-]{1,64})?' };
const TRAIT_VALUE = { type: 'str' as const, enum: ['required', 'forbidden'] };

function compile(def: ExtraSpecDef): Validator {
  let re = def.name;
  for (const p of def.parameters) re = re.replace(`{${p.name}}`, `(?<${p.name}>${p.pattern})`);
  return { def, nameRe: new RegExp(`^(?:${re})$`), valueRe: def.value.pattern ? new RegExp(`^(?:${def.value.pattern})$`) : undefined };
}

const VALIDATORS: Validator[] = [
  ...EXTRA_SPEC_DEFS,
  ...STANDARD_TRAITS.map((t) => ({ name: `trait{group}:${t}`, value: TRAIT_VALUE, parameters: [GROUP] })),
].map(compile);
const BY_NAME = new Map(VALIDATORS.map((v) => [v.def.name, v]));
/** Namespaces Nova validates (the part before ':' of a validator's name regex). */
const NAMESPACES = [
  ...new Set(
    VALIDATORS.map((v) => v.nameRe.source.slice(4, -2))
      .filter((s) => s.includes(':'))
      .map((s) => s.split(':', 1)[0]),
  ),
].map((ns) => new RegExp(`^(?:${ns})$`));

const fail = (msg: string) => novaBadRequest(`Validation failed; ${msg}`);

function check(v: Validator, name: string, value: string): void {
  if (!v.nameRe.test(name)) throw fail(`expected a name of format '${v.def.name}' but got '${name}'.`);
  const spec = v.def.value;
  if (spec.type === 'int') {
    if (!/^\s*[-+]?\d+\s*$/.test(value)) throw fail(`'${value}' is not a valid integer value.`);
    const n = Number(value);
    if (spec.max !== undefined && spec.max < n) throw fail(`'${value}' is greater than the max value of '${spec.max}'.`);
    if (spec.min !== undefined && spec.min > n) throw fail(`'${value}' is less than the min value of '${spec.min}'.`);
  } else if (spec.type === 'bool') {
    if (strictBoolFromString(value) === undefined) throw fail(`'${value}' is not a valid boolean-like value.`);
  } else if (v.valueRe) {
    if (!v.valueRe.test(value)) throw fail(`'${value}' is not of the format '${spec.pattern}'.`);
  } else if (spec.enum && !spec.enum.map(String).includes(value)) {
    throw fail(`'${value}' is not one of: ${spec.enum.join(', ')}.`);
  }
}

/** validators.validate(name, value). */
export function validateExtraSpec(name: string, value: string): void {
  const known = BY_NAME.get(name) ?? VALIDATORS.find((v) => v.nameRe.test(name));
  if (known) {
    check(known, name, value);
    return;
  }
  if (!name.includes(':')) return;
  const ns = name.split(':', 1)[0];
  if (!NAMESPACES.some((re) => re.test(ns))) return;
  throw fail(`extra spec '${name}' does not appear to be a valid extra spec.`);
}

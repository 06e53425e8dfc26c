/**
 * The vocabulary of Neutron's attribute maps: how an attribute is set, defaulted, converted,
 * validated, filtered and shown. Each resource declares its attributes once with these; the
 * request handling, filters, sorting and rendering in resource.ts all read that one table.
 * Messages are Neutron's own, because clients and Tempest compare them.
 */
import { isUuidLike } from '../../util/ids.js';
import { parseCidr, parseIp, parseMac, ipToString, cidrToString } from '../../util/ip.js';
import { pyRepr, pyStrOf } from '../../util/pyrepr.js';
import { DomainError, invalidInput } from '../errors.js';
import { isDict } from '../../util/json.js';
import { strictBoolFromString } from '../../util/bool.js';

/** Neutron's ATTR_NOT_SPECIFIED: optional, with no default the API layer fills in. */
export const NOT_SPECIFIED = Symbol('ATTR_NOT_SPECIFIED');

export type Validator = (v: unknown) => string | undefined;
export type Converter = (v: unknown) => unknown;

export type Codec = 'text' | 'int' | 'bool' | 'json';

export interface Attr {
  /** allow_post / allow_put. */
  post?: boolean;
  put?: boolean;
  /** undefined with post=true means required; NOT_SPECIFIED means optional without a default. */
  default?: unknown;
  /** is_visible (default true). */
  visible?: boolean;
  filter?: boolean;
  sort?: boolean;
  convert?: Converter;
  /** Converter for a filter's list of query values (convert_list_to). */
  convertList?: (vs: string[]) => unknown[];
  validate?: Validator;
  /** enforce_policy with the admin-only rules Neutron ships (router:external, provider:*, binding:*). */
  adminOnly?: boolean;
  /** Hidden from everyone but admins when reading (provider:*, binding:*). */
  adminOnlyRead?: boolean;
  /** Storage: the column backing this attribute, and how values are encoded. Omit for computed attrs. */
  column?: string;
  codec?: Codec;
}

// ---------------------------------------------------------------- converters

/** neutron-lib's convert_to_boolean: strutils.bool_from_string(strict=True) of strings and numbers. */
export const toBoolean: Converter = (v) => {
  if (typeof v === 'boolean') return v;
  const b = typeof v === 'string' || typeof v === 'number' ? strictBoolFromString(String(v)) : undefined;
  if (b !== undefined) return b;
  throw invalidInput(`'${pyStrOf(v)}' cannot be converted to boolean`);
};

export const toInt: Converter = (v) => {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
  throw invalidInput(`'${pyStrOf(v)}' is not an integer`);
};

export const noneToEmptyList: Converter = (v) => (v === null ? [] : v);
export const noneToEmptyDict: Converter = (v) => (v === null ? {} : v);

export const ipToCanonical: Converter = (v) => {
  const ip = typeof v === 'string' ? parseIp(v) : null;
  return ip && ip.version === 6 ? ipToString(ip) : v;
};

export const cidrToCanonical: Converter = (v) => {
  if (v === null || v === undefined) return v;
  const c = typeof v === 'string' ? parseCidr(v) : null;
  if (!c) throw invalidInput(`${pyStrOf(v)} is not in a CIDR format`);
  const s = v as string;
  // Keep the host part as given (the validator refuses it for IPv4); canonicalise IPv6 text.
  const ip = parseIp(s.slice(0, s.indexOf('/')))!;
  return `${ipToString(ip)}/${c.prefix}`;
};

export const toMac: Converter = (v) => parseMac(v) ?? v;

/**
 * convert_kvp_list_to_dict: "ip_address=1.2.3.4" filter values → {ip_address: [...]}. The keys
 * are the client's, so the object has no prototype to collide with.
 */
export function kvpListToDict(vs: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null);
  for (const kv of vs) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw invalidInput(`'${kv}' is not of the form <key>=[value]`);
    const k = kv.slice(0, eq);
    const list = out[k];
    if (list) list.push(kv.slice(eq + 1));
    else out[k] = [kv.slice(eq + 1)];
  }
  return out;
}

// ---------------------------------------------------------------- validators

export const string =
  (max?: number): Validator =>
  (v) => {
    if (typeof v !== 'string') return `'${pyStrOf(v)}' is not a valid string`;
    if (max !== undefined && v.length > max) return `'${v}' exceeds maximum length of ${max}`;
    return undefined;
  };

export const notEmptyString = (max?: number): Validator => {
  const s = string(max);
  return (v) => s(v) ?? (typeof v === 'string' && v.trim() === '' ? `'${v}' Blank strings are not permitted` : undefined);
};

export const uuid: Validator = (v) => (isUuidLike(v) ? undefined : `'${pyStrOf(v)}' is not a valid UUID`);
export const uuidOrNone: Validator = (v) => (v === null ? undefined : uuid(v));

/** neutron-lib's validate_values: without a display string it names no list, only "valid_values". */
export const values =
  (allowed: readonly unknown[]): Validator =>
  (v) =>
    allowed.includes(v) ? undefined : `${pyStrOf(v)} is not in valid_values`;

export const nonNegative: Validator = (v) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) return `'${pyStrOf(v)}' is not an integer`;
  return v < 0 ? `'${v}' should be non-negative` : undefined;
};

export const range =
  (lo: number, hi: number): Validator =>
  (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return `'${pyStrOf(v)}' is not an integer`;
    if (v < lo) return `'${v}' is too small - must be at least '${lo}'`;
    if (v > hi) return `'${v}' is too large - must be no larger than '${hi}'`;
    return undefined;
  };

export const listOf =
  (item: Validator, opts: { unique?: boolean } = {}): Validator =>
  (v) => {
    if (!Array.isArray(v)) return `'${pyStrOf(v)}' is not a list`;
    if (opts.unique) {
      const seen = new Set<string>();
      const dups = new Set<string>();
      for (const x of v) {
        const k = JSON.stringify(x);
        if (seen.has(k)) dups.add(pyStrOf(x));
        seen.add(k);
      }
      if (dups.size) return `Duplicate items in the list: '${[...dups].join(', ')}'`;
    }
    for (const x of v) {
      const m = item(x);
      if (m) return m;
    }
    return undefined;
  };

export const uuidList: Validator = listOf(uuid, { unique: true });

export const macAddress: Validator = (v) => (parseMac(v) ? undefined : `'${pyStrOf(v)}' is not a valid MAC address`);

export const ipAddress: Validator = (v) => {
  if (typeof v !== 'string') return `'${pyStrOf(v)}' is not a valid IP address`;
  if (parseIp(v)) return undefined;
  // "10.0.0.01": netaddr parses it, neutron-lib refuses it and suggests the plain form.
  const stripped = v.includes(':') ? null : v.replace(/(^|\.)0+(\d)/g, '$1$2');
  if (stripped && stripped !== v && parseIp(stripped)) return `'${v}' is not an accepted IP address, '${stripped}' is recommended`;
  return `'${v}' is not a valid IP address`;
};

export const ipAddressOrNone: Validator = (v) => (v === null ? undefined : ipAddress(v));

/**
 * neutron-lib's validate_subnet: a CIDR is refused only when netaddr's own string of it differs
 * from the input (no prefix length, or an IPv4 address written another way); host bits are
 * accepted (10.99.99.0/16), and the subnet takes the network (10.99.0.0/16).
 */
export const subnetCidr: Validator = (v) => {
  const bare = typeof v === 'string' && !v.includes('/') ? parseIp(v) : null;
  const c = typeof v === 'string' ? parseCidr(bare ? `${v}/${bare.version === 4 ? 32 : 128}` : v) : null;
  if (!c) return `'${pyStrOf(v)}' is not a valid IP subnet`;
  const s = v as string;
  const slash = s.indexOf('/');
  const given = parseIp(slash < 0 ? s : s.slice(0, slash))!;
  const written = `${ipToString(given)}/${c.prefix}`;
  if (slash < 0 || (c.version === 4 && written !== s)) {
    return `'${s}' isn't a recognized IP subnet cidr, '${cidrToString(c)}' is recommended`;
  }
  return undefined;
};
export const subnetCidrOrNone: Validator = (v) => (v === null ? undefined : subnetCidr(v));

/** A destination in a route: host bits must be clear, loopback is not routable. */
export const routeCidr: Validator = (v) => {
  const c = typeof v === 'string' ? parseCidr(v) : null;
  if (!c) return `'${pyStrOf(v)}' is not a valid CIDR`;
  const s = v as string;
  const given = parseIp(s.slice(0, s.indexOf('/')))!;
  if (given.value !== c.network) return `'${s}' is not a recognized CIDR, '${cidrToString(c)}' is recommended`;
  if ((c.version === 4 && c.network >> 24n === 127n) || (c.version === 6 && c.prefix === 128 && c.network === 1n)) {
    return `'${s}' is not a routable CIDR`;
  }
  return undefined;
};

function verifyKeys(expected: string[], d: Record<string, unknown>, strict = true): string | undefined {
  const keys = Object.keys(d);
  const missing = expected.filter((k) => !keys.includes(k));
  const extra = strict ? keys.filter((k) => !expected.includes(k)) : [];
  if (missing.length || extra.length) {
    return `Validation of dictionary's keys failed. Expected keys: ${pyRepr(new Set(expected).size ? expected : [])} Provided keys: ${pyRepr(keys)}`;
  }
  return undefined;
}

export const ipPools: Validator = (v) => {
  if (!Array.isArray(v)) return `Invalid data format for IP pool: '${pyStrOf(v)}'`;
  for (const pool of v) {
    if (!isDict(pool)) return `Invalid data format for IP pool: '${pyStrOf(pool)}'`;
    const m = verifyKeys(['start', 'end'], pool);
    if (m) return m;
    for (const k of ['start', 'end']) {
      const e = ipAddress(pool[k]);
      if (e) return e;
    }
  }
  return undefined;
};

export const fixedIps: Validator = (v) => {
  if (!Array.isArray(v)) return `Invalid data format for fixed IP: '${pyStrOf(v)}'`;
  const seen: unknown[] = [];
  for (const f of v) {
    if (!isDict(f)) return `Invalid data format for fixed IP: '${pyStrOf(f)}'`;
    if ('ip_address' in f) {
      if (seen.includes(f.ip_address)) return `Duplicate IP address '${pyStrOf(f.ip_address)}'`;
      const e = ipAddress(f.ip_address);
      if (e) return e;
      seen.push(f.ip_address);
    }
    if ('subnet_id' in f) {
      const e = uuid(f.subnet_id);
      if (e) return e;
    }
  }
  return undefined;
};

export const nameservers: Validator = (v) => {
  if (!Array.isArray(v)) return `Invalid data format for nameserver: '${pyStrOf(v)}'`;
  const seen: unknown[] = [];
  for (const host of v) {
    const e = ipAddress(host);
    if (e) return `'${pyStrOf(host)}' is not a valid nameserver. ${e}`;
    if (seen.includes(host)) return `Duplicate nameserver '${pyStrOf(host)}'`;
    seen.push(host);
  }
  return undefined;
};

export const hostRoutes: Validator = (v) => {
  if (!Array.isArray(v)) return `Invalid data format for hostroute: '${pyStrOf(v)}'`;
  const seen: string[] = [];
  for (const r of v) {
    if (!isDict(r)) return `Invalid data format for hostroute: '${pyStrOf(r)}'`;
    const m = verifyKeys(['destination', 'nexthop'], r);
    if (m) return m;
    const e = routeCidr(r.destination) ?? ipAddress(r.nexthop);
    if (e) return e;
    const k = JSON.stringify([r.destination, r.nexthop]);
    if (seen.includes(k)) return `Duplicate hostroute '${pyStrOf(r)}'`;
    seen.push(k);
  }
  return undefined;
};

export const dictOrNone: Validator = (v) => (v === null || isDict(v) ? undefined : `'${pyStrOf(v)}' is not a dictionary`);

export const availabilityZoneHints: Validator = (v) => {
  if (!Array.isArray(v)) return `'${pyStrOf(v)}' is not a list`;
  for (const az of v) {
    const e = string(255)(az);
    if (e) return e;
  }
  const total = (v as string[]).join(',').length;
  if (total > 255) return `Too many availability_zone_hints specified`;
  return undefined;
};

/** neutron.conf's max_allowed_address_pair. */
export const MAX_ALLOWED_ADDRESS_PAIRS = 10;

/**
 * neutron-lib's _validate_allowed_address_pairs: most refusals are raised, not returned, so they
 * reach the client as their own error types (HTTPBadRequest with the bare reason, …).
 */
export const allowedAddressPairs: Validator = (v) => {
  if (!Array.isArray(v)) throw httpBadRequestError('Allowed address pairs must be a list.');
  if (v.length > MAX_ALLOWED_ADDRESS_PAIRS) {
    throw new DomainError('bad_request', 'AllowedAddressPairExhausted', `The number of allowed address pair exceeds the maximum ${MAX_ALLOWED_ADDRESS_PAIRS}.`);
  }
  const seen = new Set<string>();
  for (const p of v) {
    if (!isDict(p)) return `'${pyStrOf(p)}' is not a dictionary`;
    if ('mac_address' in p) {
      const e = macAddress(p.mac_address);
      if (e) throw httpBadRequestError(e);
    }
    if (!('ip_address' in p)) throw new DomainError('bad_request', 'AllowedAddressPairsMissingIP', 'AllowedAddressPair must contain ip_address');
    const key = JSON.stringify([p.mac_address ?? null, p.ip_address]);
    if (seen.has(key)) {
      throw new DomainError(
        'bad_request',
        'DuplicateAddressPairInRequest',
        `Request contains duplicate address pair: mac_address ${pyStrOf(p.mac_address ?? null)} ip_address ${pyStrOf(p.ip_address)}.`,
      );
    }
    seen.add(key);
    const extra = Object.keys(p).filter((k) => k !== 'ip_address' && k !== 'mac_address');
    if (extra.length) throw httpBadRequestError(`Unrecognized attribute(s) '${extra.join(', ')}'`);
    const ip = p.ip_address;
    const e = typeof ip === 'string' && ip.includes('/') ? subnetCidr(ip) : ipAddress(ip);
    if (e) throw httpBadRequestError(e);
  }
  return undefined;
};

const httpBadRequestError = (msg: string) => new DomainError('bad_request', 'HTTPBadRequest', msg);

/** neutron-lib's VALID_BLANK_EXTRA_DHCP_OPTS: the options that may be set to ''. */
const BLANK_DHCP_OPTS = ['router', 'classless-static-route'];

/** One option against EXTRA_DHCP_OPT_KEY_SPECS: exactly opt_name, opt_value and maybe ip_version. */
function dhcpOptMatches(o: Record<string, unknown>): boolean {
  const keys = Object.keys(o);
  if (!keys.includes('opt_name') || !keys.includes('opt_value')) return false;
  if (keys.some((k) => !['opt_name', 'opt_value', 'ip_version'].includes(k))) return false;
  if ('ip_version' in o) {
    let version: unknown;
    try {
      version = toInt(o.ip_version);
    } catch {
      return false;
    }
    if (version !== 4 && version !== 6) return false;
  }
  const name = o.opt_name;
  const value = o.opt_value;
  const oneline = (x: unknown, max: number) => typeof x === 'string' && x.trim() !== '' && x.length <= max && x.split(/\r\n|\r|\n/).length <= 1;
  // Spec 1: the options that may be blank.
  if (typeof name === 'string' && BLANK_DHCP_OPTS.includes(name) && (value === null || (typeof value === 'string' && value.length <= 255))) return true;
  // Spec 2: any one-line option name, a one-line non-empty value or none.
  return oneline(name, 64) && (value === null || oneline(value, 255));
}

/** type:list_of_any_key_specs_or_none with the extra DHCP option specs: refusals are InvalidInput. */
export const extraDhcpOpts: Validator = (v) => {
  if (v === null) return undefined;
  if (!Array.isArray(v)) throw invalidInput(`'${pyStrOf(v)}' is not a list`);
  for (const o of v) {
    if (!isDict(o) || !dhcpOptMatches(o)) throw invalidInput(`No valid key specs matched for: ${pyRepr(o)}`);
  }
  return undefined;
};

export const uniqueStrings =
  (max: number): Validator =>
  (v) =>
    listOf(string(max), { unique: true })(v);

/**
 * Requests an attacker or a careless client sends, as fast-check arbitraries: for one route
 * pattern, a concrete path (real ids, foreign ids, junk, over-long and prototype-named segments),
 * a query string (known filters and list parameters with hostile values, prototype names, one
 * parameter repeated hundreds of times), headers (tokens of three projects or none or junk, odd
 * Content-Types, microversions, Accept) and a body: the route's own model with some values spoilt
 * (wrong types, sizes, depths, encodings, prototype-named keys) or raw text that is barely JSON.
 * JSON is written as text, so it can say what JSON.stringify cannot: duplicate keys, `__proto__`
 * keys, numbers beyond 2^63, nesting thousands deep.
 */
import fc from 'fast-check';
import type { BodyModel, Shape } from './models.js';

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

/** Object.prototype's names, and JavaScript's other magic ones. */
export const PROTO_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  '__defineGetter__',
  'toJSON',
  'then',
];

const str = (s: string) => JSON.stringify(s);

/** `arb` one time in `n`, else undefined. */
const sometimes = <T>(arb: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
const deep = (depth: number, open: string, close: string, inner = '1') => open.repeat(depth) + inner + close.repeat(depth);

/** Scalars that break naive code: sizes, signs, 2^63, floats, empty, control and surrogate characters. */
const HOSTILE_SCALARS = [
  'null',
  'true',
  'false',
  '0',
  '-1',
  '1',
  '1.5',
  '-0',
  '1e400',
  '-1e400',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775809',
  '18446744073709551616',
  '2147483648',
  '4294967296',
  '1e-400',
  '""',
  '" "',
  '"x"',
  str('x'.repeat(256)),
  str('x'.repeat(70_000)),
  '"\\u0000"',
  '"\\ud800"',
  '"%ff"',
  '"../../etc/passwd"',
  '"None"',
  '"True"',
  '"null"',
  `"'"`,
  '"\\\\"',
  '"😀"',
  '"\\u202e"',
  '"a,b"',
  '"*"',
  '"%"',
  '"\\n"',
  '"-1"',
  '"9223372036854775808"',
  '"00000000-0000-0000-0000-000000000000"',
  '"10.0.0.0/8"',
  '"::/0"',
  '"0.0.0.0"',
  '"fa:16:3e:00:00:01"',
  '"ssh-rsa AAAA"',
  '"in:a,b"',
  '"2020-01-01T00:00:00Z"',
  ...PROTO_NAMES.map(str),
];

/** Composite values: empty, null-filled, prototype-keyed, deep, wide. */
const HOSTILE_COMPOSITES = [
  '[]',
  '{}',
  '[null]',
  '[{}]',
  '[[]]',
  '[1,2,3]',
  '["x"]',
  '{"__proto__":{"polluted":1}}',
  '{"constructor":{"prototype":{"polluted":1}}}',
  '{"toString":1,"valueOf":"x"}',
  '{"a":1,"a":2}',
  deep(60, '[', ']'),
  deep(60, '{"a":', '}'),
  `[${Array(2000).fill('1').join(',')}]`,
  `{${Array.from({ length: 500 }, (_, i) => `"k${i}":"v"`).join(',')}}`,
];

/** Nesting the services must refuse in their own format whatever the depth. */
const DEPTHS = [100, 1_000, 2_600, 3_000, 3_000, 20_000];

export interface GenContext {
  /** Ids of real objects (any project) to use as reference values. */
  ids: string[];
  /** Ids of the kind a field or parameter names (`security_group_id` → security groups), if any. */
  idsFor(name: string): string[];
}

const hostileCache = new WeakMap<GenContext, fc.Arbitrary<string>>();
function hostileValue(ctx: GenContext): fc.Arbitrary<string> {
  let arb = hostileCache.get(ctx);
  if (!arb) {
    arb = hostileValueOf(ctx);
    hostileCache.set(ctx, arb);
  }
  return arb;
}

function hostileValueOf(ctx: GenContext): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...HOSTILE_SCALARS) },
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_COMPOSITES) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map(str) },
    { weight: 1, arbitrary: fc.integer().map(String) },
    { weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)) },
    { weight: ctx.ids.length ? 2 : 0, arbitrary: fc.constantFrom(...(ctx.ids.length ? ctx.ids : ['x'])).map(str) },
    { weight: 1, arbitrary: fc.constantFrom(...DEPTHS).map((d) => deep(d, '[', ']', '')) },
  );
}

/** A plausible value of a shape (so the request passes the early checks). */
function plausible(shape: Shape, ctx: GenContext, depth: number, name = ''): fc.Arbitrary<string> {
  switch (shape.t) {
    case 'str': {
      const refs = ctx.idsFor(name);
      if (refs.length) return fc.constantFrom(...refs).map(str);
      return shape.enum?.length
        ? fc.constantFrom(...shape.enum).map((v) => JSON.stringify(v))
        : fc
            .oneof(
              fc.constantFrom('fuzz', 'x', '10.9.0.5', '10.9.0.0/24', 'HTTP', 'ROUND_ROBIN', 'ingress'),
              fc.constantFrom(...(ctx.ids.length ? ctx.ids : ['x'])),
            )
            .map(str);
    }
    case 'any': {
      const refs = ctx.idsFor(name);
      return refs.length ? fc.oneof(fc.constantFrom(...refs).map(str), hostileValue(ctx)) : hostileValue(ctx);
    }
    case 'int':
      return fc.integer({ min: -1, max: 100 }).map(String);
    case 'num':
      return fc.double({ min: 0, max: 100, noNaN: true }).map(String);
    case 'bool':
      return fc.boolean().map(String);
    case 'null':
      return fc.constant('null');
    case 'list':
      return depth > 4 ? fc.constant('[]') : fc.array(someValue(shape.item, ctx, depth + 1), { maxLength: 3 }).map((xs) => `[${xs.join(',')}]`);
    case 'obj':
      return depth > 4 ? fc.constant('{}') : objectOf(shape.props, ctx, depth + 1);
  }
}

/** Mostly plausible, sometimes hostile. */
function someValue(shape: Shape, ctx: GenContext, depth: number, name = ''): fc.Arbitrary<string> {
  return fc.oneof({ weight: 7, arbitrary: plausible(shape, ctx, depth, name) }, { weight: 1, arbitrary: hostileValue(ctx) });
}

/** An object of some of `props` (in order, or with a prototype-named or unknown key added). */
function objectOf(props: ReadonlyArray<readonly [string, Shape]>, ctx: GenContext, depth: number): fc.Arbitrary<string> {
  const members = props.map(([k, s]) =>
    sometimes(
      someValue(s, ctx, depth, k).map((v) => `${str(k)}:${v}`),
      2,
    ),
  );
  const extra = sometimes(
    fc.tuple(fc.oneof(fc.constantFrom(...PROTO_NAMES), fc.string({ maxLength: 12 })), hostileValue(ctx)).map(([k, v]) => `${str(k)}:${v}`),
    6,
  );
  return fc.tuple(fc.tuple(...members), extra).map(([ms, x]) => `{${[...ms, x].filter((m) => m !== undefined).join(',')}}`);
}

/** Raw texts that are not quite a JSON document of the right kind. */
function rawBody(models: BodyModel[]): fc.Arbitrary<string | Buffer> {
  const roots = models.flatMap((m) => (m.shape.t === 'obj' ? m.shape.props.map(([k]) => k) : []));
  const root = fc.constantFrom(...(roots.length ? roots : ['x']));
  return fc.oneof(
    fc.constantFrom(
      '',
      ' ',
      '{',
      '{"a":',
      'null',
      '"x"',
      '1',
      '[]',
      '[null]',
      '{}',
      'NaN',
      '\ufeff{}',
      '{"a":1}garbage',
      '<xml/>',
      'a=1&b=2',
      '{"__proto__":{"x":1}}',
    ),
    fc.constant(Buffer.from([0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])),
    fc
      .tuple(root, fc.constantFrom(...DEPTHS), fc.constantFrom(['[', ']'], ['{"a":', '}']))
      .map(([r, d, [o, c]]) => `{${str(r)}: ${deep(d, o, c, o === '[' ? '' : '1')}}`),
    fc.tuple(root, fc.constantFrom(...DEPTHS)).map(([r, d]) => `{${str(r)}: {"name": ${deep(d, '[', ']', '')}, "description": ${deep(d, '{"a":', '}')}}}`),
    fc.tuple(root, fc.constantFrom(...PROTO_NAMES)).map(([r, p]) => `{${str(r)}: {${str(p)}: "x"}}`),
    fc.constantFrom(...PROTO_NAMES).map((p) => `{${str(p)}: {"name": "x"}}`),
    root.map((r) => `{${str(r)}: ${str('x'.repeat(200_000))}}`),
    // Beyond every body limit (1 MiB; Nova's 112 KiB), and nesting no parser's stack holds.
    fc.constantFrom(`{"x": ${str('x'.repeat(1_100_000))}}`, deep(200_000, '[', ']', '')),
  );
}

export function bodyArb(models: BodyModel[], ctx: GenContext): fc.Arbitrary<string | Buffer> {
  const shaped = models.length ? fc.constantFrom(...models).chain((m) => plausible(m.shape, ctx, 0)) : fc.constant('{}');
  return fc.oneof({ weight: 6, arbitrary: shaped }, { weight: 2, arbitrary: rawBody(models) });
}

const LIST_PARAMS = [
  'limit',
  'marker',
  'sort_key',
  'sort_dir',
  'sort',
  'fields',
  'page_reverse',
  'all_tenants',
  'all_projects',
  'changes-since',
  'changes-before',
  'name',
  'status',
  'tags',
  'tags-any',
  'not-tags',
  'not-tags-any',
  'project_id',
  'tenant_id',
  'id',
  'include_names',
  'effective',
  'user.id',
  'scope.project.id',
  'nocatalog',
  'additive_only',
  'cascade',
  'member_status',
  'visibility',
  'size_min',
  'size_max',
  'os_hidden',
  'reservation_id',
  'ip',
  'ip6',
  'image',
  'flavor',
  'deleted',
  'minDisk',
  'minRam',
  'is_public',
  'user_id',
  'domain_id',
  'parent_id',
  'enabled',
  'fixed_ips',
  'device_owner',
  'network_id',
  'admin_state_up',
  'shared',
  'router:external',
  'mac_address',
  'revision_number',
  'created_at',
  'description',
];
/** Numbers as query text: signs, 2^63 and beyond, floats, hex, words. */
const NUMBERS = [
  '0',
  '1',
  '-1',
  '2',
  '9223372036854775807',
  '9223372036854775808',
  '99999999999999999999999',
  '1e5',
  '1.5',
  '0x10',
  'abc',
  '',
  ' 1',
  '2147483648',
];

const QUERY_VALUES = [
  '',
  '1',
  '-1',
  '0',
  '9223372036854775807',
  '9223372036854775808',
  '99999999999999999999999',
  '1e5',
  '0x10',
  'true',
  'True',
  'false',
  'asc',
  'desc',
  'name:asc',
  'constructor:asc',
  '__proto__:desc',
  'name:desc,id:asc',
  'abc',
  '%',
  'in:a,b',
  'gte:2020-01-01',
  'lt:x',
  'ip_address=10.0.0.1',
  'subnet_id=x',
  ',',
  '*',
  '..',
  '.*',
  '(',
  '[',
  'x'.repeat(5000),
  ...PROTO_NAMES,
];

function queryArb(models: BodyModel[], ctx: GenContext): fc.Arbitrary<string> {
  const fieldNames = [...new Set(models.flatMap((m) => namesOf(m.shape)))];
  const names = fieldNames.length ? fieldNames : ['name'];
  const name = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('limit', 'marker', 'sort_key', 'sort_dir', 'sort', 'fields', 'page_reverse') },
    { weight: 2, arbitrary: fc.constantFrom(...LIST_PARAMS) },
    { weight: 3, arbitrary: fc.constantFrom(...names) },
    { weight: 2, arbitrary: fc.constantFrom(...PROTO_NAMES) },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  );
  const sortish = fc
    .tuple(fc.constantFrom(...names, ...PROTO_NAMES, 'nonexistent'), fc.constantFrom('asc', 'desc', 'up', ''))
    .map(([k, d]) => (d ? `${k}:${d}` : k));
  const valueFor = (n: string): fc.Arbitrary<string> => {
    if (n === 'limit') return fc.constantFrom(...NUMBERS);
    if (n === 'sort_key' || n === 'sort' || n === 'fields' || n === 'sort_dir') return fc.oneof(sortish, fc.constantFrom(...QUERY_VALUES));
    const refs = ctx.idsFor(n);
    return fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...QUERY_VALUES) },
      { weight: 2, arbitrary: fc.constantFrom(...NUMBERS) },
      { weight: 1, arbitrary: sortish },
      { weight: refs.length ? 3 : 0, arbitrary: fc.constantFrom(...(refs.length ? refs : ['x'])) },
      { weight: ctx.ids.length ? 1 : 0, arbitrary: fc.constantFrom(...(ctx.ids.length ? ctx.ids : ['x'])) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
    );
  };
  const pair = name.chain((n) => valueFor(n).map((v) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`));
  return fc
    .tuple(
      fc.oneof(
        { weight: 2, arbitrary: fc.constant([]) },
        { weight: 6, arbitrary: pair.map((p) => [p]) },
        { weight: 2, arbitrary: fc.array(pair, { minLength: 2, maxLength: 3 }) },
      ),
      // One parameter repeated: filters and `IN (…)` lists of hundreds.
      sometimes(fc.tuple(pair, fc.constantFrom(2, 30, 999, 3000)), 20),
      // Encodings URLSearchParams and the router must survive.
      sometimes(fc.constantFrom('%zz', '%', '%ff=1', 'a=%ff', '=', '&&', 'a', 'a[b]=1', '%00=1', 'a=%C0%80'), 20),
    )
    .map(([pairs, rep, raw]) => {
      const parts = [...pairs];
      if (rep) parts.push(...Array(rep[1]).fill(rep[0]));
      if (raw) parts.push(raw);
      return parts.length ? `?${parts.join('&')}` : '';
    });
}

function namesOf(s: Shape, depth = 0): string[] {
  if (depth > 2) return [];
  if (s.t === 'obj') return s.props.flatMap(([k, v]) => [k, ...namesOf(v, depth + 1)]);
  if (s.t === 'list') return namesOf(s.item, depth + 1);
  return [];
}

/** Junk for a path segment (already percent-encoded where it must be). */
const SEGMENT_JUNK = [
  '00000000-0000-0000-0000-000000000000',
  'x',
  'a'.repeat(600),
  'a'.repeat(5000),
  ...PROTO_NAMES.filter((p) => p !== '__proto__'),
  '__proto__',
  '%E2%98%83',
  '%20',
  '..',
  '%2F',
  '%00',
  '%25',
  '1',
  '-1',
  '9223372036854775808',
  'detail',
  'default',
];

export interface RouteContext {
  service: string;
  method: string;
  /** The registered pattern (`/v2.0/:collection/:id`). */
  pattern: string;
  /** Values for a parameter (by name and the literal segment before it). */
  paramValues(name: string, before: string, chosen: Record<string, string>): string[];
  models: BodyModel[];
  modelsFor(path: string): BodyModel[];
  tokens: Array<string | undefined>;
  ctx: GenContext;
}

function pathArb(r: RouteContext): fc.Arbitrary<string> {
  const segs = r.pattern.split('/');
  // Parameters are filled left to right: an id depends on the collection chosen before it.
  return fc.array(fc.tuple(fc.nat(99), fc.nat()), { minLength: segs.length, maxLength: segs.length }).chain((picks) => {
    const chosen: Record<string, string> = {};
    const out: string[] = [];
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      if (s.startsWith(':') || s === '*') {
        const name = s === '*' ? '*' : s.slice(1);
        const real = r.paramValues(name, segs[i - 1] ?? '', chosen);
        // Mostly real values (to reach the handlers), junk one time in six.
        const [roll, pick] = picks[i];
        const useReal = real.length > 0 && roll < 83;
        const v = useReal ? real[pick % real.length] : SEGMENT_JUNK[pick % SEGMENT_JUNK.length];
        chosen[name] = v;
        out.push(useReal ? encodeURIComponent(v).replace(/%2F/g, '/') : v);
      } else {
        out.push(s);
      }
    }
    return fc.constant(out.join('/') || '/');
  });
}

const CONTENT_TYPES = [
  'application/json',
  'application/json',
  'application/json',
  'application/json',
  undefined,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=latin-1',
  'application/octet-stream',
  'application/openstack-images-v2.1-json-patch',
  'application/openstack-images-v2.0-json-patch',
  '*/*',
  'application/json;;',
  'ḟoo/bar',
];
const ACCEPTS = [
  undefined,
  'application/json',
  'text/html',
  'text/plain',
  '*/*',
  'application/xml',
  'application/json;q=abc',
  'text/html;q=0, application/json;q=0',
  ',',
];
const MICROVERSIONS = [
  'compute 2.1',
  'compute latest',
  'compute 2.46',
  'compute 2.99',
  'compute 2',
  'compute abc',
  'compute 2.1, compute 2.2',
  'volume 2.5',
  'compute 3.0',
  'compute 02.01',
  '',
];

function headersArb(r: RouteContext, hasBody: boolean): fc.Arbitrary<Record<string, string>> {
  return fc
    .record({
      token: fc.oneof(
        { weight: 20, arbitrary: fc.constantFrom(...r.tokens) },
        { weight: 1, arbitrary: fc.constantFrom('garbage', 'x'.repeat(10_000), '\u00e9', 'null') },
      ),
      type: hasBody
        ? fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) })
        : fc.constant(undefined),
      accept: fc.constantFrom(...ACCEPTS),
      micro: r.service === 'compute' ? sometimes(fc.constantFrom(...MICROVERSIONS), 2) : fc.constant(undefined),
      legacy: r.service === 'compute' ? sometimes(fc.constantFrom('2.1', '2.46', 'latest', 'x', '2.100'), 6) : fc.constant(undefined),
      ifMatch: sometimes(fc.constantFrom('revision_number=1', 'revision_number=x', '"revision_number=1", revision_number=2', '*', 'W/"x"'), 10),
      proxied: sometimes(fc.constantFrom('https', 'a b', '', 'http://x'), 15),
      host: sometimes(fc.constantFrom('a b', '[::1', '', 'x'.repeat(300), 'localhost:99999'), 15),
      range:
        r.method === 'GET'
          ? sometimes(fc.constantFrom('bytes=0-1', 'bytes=5-1', 'bytes=-', 'bytes=x', 'bytes=0-99999999999999999999'), 10)
          : fc.constant(undefined),
    })
    .map((h) => {
      const out: Record<string, string> = {};
      if (h.token !== undefined) out['x-auth-token'] = h.token;
      if (h.type !== undefined) out['content-type'] = h.type;
      if (h.accept !== undefined) out.accept = h.accept;
      if (h.micro !== undefined) out['openstack-api-version'] = h.micro;
      if (h.legacy !== undefined) out['x-openstack-nova-api-version'] = h.legacy;
      if (h.ifMatch !== undefined) out['if-match'] = h.ifMatch;
      if (h.proxied !== undefined) out['x-forwarded-proto'] = h.proxied;
      if (h.host !== undefined) out.host = h.host;
      if (h.range !== undefined) out.range = h.range;
      return out;
    });
}

/** Requests for one route. */
export function requestArb(r: RouteContext): fc.Arbitrary<FuzzRequest> {
  const writes = r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH';
  // Arbitraries per set of models, built once: building them for every sample costs more than the request.
  const parts = new Map<string, fc.Arbitrary<{ query: string; headers: Record<string, string>; body: string | Buffer | undefined }>>();
  const partsFor = (models: BodyModel[]) => {
    const key = models.map((m) => m.source).join('|');
    let arb = parts.get(key);
    if (!arb) {
      arb = fc.record({
        query: queryArb(models, r.ctx),
        headers: headersArb(r, true),
        body: fc.oneof({ weight: writes ? 1 : 5, arbitrary: fc.constant(undefined) }, { weight: writes ? 11 : 1, arbitrary: bodyArb(models, r.ctx) }),
      });
      parts.set(key, arb);
    }
    return arb;
  };
  return pathArb(r).chain((path) =>
    partsFor(r.modelsFor(path)).map(({ query, headers, body }) => {
      const h = { ...headers };
      if (body === undefined) delete h['content-type'];
      return { method: r.method, url: `${path}${query}`, headers: h, payload: body };
    }),
  );
}

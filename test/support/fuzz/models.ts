/**
 * What the fuzzer knows of each route's body, read from the declarations the services validate
 * with (never a hand list): Neutron's attribute maps, Octavia's WSME field specs, Nova's, Glance's
 * and Keystone's JSON Schemas. A model is a root key and a shape; the generator fills the shape
 * with plausible values and then spoils some of them, so hostile values reach every validator,
 * converter and store write behind the first checks.
 */
import * as keystone from '../../../src/api/identity/schemas.js';
import * as nova from '../../../src/api/compute/schemas.js';
import { ApiVersion } from '../../../src/api/compute/version.js';
import type { Cloud } from '../../../src/server.js';
import { imageProperties, memberSchema } from '../../../src/core/image/schema.js';
import * as octavia from '../../../src/core/loadbalancer/schemas.js';
import type { Fields, WsType } from '../../../src/core/loadbalancer/wsme.js';
import type { Attr } from '../../../src/core/network/attributes.js';

export type Shape =
  | { t: 'str'; enum?: readonly unknown[] }
  | { t: 'int' }
  | { t: 'num' }
  | { t: 'bool' }
  | { t: 'null' }
  | { t: 'any' }
  | { t: 'list'; item: Shape }
  | { t: 'obj'; props: ReadonlyArray<readonly [string, Shape]> };

export interface BodyModel {
  /** Where it came from (for reports). */
  source: string;
  /** Words of the paths it belongs to (`network`, `loadbalancer`, `server` …). */
  words: string[];
  shape: Shape;
}

type JsonSchema = Record<string, unknown>;

/** A JSON Schema (the subset the services use) as a shape. */
export function fromSchema(s: JsonSchema | undefined, depth = 0): Shape {
  if (!s || depth > 8) return { t: 'any' };
  if (Array.isArray(s.enum)) return { t: 'str', enum: s.enum };
  for (const k of ['allOf', 'anyOf', 'oneOf']) {
    const alts = s[k];
    if (Array.isArray(alts) && alts.length && !s.type && !s.properties) return fromSchema(alts[0] as JsonSchema, depth + 1);
  }
  const types = Array.isArray(s.type) ? (s.type as string[]) : typeof s.type === 'string' ? [s.type] : [];
  const type = types.find((t) => t !== 'null') ?? (s.properties ? 'object' : s.items ? 'array' : undefined);
  switch (type) {
    case 'object': {
      const props = Object.entries((s.properties ?? {}) as Record<string, JsonSchema>).map(([k, v]) => [k, fromSchema(v, depth + 1)] as const);
      return { t: 'obj', props };
    }
    case 'array':
      return { t: 'list', item: fromSchema(s.items as JsonSchema | undefined, depth + 1) };
    case 'string':
      return { t: 'str' };
    case 'integer':
      return { t: 'int' };
    case 'number':
      return { t: 'num' };
    case 'boolean':
      return { t: 'bool' };
    case 'null':
      return { t: 'null' };
    default:
      return { t: 'any' };
  }
}

function fromWs(t: WsType): Shape {
  switch (t.kind) {
    case 'int':
      return { t: 'int' };
    case 'bool':
      return { t: 'bool' };
    case 'enum':
      return { t: 'str', enum: t.values };
    case 'dict':
      return { t: 'obj', props: [] };
    case 'list':
      return { t: 'list', item: fromWs(t.item) };
    case 'object':
      return fromFields(t.fields);
    default:
      return { t: 'str' };
  }
}

function fromFields(fields: Fields): Shape {
  return { t: 'obj', props: Object.entries(fields).map(([k, f]) => [k, fromWs(f.type)] as const) };
}

/** What a Neutron attribute's default says about its type (the maps declare no JSON types). */
function fromAttr(a: Attr): Shape {
  const d = a.default;
  if (typeof d === 'boolean' || a.codec === 'bool') return { t: 'bool' };
  if (typeof d === 'number' || a.codec === 'int') return { t: 'int' };
  if (Array.isArray(d)) return { t: 'list', item: { t: 'any' } };
  if (d !== null && typeof d === 'object') return { t: 'obj', props: [] };
  if (typeof d === 'string') return { t: 'str' };
  return { t: 'any' };
}

const obj = (props: Array<readonly [string, Shape]>): Shape => ({ t: 'obj', props });

/** Every body model of every service, by service name. */
export function bodyModels(cloud: Cloud): Map<string, BodyModel[]> {
  const out = new Map<string, BodyModel[]>();

  // Neutron: each registered resource's attribute map, as `{"<name>": {…}}` and, in bulk, `{"<collection>": [{…}]}`.
  const network: BodyModel[] = [];
  const svc = cloud.services.network;
  for (const path of svc.collections) {
    const def = svc.resource(path)!.def;
    const inner = obj(Object.entries(def.attrs).map(([k, a]) => [k, fromAttr(a)] as const));
    const words = [def.name, def.collection, path, ...path.split('/')];
    network.push({ source: `neutron ${def.name}`, words, shape: obj([[def.name, inner]]) });
    if (def.bulk) network.push({ source: `neutron ${def.collection} (bulk)`, words, shape: obj([[def.collection, { t: 'list', item: inner }]]) });
    // Router interfaces and extra routes are actions on the router.
    if (def.name === 'router') {
      network.push({
        source: 'neutron router interface',
        words: ['router', 'routers'],
        shape: obj([
          ['subnet_id', { t: 'str' }],
          ['port_id', { t: 'str' }],
        ]),
      });
    }
  }
  network.push({
    source: 'neutron quota',
    words: ['quotas'],
    shape: obj([['quota', obj(svc.collections.map((c) => [c.replace(/s$/, ''), { t: 'int' }] as const))]]),
  });
  network.push({ source: 'neutron tags', words: ['tags'], shape: obj([['tags', { t: 'list', item: { t: 'str' } }]]) });
  out.set('network', network);

  // Octavia: the WSME specs its controllers read, under their root keys.
  const roots: Record<string, string> = { monitor: 'healthmonitor', l7rule: 'rule', azprofile: 'availability_zone_profile', az: 'availability_zone' };
  const lb: BodyModel[] = [];
  for (const [name, value] of Object.entries(octavia)) {
    if (typeof value !== 'object' || value === null) continue;
    const base = name.replace(/(Post|Put)$/, '').toLowerCase();
    const root = roots[base] ?? base;
    const fields = value as Fields;
    lb.push({ source: `octavia ${name}`, words: [root, `${root}s`, base], shape: obj([[root, fromFields(fields)]]) });
    if (name === 'memberPost')
      lb.push({ source: 'octavia member batch', words: ['members'], shape: obj([['members', { t: 'list', item: fromFields(fields) }]]) });
  }
  out.set('load-balancer', lb);

  // Nova: its JSON Schemas, each already a whole body; versioned ones at the oldest and newest microversion.
  const compute: BodyModel[] = [];
  for (const [name, value] of Object.entries(nova)) {
    const schemas: JsonSchema[] = [];
    if (typeof value === 'function' && /Schema$/.test(name) && value.length === 1) {
      for (const v of ['2.1', '2.46']) schemas.push((value as (v: ApiVersion) => JsonSchema)(ApiVersion.parse(v)!));
    } else if (typeof value === 'object' && value !== null && /SCHEMA$/.test(name)) {
      schemas.push(value as JsonSchema);
    }
    for (const s of schemas) {
      const shape = fromSchema(s);
      const words = shape.t === 'obj' ? shape.props.map(([k]) => k) : [];
      compute.push({ source: `nova ${name}`, words: [...words, ...words.map((w) => `${w}s`), name.toLowerCase()], shape });
    }
  }
  // Server actions are `{"<action>": …}`: the action names Nova's router knows (each its own schema or none).
  for (const action of ['os-stop', 'os-start', 'lock', 'unlock', 'forceDelete', 'os-resetState', 'addSecurityGroup', 'removeSecurityGroup', 'addFloatingIp']) {
    compute.push({ source: `nova action ${action}`, words: ['action'], shape: obj([[action, obj([['name', { t: 'str' }]])]]) });
  }
  out.set('compute', compute);

  // Glance: the image schema (a bare object), members, and JSON patches of image properties.
  const props = imageProperties();
  const image: BodyModel[] = [
    { source: 'glance image', words: ['images'], shape: fromSchema({ type: 'object', properties: props }) },
    { source: 'glance member', words: ['members'], shape: fromSchema(memberSchema()) },
    {
      source: 'glance patch',
      words: ['images'],
      shape: {
        t: 'list',
        item: obj([
          ['op', { t: 'str', enum: ['add', 'remove', 'replace', 'move'] }],
          ['path', { t: 'str', enum: Object.keys(props).map((k) => `/${k}`) }],
          ['value', { t: 'any' }],
        ]),
      },
    },
  ];
  out.set('image', image);

  // Keystone: its schemas under the root key each route reads.
  const identity: BodyModel[] = [];
  for (const [name, value] of Object.entries(keystone)) {
    if (typeof value !== 'object' || value === null) continue;
    const root = name === 'tokenIssue' ? 'auth' : name.replace(/(Create|Update|Change)$/, '').replace(/^password$/, 'user');
    identity.push({
      source: `keystone ${name}`,
      words: [root, `${root}s`, name === 'tokenIssue' ? 'tokens' : root],
      shape: obj([[root, fromSchema(value as JsonSchema)]]),
    });
  }
  identity.push({
    source: 'keystone v2.0 token',
    words: ['tokens'],
    shape: obj([
      [
        'auth',
        obj([
          [
            'passwordCredentials',
            obj([
              ['username', { t: 'str' }],
              ['password', { t: 'str' }],
            ]),
          ],
          ['tenantName', { t: 'str' }],
          ['token', obj([['id', { t: 'str' }]])],
        ]),
      ],
    ]),
  });
  out.set('identity', identity);

  // Barbican: no declared bodies here; its routes get the generator's hostile values of every shape.
  out.set('key-manager', []);
  return out;
}

/** The models that belong to a concrete path (by its words), else every model of the service. */
export function modelsFor(models: BodyModel[], path: string): BodyModel[] {
  const words = new Set(path.split(/[/?]/).filter(Boolean));
  const hit = models.filter((m) => m.words.some((w) => words.has(w)));
  return hit.length ? hit : models;
}

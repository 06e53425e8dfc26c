/**
 * What an instance is told about itself, as Nova's metadata API (nova/api/metadata/base.py,
 * Zed) renders it for the metadata service and the config drive: the OpenStack format
 * (`/openstack/<version>/meta_data.json`, `network_data.json`, `user_data`, `vendor_data.json`,
 * `vendor_data2.json`, `password`) and the EC2 format (`/<version>/meta-data/…`, `user-data`).
 * Pure: from a GuestRecord (source.ts reads it from the store) to bytes or a not-found.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ipToString, parseCidr } from '../../../util/ip.js';

/** EC2 metadata versions Nova serves (VERSIONS). */
export const EC2_VERSIONS = ['1.0', '2007-01-19', '2007-03-01', '2007-08-29', '2007-10-10', '2007-12-15', '2008-02-01', '2008-09-01', '2009-04-04'];

const FOLSOM = '2012-08-10';
const GRIZZLY = '2013-04-04';
const HAVANA = '2013-10-17';
const LIBERTY = '2015-10-15';
const NEWTON_ONE = '2016-06-30';
const NEWTON_TWO = '2016-10-06';
const OCATA = '2017-02-22';
const ROCKY = '2018-08-27';
const VICTORIA = '2020-10-14';
/** OpenStack metadata versions of Nova Zed (OPENSTACK_VERSIONS). */
export const OPENSTACK_VERSIONS = [FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, OCATA, ROCKY, VICTORIA];

/** Nova's CONF.api.dhcp_domain default: the hostname the metadata gives is `<hostname>.novalocal`. */
export const DHCP_DOMAIN = 'novalocal';
/** Config drive versions left out by default (CONF.api.config_drive_skip_versions). */
const CONFIG_DRIVE_SKIP = ['1.0', '2007-01-19', '2007-03-01', '2007-08-29', '2007-10-10', '2007-12-15', '2008-02-01', '2008-09-01'];
/** The password's size limit (4 chunks of 255 characters in system_metadata). */
export const PASSWORD_MAX = 4 * 255;

export interface GuestSubnet {
  id: string;
  ipVersion: 4 | 6;
  cidr: string;
  gatewayIp: string | null;
  dnsNameservers: string[];
  hostRoutes: Array<{ destination: string; nexthop: string }>;
  enableDhcp: boolean;
  ipv6AddressMode: string | null;
  /** The network's DHCP port address on this subnet (Nova's dhcp_server), if there is one. */
  dhcpServer: string | null;
}

export interface GuestPort {
  id: string;
  mac: string;
  networkId: string;
  /** The network's MTU. */
  mtu: number;
  /** binding:vif_type (`bridge` on this host). */
  vifType: string;
  fixedIps: Array<{ ipAddress: string; subnetId: string }>;
}

/** A server as its metadata needs it. */
export interface GuestRecord {
  uuid: string;
  name: string;
  hostname: string;
  projectId: string;
  launchIndex: number;
  reservationId: string;
  availabilityZone: string | null;
  /** Nova's integer instance id (the EC2 id is `i-%08x` of it). */
  internalId: number;
  imageId: string;
  flavorName: string;
  /** The flavor has an ephemeral disk (EC2 block-device-mapping lists ephemeral0). */
  ephemeral: boolean;
  keyName: string | null;
  key: { name: string; type: string; publicKey: string } | null;
  meta: Record<string, string>;
  userData: Buffer | null;
  securityGroups: string[];
  password: string | null;
  ports: GuestPort[];
  subnets: Map<string, GuestSubnet>;
  floatingIps: string[];
  /** The address the request came from (EC2 local-ipv4 falls back to it). */
  address: string | null;
}

/** A metadata answer: a body and its content type, or a handler for `password`. */
export type Answer = { body: Buffer; contentType: string } | { password: true } | null;

const TEXT = 'text/plain';
const JSON_TYPE = 'application/json';
const text = (s: string | Buffer): Answer => ({ body: Buffer.isBuffer(s) ? s : Buffer.from(s), contentType: TEXT });
const json = (v: unknown, type = JSON_TYPE): Answer => ({ body: Buffer.from(pyJson(v)), contentType: type });

/** Python's json.dumps spacing (`", "` and `": "`), which Nova's jsonutils keeps; non-ASCII escaped. */
export function pyJson(v: unknown): string {
  const enc = (x: unknown): string => {
    if (x === null || x === undefined) return 'null';
    if (typeof x === 'string') return JSON.stringify(x).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    if (typeof x === 'number' || typeof x === 'boolean') return JSON.stringify(x);
    if (Array.isArray(x)) return `[${x.map(enc).join(', ')}]`;
    return `{${Object.entries(x as Record<string, unknown>)
      .filter(([, val]) => val !== undefined)
      .map(([k, val]) => `${enc(k)}: ${enc(val)}`)
      .join(', ')}}`;
  };
  return enc(v);
}

const ec2Hex = (prefix: string, n: number) => `${prefix}-${(n >>> 0).toString(16).padStart(8, '0')}`;
/** An image's EC2 id: Nova numbers images in its own table; a stable number from the uuid stands in. */
const amiId = (imageId: string) => ec2Hex('ami', createHash('sha1').update(imageId).digest().readUInt32BE(0) & 0x7fffffff);

export const fqdn = (g: GuestRecord) => (DHCP_DOMAIN ? `${g.hostname}.${DHCP_DOMAIN}` : g.hostname);

function netmask(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) return '';
  const bits = c.version === 4 ? 32 : 128;
  return ipToString({ version: c.version, value: ((1n << BigInt(c.prefix)) - 1n) << BigInt(bits - c.prefix) });
}

function network(cidr: string): string {
  const c = parseCidr(cidr);
  if (!c) return cidr;
  return cidr.split('/')[0];
}

// ------------------------------------------------------------------ network_data.json

/** nova.virt.netutils.get_network_metadata, for the server's ports in interface order. */
export function networkData(g: GuestRecord): Record<string, unknown> {
  const links: Record<string, unknown>[] = [];
  const nets: Record<string, unknown>[] = [];
  const services: Array<{ type: string; address: string }> = [];
  let netNum = -1;
  const addServices = (s: GuestSubnet) => {
    for (const d of s.dnsNameservers) if (!services.some((x) => x.address === d)) services.push({ type: 'dns', address: d });
  };
  for (const p of g.ports) {
    const subnets = [...new Set(p.fixedIps.map((f) => f.subnetId))].map((id) => g.subnets.get(id)).filter((s): s is GuestSubnet => !!s);
    if (!subnets.length) continue;
    const v4 = subnets.find((s) => s.ipVersion === 4);
    const v6 = subnets.find((s) => s.ipVersion === 6);
    const dhcp = subnets.some((s) => dhcpServer(s) !== null);
    const link = {
      id: `tap${p.id}`.slice(0, 14),
      vif_id: p.id,
      type: ['bridge', 'ovs', 'tap', 'vhostuser', 'vif', 'dvs', 'hw_veb', 'hyperv'].includes(p.vifType) ? p.vifType : 'phy',
      mtu: dhcp ? null : p.mtu,
      ethernet_mac_address: p.mac,
    };
    links.push(link);
    for (const s of [v4, v6]) {
      if (!s) continue;
      const ip = p.fixedIps.find((f) => f.subnetId === s.id)?.ipAddress;
      if (!ip) continue;
      netNum++;
      nets.push(netEntry(s, ip, netNum, link.id, p.networkId));
      addServices(s);
    }
  }
  return { links, networks: nets, services };
}

/** Nova's dhcp_server meta: the DHCP port's address, or (Zed) the gateway when DHCP is enabled without one. */
function dhcpServer(s: GuestSubnet): string | null {
  if (s.dhcpServer) return s.dhcpServer;
  return s.enableDhcp ? (s.gatewayIp ?? '') : null;
}

function netEntry(s: GuestSubnet, ip: string, n: number, link: string, networkId: string): Record<string, unknown> {
  const v = s.ipVersion;
  let type = '';
  if (s.ipv6AddressMode) type = `_${s.ipv6AddressMode}`;
  else if (dhcpServer(s) !== null) return { id: `network${n}`, type: `ipv${v}_dhcp`, link, network_id: networkId };
  const routes: Array<Record<string, string>> = [];
  if (s.gatewayIp) routes.push({ network: v === 4 ? '0.0.0.0' : '::', netmask: v === 4 ? '0.0.0.0' : '::', gateway: s.gatewayIp });
  for (const r of s.hostRoutes) routes.push({ network: network(r.destination), netmask: netmask(r.destination), gateway: r.nexthop });
  return {
    id: `network${n}`,
    type: `ipv${v}${type}`,
    link,
    ip_address: ip,
    netmask: netmask(s.cidr),
    routes,
    network_id: networkId,
    services: s.dnsNameservers.map((d) => ({ type: 'dns', address: d })),
  };
}

// ------------------------------------------------------------------ meta_data.json

const osVersionAtLeast = (required: string, v: string) => OPENSTACK_VERSIONS.indexOf(v) >= OPENSTACK_VERSIONS.indexOf(required);

/** `_metadata_as_json` for OpenStack version `v`; `extra` holds config-drive-only keys (admin_pass). */
export function metaData(g: GuestRecord, v: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const md: Record<string, unknown> = { uuid: g.uuid };
  if (Object.keys(g.meta).length) md.meta = g.meta;
  Object.assign(md, extra);
  if (g.keyName && g.key) {
    md.public_keys = { [g.key.name]: g.key.publicKey };
    md.keys = [{ name: g.key.name, type: g.key.type, data: g.key.publicKey }];
  }
  md.hostname = fqdn(g);
  md.name = g.name;
  md.launch_index = g.launchIndex;
  md.availability_zone = g.availabilityZone;
  if (osVersionAtLeast(GRIZZLY, v)) md.random_seed = randomBytes(512).toString('base64');
  if (osVersionAtLeast(LIBERTY, v)) md.project_id = g.projectId;
  if (osVersionAtLeast(NEWTON_ONE, v)) md.devices = [];
  if (osVersionAtLeast(VICTORIA, v)) md.dedicated_cpus = [];
  return md;
}

// ------------------------------------------------------------------ EC2

const ec2AtLeast = (required: string, v: string) => EC2_VERSIONS.indexOf(v) >= EC2_VERSIONS.indexOf(required);

type Tree = { [k: string]: Tree | string | string[] | number | null | Buffer };

/** get_ec2_metadata for EC2 version `v` (`latest` is the newest). */
export function ec2Data(g: GuestRecord, v: string): Tree {
  const fixed = g.ports.flatMap((p) => p.fixedIps.map((f) => f.ipAddress)).filter((ip) => !ip.includes(':'));
  const md: Tree = {
    'ami-id': amiId(g.imageId),
    'ami-launch-index': g.launchIndex,
    'ami-manifest-path': 'FIXME',
    'instance-id': ec2Hex('i', g.internalId),
    hostname: fqdn(g),
    'local-ipv4': fixed[0] ?? g.address ?? '',
    'reservation-id': g.reservationId,
    'security-groups': g.securityGroups,
  };
  if (g.keyName && g.key) md['public-keys'] = { '0': { _name: `0=${g.keyName}`, 'openssh-key': g.key.publicKey } };
  if (ec2AtLeast('2007-01-19', v)) {
    md['local-hostname'] = fqdn(g);
    md['public-hostname'] = fqdn(g);
    md['public-ipv4'] = g.floatingIps[0] ?? '';
  }
  if (ec2AtLeast('2007-08-29', v)) md['instance-type'] = g.flavorName;
  if (ec2AtLeast('2007-12-15', v)) md['block-device-mapping'] = { ami: 'vda', root: '/dev/vda', ...(g.ephemeral ? { ephemeral0: '/dev/vdb' } : {}) };
  if (ec2AtLeast('2008-02-01', v)) md.placement = { 'availability-zone': g.availabilityZone };
  if (ec2AtLeast('2008-09-01', v)) md['instance-action'] = 'none';
  const data: Tree = { 'meta-data': md };
  if (g.userData) data['user-data'] = g.userData;
  return data;
}

/** ec2_md_print: a dict as its sorted keys (sub-dicts with a slash, or their `_name`), a list one per line. */
function ec2Print(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.from(data.join('\n'));
  if (data !== null && typeof data === 'object') {
    const d = data as Record<string, unknown>;
    const lines = Object.keys(d)
      .filter((k) => k !== '_name')
      .sort()
      .map((k) => {
        const val = d[k];
        if (val !== null && typeof val === 'object' && !Array.isArray(val) && !Buffer.isBuffer(val)) {
          const name = (val as Record<string, unknown>)._name;
          return typeof name === 'string' ? name : `${k}/`;
        }
        return k;
      });
    return Buffer.from(lines.join('\n'));
  }
  return Buffer.from(data === null || data === undefined ? 'None' : String(data));
}

// ------------------------------------------------------------------ lookup

/** Normalize as posixpath.normpath("/" + path), split into tokens. */
function tokens(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/** The versions the OpenStack listing shows: none dated in the future, then `latest`. */
export function openstackVersions(today = new Date()): string[] {
  const d = today.toISOString().slice(0, 10);
  return [...OPENSTACK_VERSIONS.filter((v) => v <= d), 'latest'];
}

/** InstanceMetadata.lookup plus the handler's `/`: the answer for `path`, or null (404). */
export function lookup(g: GuestRecord, path: string, now = new Date()): Answer {
  let t = tokens(path);
  if (t.length === 0) return text([...EC2_VERSIONS, 'latest'].join('\n'));
  if (t[0] !== 'ec2' && t[0] !== 'openstack') t = ['ec2', ...t];
  if (t.length === 1) return text((t[0] === 'openstack' ? openstackVersions(now) : [...EC2_VERSIONS, 'latest']).join('\n'));
  if (t[0] === 'openstack') return openstackItem(g, t.slice(1));
  const v = t[1] === 'latest' ? EC2_VERSIONS[EC2_VERSIONS.length - 1] : t[1];
  if (!EC2_VERSIONS.includes(v)) return null;
  let node: unknown = ec2Data(g, v);
  for (const k of t.slice(2)) {
    if (node === null || typeof node !== 'object' || Buffer.isBuffer(node) || !Object.hasOwn(node as object, k)) return null;
    node = (node as Record<string, unknown>)[k];
  }
  return text(ec2Print(node));
}

function openstackItem(g: GuestRecord, t: string[]): Answer {
  if (t[0] === 'content') return null;
  const v = t[0] === 'latest' ? OPENSTACK_VERSIONS[OPENSTACK_VERSIONS.length - 1] : t[0];
  if (!OPENSTACK_VERSIONS.includes(v)) return null;
  const name = t.slice(1).join('/');
  switch (name) {
    case '': {
      const list = ['meta_data.json'];
      if (g.userData) list.push('user_data');
      if (osVersionAtLeast(GRIZZLY, v)) list.push('password');
      if (osVersionAtLeast(HAVANA, v)) list.push('vendor_data.json');
      if (osVersionAtLeast(LIBERTY, v)) list.push('network_data.json');
      if (osVersionAtLeast(NEWTON_TWO, v)) list.push('vendor_data2.json');
      return text(list.join('\n'));
    }
    case 'meta_data.json':
      return json(metaData(g, v));
    case 'user_data':
      return g.userData ? text(g.userData) : null;
    case 'password':
      return osVersionAtLeast(GRIZZLY, v) ? { password: true } : null;
    case 'vendor_data.json':
      return osVersionAtLeast(HAVANA, v) ? json({}) : null;
    case 'vendor_data2.json':
      return osVersionAtLeast(NEWTON_TWO, v) ? json({ static: {} }) : null;
    case 'network_data.json':
      // Nova leaves network_data.json's type at text/plain.
      return osVersionAtLeast(LIBERTY, v) ? json(networkData(g), TEXT) : null;
    default:
      return null;
  }
}

/** metadata_for_config_drive: every file of the config drive (`ec2/…`, `openstack/…`). */
export function configDriveFiles(g: GuestRecord, extra: Record<string, unknown> = {}): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (const v of [...EC2_VERSIONS, 'latest']) {
    if (CONFIG_DRIVE_SKIP.includes(v)) continue;
    const data = ec2Data(g, v === 'latest' ? EC2_VERSIONS[EC2_VERSIONS.length - 1] : v);
    if (data['user-data']) files.set(`ec2/${v}/user-data`, data['user-data'] as Buffer);
    const md = data['meta-data'] as Tree;
    const keys = md['public-keys'] as Tree | undefined;
    if (keys) delete (keys['0'] as Tree)._name;
    files.set(`ec2/${v}/meta-data.json`, Buffer.from(pyJson(md)));
  }
  for (const v of [...OPENSTACK_VERSIONS, 'latest']) {
    const real = v === 'latest' ? VICTORIA : v;
    files.set(`openstack/${v}/meta_data.json`, Buffer.from(pyJson(metaData(g, real, extra))));
    if (g.userData) files.set(`openstack/${v}/user_data`, g.userData);
    if (osVersionAtLeast(HAVANA, real)) files.set(`openstack/${v}/vendor_data.json`, Buffer.from(pyJson({})));
    if (osVersionAtLeast(LIBERTY, real)) files.set(`openstack/${v}/network_data.json`, Buffer.from(pyJson(networkData(g))));
    if (osVersionAtLeast(NEWTON_TWO, real)) files.set(`openstack/${v}/vendor_data2.json`, Buffer.from(pyJson({ static: {} })));
  }
  return files;
}

/** Nova's view builders (nova/api/openstack/compute/views) for the microversions served. */
import type { Server } from '../../core/compute/core.js';
import type { Flavor } from '../../core/compute/flavors.js';
import type { Keypair } from '../../core/compute/keypairs.js';
import { type Address, type ServerPort, hostIdOf } from '../../core/compute/network.js';
import type { ServerDisclosure } from '../../core/compute/policy.js';
import { HIDDEN_FROM_2_36, HIDDEN_FROM_2_57 } from '../../core/compute/quotas.js';
import type { ServerSecurityGroup } from '../../core/compute/servers.js';
import type { ApiVersion } from './version.js';

export interface ViewContext {
  /** http://host:8774 as the client reached it. */
  base: string;
  version: ApiVersion;
  /** What the caller may see of a server (decided by core's policy). */
  shows: ServerDisclosure;
}

/** Nova's links: `self` under /v2.1, `bookmark` without the version. */
export function links(v: ViewContext, collection: string, id: string) {
  return [
    { rel: 'self', href: `${v.base}/v2.1/${collection}/${id}` },
    { rel: 'bookmark', href: `${v.base}/${collection}/${id}` },
  ];
}

/** Nova's isotime: "2015-03-30T05:26:04Z". */
export const isotime = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');
/** str() of a naive datetime as the OS-SRV-USG fields show it: "2015-03-30T05:26:04.000000". */
const naive = (iso: string | null) => (iso ? iso.replace(/Z$/, '').replace(/\.(\d{3})$/, '.$1000') : null);

function addressView(addresses: Record<string, Address[]>, extended: boolean) {
  const out: Record<string, unknown[]> = {};
  for (const [label, list] of Object.entries(addresses)) {
    out[label] = list.map((a) =>
      extended ? { version: a.version, addr: a.addr, 'OS-EXT-IPS:type': a.type, 'OS-EXT-IPS-MAC:mac_addr': a.mac } : { version: a.version, addr: a.addr },
    );
  }
  return out;
}

export function serverBasic(v: ViewContext, s: Server) {
  return { id: s.row.id, name: s.row.name, links: links(v, 'servers', s.row.id) };
}

const PROGRESS_STATUSES = ['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE', 'MIGRATING'];

/**
 * Which view of a server: GET one (`show`), a list (`detail`), or the answer to PUT (`update`)
 * and rebuild (`rebuild`), which show everything only from 2.75.
 */
export type ServerViewMode = 'show' | 'detail' | 'update' | 'rebuild';

/** The server as Nova's ViewBuilder.show builds it, for the request's microversion. */
export function serverView(v: ViewContext, s: Server, mode: ServerViewMode = 'show'): Record<string, unknown> {
  const r = s.row;
  const ver = v.version;
  const all = mode === 'show' || mode === 'detail' || ver.gte('2.75');
  const out: Record<string, unknown> = {
    id: r.id,
    name: r.name,
    status: s.status,
    tenant_id: r.project_id,
    user_id: r.user_id,
    metadata: s.metadata,
    hostId: hostIdOf(r.host, r.project_id),
    image: r.image_id ? { id: r.image_id, links: [{ rel: 'bookmark', href: `${v.base}/images/${r.image_id}` }] } : '',
    flavor: ver.gte('2.47')
      ? {
          vcpus: s.flavor.vcpus,
          ram: s.flavor.ram,
          disk: s.flavor.disk,
          ephemeral: s.flavor.ephemeral,
          swap: s.flavor.swap,
          original_name: s.flavor.name,
          extra_specs: s.flavor.extra_specs,
        }
      : { id: s.flavor.id, links: [{ rel: 'bookmark', href: `${v.base}/flavors/${s.flavor.id}` }] },
    created: isotime(r.created_at),
    updated: isotime(r.updated_at),
    addresses: addressView(s.addresses, all),
    accessIPv4: r.access_ipv4 ?? '',
    accessIPv6: r.access_ipv6 ?? '',
    links: links(v, 'servers', r.id),
    'OS-DCF:diskConfig': r.auto_disk_config ? 'AUTO' : 'MANUAL',
  };
  if ((s.status === 'ERROR' || s.status === 'DELETED') && s.fault) {
    const f: Record<string, unknown> = { code: s.fault.code, created: s.fault.created, message: s.fault.message };
    if (s.fault.details && (v.shows.faultDetails || s.fault.code !== 500)) f.details = s.fault.details;
    out.fault = f;
  }
  if (PROGRESS_STATUSES.includes(s.status)) out.progress = r.progress;
  const extended = v.shows.extendedAttributes && all;
  if (all) {
    out['OS-EXT-AZ:availability_zone'] = s.zone;
    out.config_drive = r.config_drive;
  }
  if (all || (mode === 'rebuild' && ver.gte('2.54'))) out.key_name = r.key_name;
  if (all) {
    out['OS-SRV-USG:launched_at'] = naive(r.launched_at);
    out['OS-SRV-USG:terminated_at'] = naive(r.terminated_at);
    if (s.securityGroups) out.security_groups = s.securityGroups;
  }
  if (extended) {
    out['OS-EXT-SRV-ATTR:host'] = r.host;
    out['OS-EXT-SRV-ATTR:instance_name'] = `instance-${r.internal_id.toString(16).padStart(8, '0')}`;
    out['OS-EXT-SRV-ATTR:hypervisor_hostname'] = r.host;
    if (ver.gte('2.3')) {
      out['OS-EXT-SRV-ATTR:reservation_id'] = r.reservation_id;
      out['OS-EXT-SRV-ATTR:launch_index'] = r.launch_index;
      out['OS-EXT-SRV-ATTR:hostname'] = r.hostname;
      out['OS-EXT-SRV-ATTR:kernel_id'] = '';
      out['OS-EXT-SRV-ATTR:ramdisk_id'] = '';
      out['OS-EXT-SRV-ATTR:root_device_name'] = r.host ? '/dev/vda' : null;
      if (mode !== 'rebuild') out['OS-EXT-SRV-ATTR:user_data'] = r.user_data;
    }
  }
  if (all) {
    out['OS-EXT-STS:task_state'] = r.task_state;
    out['OS-EXT-STS:vm_state'] = r.vm_state;
    out['OS-EXT-STS:power_state'] = r.power_state;
    out['os-extended-volumes:volumes_attached'] = [];
  }
  if (ver.gte('2.9')) out.locked = r.locked_by !== null;
  if (all && ver.gte('2.16') && v.shows.hostStatus) out.host_status = s.hostStatus;
  if (ver.gte('2.19')) out.description = r.description;
  if (ver.gte('2.26')) out.tags = s.tags;
  if (ver.gte('2.63')) out.trusted_image_certificates = s.trustedCerts;
  if (mode !== 'detail' && ver.gte('2.71')) out.server_groups = s.serverGroups;
  if (ver.gte('2.73')) out.locked_reason = Object.hasOwn(s.systemMetadata, 'locked_reason') ? s.systemMetadata.locked_reason : null;
  if (ver.gte('2.90') && !extended) out['OS-EXT-SRV-ATTR:hostname'] = r.hostname;
  if (all && ver.gte('2.96')) out.pinned_availability_zone = r.pinned_az;
  return out;
}

/** The 202 body of POST /servers. */
export function serverCreated(v: ViewContext, s: Server, requestedGroups: unknown, adminPass: string) {
  return {
    server: {
      id: s.row.id,
      links: links(v, 'servers', s.row.id),
      'OS-DCF:diskConfig': s.row.auto_disk_config ? 'AUTO' : 'MANUAL',
      security_groups: requestedGroups ?? [{ name: 'default' }],
      adminPass,
    },
  };
}

export function addressesView(s: Server) {
  return addressView(s.addresses, false);
}

/** os-security-groups of a server (the groups' rules are not listed here). */
export function serverSecurityGroupView(g: ServerSecurityGroup) {
  return { id: g.id, name: g.name, description: g.description, tenant_id: g.projectId, rules: [] };
}

export function interfaceView(p: ServerPort, withTag = false) {
  const out: Record<string, unknown> = {
    port_state: p.status,
    fixed_ips: p.fixedIps,
    port_id: p.id,
    net_id: p.networkId,
    mac_addr: p.mac,
  };
  if (withTag) out.tag = p.tag;
  return out;
}

// ---------------------------------------------------------------- flavors

export function flavorBasic(v: ViewContext, f: Flavor) {
  const out: Record<string, unknown> = { id: f.id, name: f.name, links: links(v, 'flavors', f.id) };
  if (v.version.gte('2.55')) out.description = f.description;
  return out;
}

/** A flavor's details; extra specs from 2.61 (every reader may list them). */
export function flavorView(v: ViewContext, f: Flavor) {
  const out: Record<string, unknown> = {
    id: f.id,
    name: f.name,
    ram: f.ram,
    disk: f.disk,
    swap: v.version.gte('2.75') ? f.swap || 0 : f.swap || '',
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral,
    'OS-FLV-DISABLED:disabled': f.disabled,
    vcpus: f.vcpus,
    'os-flavor-access:is_public': f.isPublic,
    rxtx_factor: f.rxtxFactor || '',
    links: links(v, 'flavors', f.id),
  };
  if (v.version.gte('2.55')) out.description = f.description;
  if (v.version.gte('2.61')) out.extra_specs = f.extraSpecs;
  return out;
}

// ---------------------------------------------------------------- key pairs

export function keypairView(v: ViewContext, k: Keypair, kind: 'create' | 'list' | 'show') {
  const out: Record<string, unknown> = { name: k.name, public_key: k.public_key, fingerprint: k.fingerprint };
  if (kind !== 'list') out.user_id = k.user_id;
  if (k.private_key) out.private_key = k.private_key;
  if (v.version.gte('2.2')) out.type = k.type;
  if (kind === 'show') {
    Object.assign(out, {
      created_at: k.created_at.replace('Z', '').replace(/\.(\d{3})$/, '.$1000'),
      deleted: false,
      deleted_at: null,
      updated_at: null,
      id: k.id,
    });
  }
  return out;
}

// ---------------------------------------------------------------- quotas and limits

/** A quota set as os-quota-sets shows it: from 2.36 without the resources Nova stopped counting. */
export function quotaSetView<T>(version: ApiVersion, values: Record<string, T>, id?: string) {
  const out: Record<string, unknown> = id ? { id } : {};
  for (const [k, x] of Object.entries(values)) {
    if (version.gte('2.36') && HIDDEN_FROM_2_36.includes(k)) continue;
    if (version.gte('2.57') && HIDDEN_FROM_2_57.includes(k)) continue;
    out[k] = x;
  }
  return { quota_set: out };
}

/**
 * os-quota-class-sets: before 2.50 without the server group quotas (and with the nova-network
 * ones), from 2.50 without the nova-network ones, from 2.57 without personality's. An update's
 * answer has no id.
 */
export function quotaClassSetView(version: ApiVersion, values: Record<string, number>, id?: string) {
  const out: Record<string, unknown> = id !== undefined ? { id } : {};
  for (const [k, x] of Object.entries(values)) {
    if (!version.gte('2.50') && (k === 'server_groups' || k === 'server_group_members')) continue;
    if (version.gte('2.50') && HIDDEN_FROM_2_36.includes(k)) continue;
    if (version.gte('2.57') && HIDDEN_FROM_2_57.includes(k)) continue;
    out[k] = x;
  }
  return { quota_class_set: out };
}

const LIMIT_NAMES: Array<[string, string[]]> = [
  ['ram', ['maxTotalRAMSize']],
  ['instances', ['maxTotalInstances']],
  ['cores', ['maxTotalCores']],
  ['key_pairs', ['maxTotalKeypairs']],
  ['floating_ips', ['maxTotalFloatingIps']],
  ['metadata_items', ['maxServerMeta', 'maxImageMeta']],
  ['injected_files', ['maxPersonality']],
  ['injected_file_content_bytes', ['maxPersonalitySize']],
  ['security_groups', ['maxSecurityGroups']],
  ['security_group_rules', ['maxSecurityGroupRules']],
  ['server_groups', ['maxServerGroups']],
  ['server_group_members', ['maxServerGroupMembers']],
];
const USED_NAMES: Array<[string, string]> = [
  ['totalRAMUsed', 'ram'],
  ['totalCoresUsed', 'cores'],
  ['totalInstancesUsed', 'instances'],
  ['totalFloatingIpsUsed', 'floating_ips'],
  ['totalSecurityGroupsUsed', 'security_groups'],
  ['totalServerGroupsUsed', 'server_groups'],
];

/** GET /limits (nova/api/openstack/compute/views/limits.py): 2.36 drops the network limits, 2.39 maxImageMeta, 2.57 personality's. */
export function limitsView(version: ApiVersion, limits: Record<string, number>, usage: Record<string, { in_use: number }>) {
  const filtered = version.gte('2.57')
    ? ['floating_ips', 'security_groups', 'security_group_rules', 'injected_files', 'injected_file_content_bytes']
    : version.gte('2.36')
      ? ['floating_ips', 'security_groups', 'security_group_rules']
      : [];
  const absolute: Record<string, number> = {};
  for (const [name, shown] of LIMIT_NAMES) {
    if (!Object.hasOwn(limits, name) || filtered.includes(name)) continue;
    for (const n of shown) if (n !== 'maxImageMeta' || !version.gte('2.39')) absolute[n] = limits[name];
  }
  for (const [shown, name] of USED_NAMES) if (!filtered.includes(name)) absolute[shown] = usage[name]?.in_use ?? 0;
  return { limits: { rate: [], absolute } };
}

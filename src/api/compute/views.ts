/** Nova's view builders (nova/api/openstack/compute/views) for the microversions served. */
import type { Server } from '../../core/compute/core.js';
import type { Flavor } from '../../core/compute/flavors.js';
import type { Hypervisor } from '../../core/compute/hypervisors.js';
import type { Keypair } from '../../core/compute/keypairs.js';
import { type Address, type ServerPort, hostIdOf } from '../../core/compute/network.js';
import type { ServerDisclosure } from '../../core/compute/policy.js';
import { HIDDEN_FROM_2_36 } from '../../core/compute/quotas.js';
import type { ServerSecurityGroup } from '../../core/compute/servers.js';
import type { ZoneDetail } from '../../core/compute/zones.js';
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
 * The server as GET /servers/{id} and /servers/detail show it. `reduced` is the PUT response
 * before 2.75 (no extended attributes, addresses without OS-EXT-IPS).
 */
export function serverView(v: ViewContext, s: Server, opts: { reduced?: boolean } = {}): Record<string, unknown> {
  const r = s.row;
  const full = !opts.reduced;
  const out: Record<string, unknown> = {
    id: r.id,
    name: r.name,
    status: s.status,
    tenant_id: r.project_id,
    user_id: r.user_id,
    metadata: s.metadata,
    hostId: hostIdOf(r.host, r.project_id),
    image: r.image_id ? { id: r.image_id, links: [{ rel: 'bookmark', href: `${v.base}/images/${r.image_id}` }] } : '',
    flavor: { id: s.flavor.id, links: [{ rel: 'bookmark', href: `${v.base}/flavors/${s.flavor.id}` }] },
    created: isotime(r.created_at),
    updated: isotime(r.updated_at),
    addresses: addressView(s.addresses, full),
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
  if (full) {
    out['OS-EXT-AZ:availability_zone'] = r.availability_zone ?? '';
    out.config_drive = r.config_drive;
    out.key_name = r.key_name;
    out['OS-SRV-USG:launched_at'] = naive(r.launched_at);
    out['OS-SRV-USG:terminated_at'] = naive(r.terminated_at);
    if (s.securityGroups) out.security_groups = s.securityGroups;
    if (v.shows.extendedAttributes) {
      out['OS-EXT-SRV-ATTR:host'] = r.host;
      out['OS-EXT-SRV-ATTR:instance_name'] = `instance-${r.internal_id.toString(16).padStart(8, '0')}`;
      out['OS-EXT-SRV-ATTR:hypervisor_hostname'] = r.host;
      if (v.version.gte('2.3')) {
        out['OS-EXT-SRV-ATTR:reservation_id'] = r.reservation_id;
        out['OS-EXT-SRV-ATTR:launch_index'] = r.launch_index;
        out['OS-EXT-SRV-ATTR:hostname'] = r.hostname;
        out['OS-EXT-SRV-ATTR:kernel_id'] = '';
        out['OS-EXT-SRV-ATTR:ramdisk_id'] = '';
        out['OS-EXT-SRV-ATTR:root_device_name'] = r.host ? '/dev/vda' : null;
        out['OS-EXT-SRV-ATTR:user_data'] = r.user_data;
      }
    }
    out['OS-EXT-STS:task_state'] = r.task_state;
    out['OS-EXT-STS:vm_state'] = r.vm_state;
    out['OS-EXT-STS:power_state'] = r.power_state;
    out['os-extended-volumes:volumes_attached'] = [];
    if (v.version.gte('2.16') && v.shows.hostStatus) out.host_status = r.host ? 'UP' : '';
  }
  if (v.version.gte('2.9')) out.locked = r.locked_by !== null;
  if (v.version.gte('2.19')) out.description = r.description;
  if (v.version.gte('2.26')) out.tags = s.tags;
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
  return { id: f.id, name: f.name, links: links(v, 'flavors', f.id) };
}

export function flavorView(v: ViewContext, f: Flavor) {
  return {
    id: f.id,
    name: f.name,
    ram: f.ram,
    disk: f.disk,
    swap: f.swap || '',
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral,
    'OS-FLV-DISABLED:disabled': f.disabled,
    vcpus: f.vcpus,
    'os-flavor-access:is_public': f.isPublic,
    rxtx_factor: f.rxtxFactor || '',
    links: links(v, 'flavors', f.id),
  };
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
  for (const [k, x] of Object.entries(values)) if (version.gte('2.36') ? !HIDDEN_FROM_2_36.includes(k) : true) out[k] = x;
  return { quota_set: out };
}

/** GET /limits: the absolute limits and what the project uses (no rate limits). */
export function limitsView(limits: Record<string, number>, usage: Record<string, { in_use: number }>) {
  return {
    limits: {
      rate: [],
      absolute: {
        maxServerMeta: limits.metadata_items,
        maxPersonality: limits.injected_files,
        maxPersonalitySize: limits.injected_file_content_bytes,
        maxImageMeta: limits.metadata_items,
        maxTotalKeypairs: limits.key_pairs,
        maxSecurityGroupRules: limits.security_group_rules,
        maxSecurityGroups: limits.security_groups,
        maxServerGroups: limits.server_groups,
        maxServerGroupMembers: limits.server_group_members,
        maxTotalCores: limits.cores,
        maxTotalFloatingIps: limits.floating_ips,
        maxTotalInstances: limits.instances,
        maxTotalRAMSize: limits.ram,
        totalCoresUsed: usage.cores.in_use,
        totalRAMUsed: usage.ram.in_use,
        totalInstancesUsed: usage.instances.in_use,
        totalFloatingIpsUsed: 0,
        totalSecurityGroupsUsed: 0,
        totalServerGroupsUsed: 0,
      },
    },
  };
}

// ---------------------------------------------------------------- availability zones and hypervisors

/** os-availability-zone/detail: each host's services, up and enabled as of now. */
export function zonesDetailView(zones: ZoneDetail[]) {
  const updated = naive(new Date().toISOString());
  const svc = { available: true, active: true, updated_at: updated };
  return {
    availabilityZoneInfo: zones.map((z) => ({
      zoneName: z.name,
      zoneState: { available: true },
      hosts: Object.fromEntries(z.hosts.map((h) => [h.host, Object.fromEntries(h.services.map((name) => [name, svc]))])),
    })),
  };
}

export function hypervisorView(h: Hypervisor, detail: boolean) {
  const base = { id: h.id, hypervisor_hostname: h.hostname, state: 'up', status: 'enabled' };
  if (!detail) return base;
  return {
    ...base,
    vcpus: h.vcpus,
    memory_mb: h.memoryMb,
    local_gb: 0,
    vcpus_used: h.vcpusUsed,
    memory_mb_used: h.memoryMbUsed,
    local_gb_used: h.localGbUsed,
    hypervisor_type: 'PocketStack',
    hypervisor_version: 1,
    free_ram_mb: h.memoryMb - h.memoryMbUsed,
    free_disk_gb: -h.localGbUsed,
    current_workload: 0,
    running_vms: h.runningVms,
    disk_available_least: 0,
    host_ip: '127.0.0.1',
    service: { host: h.hostname, id: 1, disabled_reason: null },
    cpu_info: '{}',
  };
}

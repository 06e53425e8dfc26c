/**
 * The compute APIs that proxy to other services (below 2.36; 2.39 for image metadata; 2.44 for the
 * floating IP and fixed IP server actions), over the image and network services in-process with
 * the caller's rights, shaped as Nova's neutron and glance adapters shape them
 * (nova/network/security_group_api.py, nova/api/openstack/compute/{images,image_metadata,networks,
 * tenant_networks,security_groups,floating_ips,floating_ip_pools}.py).
 */
import { systemContext, type RequestContext } from '../context.js';
import { DomainError } from '../errors.js';
import type { Image, ImageChange } from '../image/service.js';
import { parseIp } from '../../util/ip.js';
import type { ComputeCore } from './core.js';
import { novaBadRequest, novaConflict, novaForbidden, novaNotFound, novaNotImplemented } from './errors.js';
import { adminOnly } from './policy.js';
import { computeQuotaLimits } from './quotas.js';

export interface ImageFilters {
  name?: string;
  status?: string;
  changesSince?: string;
  server?: string;
  type?: string;
  minRam?: number;
  minDisk?: number;
  /** property-<name> filters. */
  properties: Array<[string, string]>;
  limit?: number;
  marker?: string;
}

/** A rule as the compute API shows it (nova's security group rule format). */
export interface ComputeRule {
  id: string;
  parent_group_id: string;
  ip_protocol: string | null;
  from_port: number | null;
  to_port: number | null;
  group: { name?: string; tenant_id?: string };
  ip_range: { cidr?: string };
}

export interface ComputeSecurityGroup {
  id: string;
  name: string;
  description: string;
  tenant_id: string;
  rules: ComputeRule[];
}

export interface ComputeFloatingIp {
  id: string;
  ip: string;
  fixed_ip: string | null;
  instance_id: string | null;
  pool: string;
}

export interface RuleCreate {
  parentGroupId: string;
  groupId?: string | null;
  ipProtocol?: string | null;
  fromPort?: string | number | null;
  toPort?: string | number | null;
  cidr?: string | null;
}

type Row = Record<string, unknown>;
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
const isUuid = (v: string) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v);

/** parse_cidr: empty is 0.0.0.0/0; anything else must be a valid CIDR. */
function parseCidr(cidr: string | null | undefined): string {
  if (!cidr) return '0.0.0.0/0';
  let c = cidr;
  try {
    c = decodeURIComponent(cidr);
  } catch {
    throw novaBadRequest(`Invalid cidr ${cidr}.`);
  }
  const [addr, len, ...rest] = c.split('/');
  const ip = parseIp(addr);
  const max = ip?.version === 6 ? 128 : 32;
  if (!ip || rest.length || len === undefined || !/^\d+$/.test(len) || Number(len) > max) throw novaBadRequest(`Invalid cidr ${cidr}.`);
  return c;
}

export class ComputeProxies {
  constructor(private readonly core: ComputeCore) {}

  private get network() {
    return this.core.network;
  }

  // ------------------------------------------------------------ images (/images, ≤ 2.35)

  private async image(ctx: RequestContext, id: string): Promise<Image> {
    try {
      return await this.core.images.show(ctx, id);
    } catch (e) {
      if (e instanceof DomainError && e.status === 404) throw novaNotFound('Image not found.');
      throw e;
    }
  }

  /** glance.API.get_all with Nova's filters; Nova pages the result itself. */
  async listImages(ctx: RequestContext, f: ImageFilters): Promise<Image[]> {
    const params: Array<[string, string]> = [['limit', '1000']];
    if (f.name !== undefined) params.push(['name', f.name]);
    if (f.status !== undefined) params.push(['status', f.status.toLowerCase()]);
    if (f.server !== undefined) params.push(['instance_uuid', f.server.split('/').pop()!]);
    if (f.type !== undefined) params.push(['image_type', f.type]);
    for (const [k, v] of f.properties) params.push([k, v]);
    let images = (await this.core.images.list(ctx, { params })).images;
    if (f.minRam !== undefined) images = images.filter((i) => i.min_ram >= f.minRam!);
    if (f.minDisk !== undefined) images = images.filter((i) => i.min_disk >= f.minDisk!);
    if (f.changesSince !== undefined) images = images.filter((i) => i.updated_at >= f.changesSince!);
    if (f.marker !== undefined) {
      const at = images.findIndex((i) => i.id === f.marker);
      if (at < 0) throw novaBadRequest(`marker [${f.marker}] not found`);
      images = images.slice(at + 1);
    }
    if (f.limit !== undefined) images = images.slice(0, f.limit);
    return images;
  }

  async showImage(ctx: RequestContext, id: string): Promise<Image> {
    return this.image(ctx, id);
  }

  async deleteImage(ctx: RequestContext, id: string): Promise<void> {
    try {
      await this.core.images.delete(ctx, id);
    } catch (e) {
      if (e instanceof DomainError && e.status === 404) throw novaNotFound('Image not found.');
      if (e instanceof DomainError && e.status === 403) throw novaForbidden('You are not allowed to delete the image.');
      throw e;
    }
  }

  /** Image metadata (≤ 2.38): the image's properties, replaced as a whole (purge_props). */
  async imageMetadata(ctx: RequestContext, id: string): Promise<Record<string, string>> {
    return (await this.image(ctx, id)).properties;
  }

  async setImageMetadata(ctx: RequestContext, id: string, metadata: Record<string, string>, mode: 'merge' | 'replace'): Promise<Record<string, string>> {
    const image = await this.image(ctx, id);
    const next = mode === 'merge' ? { ...image.properties, ...metadata } : { ...metadata };
    const limits = await computeQuotaLimits(this.core.store.db, ctx.projectId ?? '');
    if (limits.metadata_items >= 0 && Object.keys(next).length > limits.metadata_items) throw novaForbidden('Image metadata limit exceeded');
    const changes: ImageChange[] = [];
    for (const k of Object.keys(image.properties)) if (!Object.hasOwn(next, k)) changes.push({ op: 'remove', path: [k], draft: 10 });
    for (const [k, v] of Object.entries(next)) changes.push({ op: 'add', path: [k], value: v, draft: 10 });
    try {
      const updated = await this.core.images.update(ctx, id, changes);
      return updated.properties;
    } catch (e) {
      if (e instanceof DomainError && e.status === 403) throw novaForbidden(`Not authorized for image ${id}.`);
      throw e;
    }
  }

  async deleteImageMetadata(ctx: RequestContext, id: string, key: string): Promise<void> {
    const image = await this.image(ctx, id);
    if (!Object.hasOwn(image.properties, key)) throw novaNotFound('Invalid metadata key');
    const rest = { ...image.properties };
    delete rest[key];
    await this.setImageMetadata(ctx, id, rest, 'replace');
  }

  // ------------------------------------------------------------ networks

  /** The networks the caller sees in Neutron (network_api.get_all). */
  async networks(ctx: RequestContext): Promise<Row[]> {
    return (await this.network.list(ctx, 'networks', new Map())).items;
  }

  async network1(ctx: RequestContext, id: string): Promise<Row> {
    try {
      return await this.network.show(ctx, 'networks', id);
    } catch (e) {
      if (e instanceof DomainError && e.status === 404) throw novaNotFound('Network not found');
      throw e;
    }
  }

  // ------------------------------------------------------------ security groups

  private rule(r: Row, groups: Map<string, Row>): ComputeRule {
    let from = r.port_range_min as number | null;
    let to = r.port_range_max as number | null;
    const protocol = str(r.protocol);
    if (protocol && from === null && to === null) {
      [from, to] = ['TCP', 'UDP'].includes(protocol.toUpperCase()) ? [1, 65535] : [-1, -1];
    }
    const remote = str(r.remote_group_id);
    const source = remote ? groups.get(remote) : undefined;
    return {
      id: String(r.id),
      parent_group_id: String(r.security_group_id),
      ip_protocol: protocol,
      from_port: from,
      to_port: to,
      group: remote ? { name: str(source?.name) ?? undefined, tenant_id: str(source?.tenant_id) ?? undefined } : {},
      ip_range: remote ? {} : { cidr: parseCidr(str(r.remote_ip_prefix)) },
    };
  }

  private async format(ctx: RequestContext, groups: Row[]): Promise<ComputeSecurityGroup[]> {
    const known = new Map(groups.map((g) => [String(g.id), g]));
    const missing = new Set<string>();
    for (const g of groups) {
      for (const r of (g.security_group_rules as Row[]) ?? []) {
        const remote = str(r.remote_group_id);
        if (remote && !known.has(remote)) missing.add(remote);
      }
    }
    for (const id of missing) {
      try {
        known.set(id, await this.network.show(ctx, 'security-groups', id));
      } catch {
        // a rule naming a group the caller cannot see is left out (SG_NOT_FOUND)
      }
    }
    return groups.map((g) => ({
      id: String(g.id),
      name: String(g.name),
      description: String(g.description ?? ''),
      tenant_id: String(g.tenant_id),
      rules: ((g.security_group_rules as Row[]) ?? [])
        .filter((r) => r.direction === 'ingress' && (!r.remote_group_id || known.has(String(r.remote_group_id))))
        .map((r) => this.rule(r, known)),
    }));
  }

  private async group(ctx: RequestContext, id: string): Promise<Row> {
    if (!isUuid(id)) throw novaBadRequest('Security group id should be uuid');
    try {
      return await this.network.show(ctx, 'security-groups', id);
    } catch (e) {
      if (e instanceof DomainError && e.status === 404) throw novaNotFound(e.message);
      throw e;
    }
  }

  async listGroups(ctx: RequestContext, o: { allTenants: boolean; limit?: number; offset?: number }): Promise<ComputeSecurityGroup[]> {
    const q = new Map<string, string[]>();
    if (!(ctx.isAdmin && o.allTenants)) q.set('tenant_id', [ctx.projectId ?? '']);
    const items = (await this.network.list(ctx, 'security-groups', q)).items;
    const offset = o.offset ?? 0;
    const limited = items.slice(offset, offset + Math.min(o.limit ?? 1000, 1000));
    return (await this.format(ctx, limited)).sort((a, b) => (a.tenant_id + a.name < b.tenant_id + b.name ? -1 : 1));
  }

  async showGroup(ctx: RequestContext, id: string): Promise<ComputeSecurityGroup> {
    return (await this.format(ctx, [await this.group(ctx, id)]))[0];
  }

  async createGroup(ctx: RequestContext, name: string, description: string): Promise<ComputeSecurityGroup> {
    try {
      const { items } = await this.network.create(ctx, 'security-groups', { security_group: { name, description } });
      return (await this.format(ctx, items))[0];
    } catch (e) {
      if (e instanceof DomainError && e.status === 400) throw novaBadRequest(e.message);
      if (e instanceof DomainError && e.status === 409) throw novaForbidden(e.message);
      throw e;
    }
  }

  async updateGroup(ctx: RequestContext, id: string, name: string, description: string): Promise<ComputeSecurityGroup> {
    await this.group(ctx, id);
    try {
      const g = await this.network.update(ctx, 'security-groups', id, { security_group: { name, description } });
      return (await this.format(ctx, [g]))[0];
    } catch (e) {
      if (e instanceof DomainError && (e.status === 400 || e.status === 409)) throw novaBadRequest(e.message);
      if (e instanceof DomainError && e.status === 404) throw novaNotFound(e.message);
      throw e;
    }
  }

  async deleteGroup(ctx: RequestContext, id: string): Promise<void> {
    await this.group(ctx, id);
    try {
      await this.network.delete(ctx, 'security-groups', id);
    } catch (e) {
      if (e instanceof DomainError && e.status === 404) throw novaNotFound(e.message);
      if (e instanceof DomainError && e.status === 409) throw novaBadRequest(e.message);
      throw e;
    }
  }

  /** os-security-group-rules create: Nova's validation, then Neutron's ingress rule. */
  async createRule(ctx: RequestContext, r: RuleCreate): Promise<ComputeRule> {
    let parent: Row;
    let source: Row | undefined;
    try {
      parent = await this.network.show(ctx, 'security-groups', r.parentGroupId);
      if (r.groupId !== undefined && r.groupId !== null) source = await this.network.show(ctx, 'security-groups', r.groupId);
    } catch (e) {
      if (e instanceof DomainError && e.status === 404) throw novaNotFound(e.message);
      throw e;
    }
    // _new_ingress_rule
    const values: { group_id?: string; cidr?: string; protocol?: string; from_port?: number; to_port?: number } = {};
    let from = r.fromPort ?? null;
    let to = r.toPort ?? null;
    const proto = r.ipProtocol ?? null;
    if (r.groupId) {
      values.group_id = r.groupId;
      const up = proto ? proto.toUpperCase() : '';
      if (up === 'ICMP' && from === null && to === null) [from, to] = [-1, -1];
      else if ((up === 'TCP' || up === 'UDP') && from === null && to === null) [from, to] = [1, 65535];
    } else {
      values.cidr = parseCidr(r.cidr);
    }
    if (proto && from !== null && to !== null) {
      const f = Number(from);
      const t = Number(to);
      const up = proto.toUpperCase();
      if (!Number.isInteger(f) || !Number.isInteger(t) || String(from).trim() === '' || String(to).trim() === '') {
        throw novaBadRequest(
          `Invalid input received: ${up === 'ICMP' ? 'Type and Code must be integers for ICMP protocol type' : 'To and From ports must be integers'}`,
        );
      }
      if (!['TCP', 'UDP', 'ICMP'].includes(up)) throw novaBadRequest(`Invalid IP protocol ${proto}.`);
      const range = (msg: string) => novaBadRequest(`Invalid port range ${f}:${t}. ${msg}`);
      if ((up === 'TCP' || up === 'UDP') && f > t) throw range('Former value cannot be greater than the later');
      if ((up === 'TCP' || up === 'UDP') && (f < 1 || t > 65535)) throw range(`Valid ${up} ports should be between 1-65535`);
      if (up === 'ICMP' && (f < -1 || f > 255 || t < -1 || t > 255)) throw range('For ICMP, the type:code must be valid');
      Object.assign(values, { protocol: proto, from_port: f, to_port: t });
    } else if (!r.groupId) {
      throw novaBadRequest('Not enough parameters to build a valid rule.');
    }
    if (values.cidr) {
      const [net, len] = values.cidr.split('/');
      if (net !== '0.0.0.0' && net !== '::' && len === '0') throw novaBadRequest(`Bad prefix for network in cidr ${values.cidr}`);
    }
    // _rule_exists against the group's ingress rules in Nova's format.
    const [formatted] = await this.format(ctx, [parent]);
    const wanted = {
      group_id: values.group_id ?? null,
      cidr: values.cidr ?? null,
      from_port: values.from_port ?? null,
      to_port: values.to_port ?? null,
      protocol: values.protocol ?? null,
    };
    for (const rule of (parent.security_group_rules as Row[]) ?? []) {
      if (rule.direction !== 'ingress') continue;
      const fr = formatted.rules.find((x) => x.id === rule.id);
      if (!fr) continue;
      const have = {
        group_id: str(rule.remote_group_id),
        cidr: rule.remote_group_id ? null : (fr.ip_range.cidr ?? null),
        from_port: fr.from_port,
        to_port: fr.to_port,
        protocol: fr.ip_protocol,
      };
      if (JSON.stringify(have) === JSON.stringify(wanted)) throw novaBadRequest(`This rule already exists in group ${r.parentGroupId}`);
    }
    const ethertype = values.cidr && parseIp(values.cidr.split('/')[0])?.version === 6 ? 'IPv6' : 'IPv4';
    const body: Row = {
      direction: 'ingress',
      protocol: values.protocol ?? null,
      ethertype,
      remote_ip_prefix: values.cidr ?? null,
      security_group_id: r.parentGroupId,
      remote_group_id: values.group_id ?? null,
    };
    if (values.from_port !== undefined && values.from_port !== -1) body.port_range_min = values.from_port;
    if (values.to_port !== undefined && values.to_port !== -1) body.port_range_max = values.to_port;
    try {
      const { items } = await this.network.create(ctx, 'security-group-rules', { security_group_rule: body });
      const groups = new Map<string, Row>([[String(parent.id), parent]]);
      if (source) groups.set(String(source.id), source);
      return this.rule(items[0], groups);
    } catch (e) {
      if (e instanceof DomainError && e.status === 404) throw novaNotFound(e.message);
      if (e instanceof DomainError && e.status === 409) throw novaForbidden(e.message);
      if (e instanceof DomainError && e.status === 400) throw novaBadRequest(e.message);
      throw e;
    }
  }

  async deleteRule(ctx: RequestContext, id: string): Promise<void> {
    if (!isUuid(id)) throw novaBadRequest('Security group id should be uuid');
    try {
      await this.network.show(ctx, 'security-group-rules', id);
      await this.network.delete(ctx, 'security-group-rules', id);
    } catch (e) {
      if (e instanceof DomainError && e.status === 404) throw novaNotFound(e.message);
      if (e instanceof DomainError && e.status === 409) throw novaConflict(e.message);
      throw e;
    }
  }

  // ------------------------------------------------------------ floating IPs

  private async fipView(ctx: RequestContext, f: Row): Promise<ComputeFloatingIp> {
    const net = await this.network.show(systemContext(ctx.requestId), 'networks', String(f.floating_network_id)).catch(() => null);
    const details = f.port_details as Row | null | undefined;
    let instance: string | null = null;
    if (f.port_id) {
      const port = details ?? (await this.network.show(systemContext(ctx.requestId), 'ports', String(f.port_id)).catch(() => null));
      instance = str(port?.device_id) || null;
    }
    return {
      id: String(f.id),
      ip: String(f.floating_ip_address),
      fixed_ip: str(f.fixed_ip_address),
      instance_id: instance,
      pool: str(net?.name) || String(f.floating_network_id),
    };
  }

  async listFloatingIps(ctx: RequestContext): Promise<ComputeFloatingIp[]> {
    const q = new Map<string, string[]>([['tenant_id', [ctx.projectId ?? '']]]);
    const items = (await this.network.list(ctx, 'floatingips', q)).items;
    return Promise.all(items.map((f) => this.fipView(ctx, f)));
  }

  async showFloatingIp(ctx: RequestContext, id: string): Promise<ComputeFloatingIp> {
    try {
      return await this.fipView(ctx, await this.network.show(ctx, 'floatingips', id));
    } catch (e) {
      if (e instanceof DomainError && (e.status === 404 || e.status === 400)) throw novaNotFound(`Floating IP not found for ID ${id}`);
      throw e;
    }
  }

  /** allocate_floating_ip from a pool (an external network, by name or id; the only one when none is named). */
  async allocateFloatingIp(ctx: RequestContext, pool: string | null): Promise<ComputeFloatingIp> {
    const externals = (await this.network.list(ctx, 'networks', new Map([['router:external', ['true']]]))).items;
    let net: Row | undefined;
    if (pool) {
      net = externals.find((n) => n.name === pool) ?? externals.find((n) => n.id === pool);
      if (!net) throw novaNotFound(`Floating IP pool not found.`);
    } else {
      if (externals.length !== 1) {
        if (!externals.length) throw novaNotFound('Floating IP pool not found.');
        throw novaBadRequest("Multiple floating IP pools matches found for name 'None'");
      }
      net = externals[0];
    }
    try {
      const { items } = await this.network.create(ctx, 'floatingips', { floatingip: { floating_network_id: net.id, tenant_id: ctx.projectId } });
      return this.fipView(ctx, items[0]);
    } catch (e) {
      if (e instanceof DomainError && e.type === 'OverQuota')
        throw novaForbidden(pool ? `IP allocation over quota in pool ${pool}.` : 'IP allocation over quota.');
      if (e instanceof DomainError && e.type === 'IpAddressGenerationFailure') {
        throw novaNotFound(pool ? `No more floating IPs in pool ${pool}.` : 'No more floating IPs available.');
      }
      throw e;
    }
  }

  async releaseFloatingIp(ctx: RequestContext, id: string): Promise<void> {
    await this.showFloatingIp(ctx, id);
    try {
      await this.network.delete(ctx, 'floatingips', id);
    } catch (e) {
      if (e instanceof DomainError && e.status === 403) throw novaForbidden('Access was denied to this resource.');
      throw e;
    }
  }

  /** Floating IP pools: the external networks (name, or id when unnamed). */
  async floatingIpPools(ctx: RequestContext): Promise<string[]> {
    const externals = (await this.network.list(ctx, 'networks', new Map([['router:external', ['true']]]))).items;
    return externals.map((n) => str(n.name) || String(n.id));
  }

  private async fipByAddress(ctx: RequestContext, address: string): Promise<Row> {
    const items = (await this.network.list(ctx, 'floatingips', new Map([['floating_ip_address', [address]]]))).items;
    if (!items.length) throw novaNotFound('floating IP not found');
    if (items.length > 1) throw novaConflict(`Multiple floating IPs are found for address ${address}.`);
    return items[0];
  }

  /** addFloatingIp (< 2.44): the floating IP onto the server's port holding `fixed` (its first IPv4 when none is named). */
  async addFloatingIp(ctx: RequestContext, serverId: string, address: string, fixed?: string): Promise<void> {
    const s = await this.core.get(ctx, serverId);
    const fixedIps = s.ports.flatMap((p) => p.fixedIps.map((f) => ({ port: p.id, ip: f.ip_address })));
    if (!s.ports.length) throw novaBadRequest('Instance network is not ready yet');
    if (!fixedIps.length) throw novaBadRequest('No fixed IPs associated to instance');
    let target = fixed ? fixedIps.find((f) => f.ip === fixed) : fixedIps.find((f) => parseIp(f.ip)?.version === 4);
    if (fixed && !target) throw novaBadRequest('Specified fixed address not assigned to instance');
    if (!target) {
      throw novaBadRequest(
        `Unable to associate floating IP ${address} to any fixed IPs for instance ${serverId}. Instance has no fixed IPv4 addresses to associate.`,
      );
    }
    target = target!;
    const fip = await this.fipByAddress(ctx, address);
    try {
      await this.network.update(ctx, 'floatingips', String(fip.id), { floatingip: { port_id: target.port, fixed_ip_address: target.ip } });
    } catch (e) {
      if (e instanceof DomainError && e.status === 403) throw novaForbidden(e.message);
      if (e instanceof DomainError) {
        throw novaBadRequest(`Unable to associate floating IP ${address} to fixed IP ${target.ip} for instance ${serverId}. Error: ${e.message}`);
      }
      throw e;
    }
  }

  /** removeFloatingIp (< 2.44): only from the server it is associated with (409 otherwise). */
  async removeFloatingIp(ctx: RequestContext, serverId: string, address: string): Promise<void> {
    const fip = await this.fipByAddress(ctx, address);
    let device: string | null = null;
    if (fip.port_id) device = str((await this.network.show(systemContext(ctx.requestId), 'ports', String(fip.port_id)).catch(() => null))?.device_id);
    if (!fip.port_id || device !== serverId) throw novaConflict(`Floating IP ${address} is not associated with instance ${serverId}.`);
    await this.core.row(ctx, serverId);
    await this.network.update(ctx, 'floatingips', String(fip.id), { floatingip: { port_id: null } });
  }

  /** addFixedIp (< 2.44): another address from the network on the server's port there. */
  async addFixedIp(ctx: RequestContext, serverId: string, networkId: string): Promise<void> {
    const s = await this.core.get(ctx, serverId);
    this.core.checkLocked(ctx, s.row);
    const port = s.ports.find((p) => p.networkId === networkId);
    if (!port) throw novaBadRequest(`Network ${networkId} could not be found.`);
    const subnet = port.fixedIps[0]?.subnet_id;
    const fixed = [...port.fixedIps.map((f) => ({ subnet_id: f.subnet_id, ip_address: f.ip_address })), ...(subnet ? [{ subnet_id: subnet }] : [])];
    try {
      await this.network.update(systemContext(ctx.requestId), 'ports', port.id, { port: { fixed_ips: fixed } });
    } catch (e) {
      if (e instanceof DomainError) throw novaBadRequest(`Zero fixed IPs could be found.`);
      throw e;
    }
  }

  /** removeFixedIp (< 2.44). */
  async removeFixedIp(ctx: RequestContext, serverId: string, address: string): Promise<void> {
    const s = await this.core.get(ctx, serverId);
    this.core.checkLocked(ctx, s.row);
    const port = s.ports.find((p) => p.fixedIps.some((f) => f.ip_address === address));
    if (!port) throw novaBadRequest(`Unable to find address ${address}`);
    await this.network.update(systemContext(ctx.requestId), 'ports', port.id, {
      port: { fixed_ips: port.fixedIps.filter((f) => f.ip_address !== address).map((f) => ({ subnet_id: f.subnet_id, ip_address: f.ip_address })) },
    });
  }

  // ------------------------------------------------------------ os-baremetal-nodes (≤ 2.35)

  /**
   * Listing or showing nodes proxies to Ironic, which this cloud does not have. Nova answers as
   * it did without an Ironic client (`_check_ironic_client_enabled`: 501 "Ironic client
   * unavailable, cannot access Ironic."); a current Nova without a baremetal endpoint fails the
   * SDK's service check instead, which no handler expects (a 500), and a 5xx is no answer to give.
   */
  async baremetalNodes(ctx: RequestContext, action: 'list' | 'show'): Promise<never> {
    adminOnly(ctx, `os_compute_api:os-baremetal-nodes:${action}`);
    throw novaNotImplemented('Ironic client unavailable, cannot access Ironic.');
  }

  /** Writes were never proxied: Nova points at the Ironic command. */
  baremetalWrite(command: 'node-create' | 'node-delete' | 'port-create' | 'port-delete'): never {
    throw novaBadRequest(`Command Not supported. Please use Ironic command ${command} to perform this action.`);
  }
}

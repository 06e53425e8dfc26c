/**
 * A server's metadata record read from the store (what Nova's InstanceMetadata collects: the
 * instance, its key pair, flavor, security groups, network info, password), and how a metadata
 * request finds its server: as Neutron's metadata agent does, by the network (DHCP namespace)
 * or router (router namespace) the request came through and its source address — which the
 * switch's anti-spoofing rules tie to the instance's own ports.
 */
import type { Q } from '../../../store/db.js';
import { fromJson } from '../../../store/db.js';
import { decodeBase64Lenient } from '../../../util/jsonschema.js';
import { storedPassword } from '../serverpassword.js';
import type { GuestPort, GuestRecord, GuestSubnet } from './documents.js';

const COMPUTE_OWNER = 'compute:%';
const DHCP_OWNER = 'network:dhcp';
const ROUTER_INTERFACE_OWNERS = ['network:router_interface', 'network:router_interface_distributed', 'network:ha_router_replicated_interface'];

/** Everything the metadata of server `id` shows; null when there is no such server. */
export async function loadGuest(db: Q, id: string, address: string | null = null): Promise<GuestRecord | null> {
  const s = await db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
  if (!s) return null;
  const key = s.key_name
    ? await db.selectFrom('keypairs').select(['name', 'type', 'public_key']).where('user_id', '=', s.user_id).where('name', '=', s.key_name).executeTakeFirst()
    : undefined;
  const ports = await db
    .selectFrom('ports')
    .leftJoin('server_interfaces', 'server_interfaces.port_id', 'ports.id')
    .innerJoin('networks', 'networks.id', 'ports.network_id')
    .select(['ports.id', 'ports.mac_address', 'ports.network_id', 'ports.binding_vif_type', 'ports.created_at', 'networks.mtu', 'server_interfaces.position'])
    .where('ports.device_id', '=', id)
    .where('ports.device_owner', 'like', COMPUTE_OWNER)
    .execute();
  ports.sort((a, b) => (a.position ?? 1e9) - (b.position ?? 1e9) || a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  const portIds = ports.map((p) => p.id);
  const ips = portIds.length
    ? await db.selectFrom('ip_allocations').select(['port_id', 'subnet_id', 'ip_address']).where('port_id', 'in', portIds).orderBy('position').execute()
    : [];
  const subnetIds = [...new Set(ips.map((i) => i.subnet_id))];
  const subnetRows = subnetIds.length ? await db.selectFrom('subnets').selectAll().where('id', 'in', subnetIds).execute() : [];
  const dhcp = subnetIds.length
    ? await db
        .selectFrom('ip_allocations')
        .innerJoin('ports', 'ports.id', 'ip_allocations.port_id')
        .select(['ip_allocations.subnet_id', 'ip_allocations.ip_address'])
        .where('ports.device_owner', '=', DHCP_OWNER)
        .where('ip_allocations.subnet_id', 'in', subnetIds)
        .execute()
    : [];
  const subnets = new Map<string, GuestSubnet>(
    subnetRows.map((r) => [
      r.id,
      {
        id: r.id,
        ipVersion: r.ip_version === 6 ? 6 : 4,
        cidr: r.cidr,
        gatewayIp: r.gateway_ip,
        dnsNameservers: fromJson<string[]>(r.dns_nameservers, []),
        hostRoutes: fromJson<Array<{ destination: string; nexthop: string }>>(r.host_routes, []),
        enableDhcp: r.enable_dhcp === 1,
        ipv6AddressMode: r.ipv6_address_mode,
        dhcpServer: dhcp.find((d) => d.subnet_id === r.id)?.ip_address ?? null,
      },
    ]),
  );
  const groups = portIds.length
    ? await db
        .selectFrom('port_security_groups')
        .innerJoin('security_groups', 'security_groups.id', 'port_security_groups.security_group_id')
        .select(['security_groups.name'])
        .where('port_security_groups.port_id', 'in', portIds)
        .execute()
    : [];
  const fips = portIds.length
    ? await db.selectFrom('floating_ips').select(['floating_ip_address']).where('fixed_port_id', 'in', portIds).orderBy('floating_ip_address').execute()
    : [];
  const password = storedPassword(s.system_metadata);
  const flavor = fromJson<{ name?: string; ephemeral?: number }>(s.flavor, {});
  const guestPorts: GuestPort[] = ports.map((p) => ({
    id: p.id,
    mac: p.mac_address,
    networkId: p.network_id,
    mtu: p.mtu,
    vifType: p.binding_vif_type,
    fixedIps: ips.filter((i) => i.port_id === p.id).map((i) => ({ ipAddress: i.ip_address, subnetId: i.subnet_id })),
  }));
  return {
    uuid: s.id,
    name: s.name,
    hostname: s.hostname,
    projectId: s.project_id,
    launchIndex: s.launch_index,
    reservationId: s.reservation_id,
    availabilityZone: s.availability_zone,
    internalId: s.internal_id,
    imageId: s.image_id,
    flavorName: flavor.name ?? '',
    ephemeral: Number(flavor.ephemeral ?? 0) > 0,
    keyName: s.key_name,
    key: key
      ? { name: key.name, type: key.type, publicKey: key.public_key }
      : s.key_data && s.key_name
        ? { name: s.key_name, type: 'ssh', publicKey: s.key_data }
        : null,
    meta: fromJson<Record<string, string>>(s.metadata, {}),
    userData: s.user_data ? decodeBase64Lenient(s.user_data) : null,
    securityGroups: [...new Set(groups.map((g) => g.name))],
    password: password || null,
    ports: guestPorts,
    subnets,
    floatingIps: fips.map((f) => f.floating_ip_address),
    address,
  };
}

/** Where a metadata request came through: a network's DHCP namespace or a router's namespace. */
export type MetadataVia = { networkId: string } | { routerId: string };

/**
 * The server whose port on the network (or on a network the router is attached to) holds
 * `address` — Neutron's metadata agent's lookup. Only compute ports count; several matches (an
 * address reused in two networks behind one router cannot happen) or none give null.
 */
export async function findInstance(db: Q, via: MetadataVia, address: string): Promise<{ serverId: string; projectId: string } | null> {
  let networks: string[];
  if ('networkId' in via) networks = [via.networkId];
  else {
    const legs = await db
      .selectFrom('ports')
      .select('network_id')
      .where('device_id', '=', via.routerId)
      .where('device_owner', 'in', ROUTER_INTERFACE_OWNERS)
      .execute();
    networks = [...new Set(legs.map((l) => l.network_id))];
  }
  if (!networks.length) return null;
  const rows = await db
    .selectFrom('ip_allocations')
    .innerJoin('ports', 'ports.id', 'ip_allocations.port_id')
    .select(['ports.device_id', 'ports.project_id'])
    .where('ip_allocations.network_id', 'in', networks)
    .where('ip_allocations.ip_address', '=', address)
    .where('ports.device_owner', 'like', COMPUTE_OWNER)
    .execute();
  if (rows.length !== 1 || !rows[0].device_id) return null;
  return { serverId: rows[0].device_id, projectId: rows[0].project_id };
}

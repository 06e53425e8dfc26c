/**
 * The DHCP port part of Neutron's DHCP agent (neutron/agent/linux/dhcp.py DeviceManager,
 * setup_dhcp_port): one `network:dhcp` port per network scheduled to this host's DHCP agent
 * (core/network/agents.ts) — a port reserved when a network left the agent is taken back first —
 * made through
 * the Neutron API in-process as the agent does through the plugin's RPC — device_id
 * `dhcp<uuid5(host)>-<network id>`, binding host this host, an address on every subnet with
 * enable_dhcp (a subnet whose DHCP is turned on gets one, one turned off loses it), deleted when
 * no subnet of the network has DHCP any more. A failure (no free address) is retried at the next
 * sync and only that network goes without DHCP.
 */
import type { Logger } from 'pino';
import { systemContext } from '../../../core/context.js';
import { type Agents, RESERVED_DHCP_PORT, dhcpDeviceId } from '../../../core/network/agents.js';
import type { NetworkService } from '../../../core/network/service.js';

export { dhcpDeviceId };

export const DHCP_DEVICE_OWNER = 'network:dhcp';

export interface DhcpPortPlan {
  /** A reserved port (`reserved_dhcp_port`) taken back, or a new one. */
  create: Array<{ networkId: string; projectId: string; subnets: string[]; reserved?: string }>;
  update: Array<{ portId: string; fixedIps: Array<{ subnet_id: string; ip_address?: string }> }>;
  delete: string[];
}

/**
 * What to change so each served network has exactly one DHCP port of this host with an address
 * on each DHCP subnet. `networks`: served networks and their DHCP subnets; `ports`: this host's
 * DHCP ports now.
 */
export function planDhcpPorts(
  networks: Array<{ id: string; projectId: string; dhcpSubnets: string[] }>,
  ports: Array<{ id: string; networkId: string; fixedIps: Array<{ subnetId: string; ipAddress: string }> }>,
  reserved: Array<{ id: string; networkId: string }> = [],
): DhcpPortPlan {
  const plan: DhcpPortPlan = { create: [], update: [], delete: [] };
  const byNet = new Map<string, typeof ports>();
  for (const p of ports) byNet.set(p.networkId, [...(byNet.get(p.networkId) ?? []), p]);
  for (const n of networks) {
    const mine = byNet.get(n.id) ?? [];
    byNet.delete(n.id);
    if (!n.dhcpSubnets.length) {
      plan.delete.push(...mine.map((p) => p.id));
      continue;
    }
    const [port, ...extra] = mine;
    plan.delete.push(...extra.map((p) => p.id));
    if (!port) {
      const r = reserved.find((p) => p.networkId === n.id);
      plan.create.push({ networkId: n.id, projectId: n.projectId, subnets: n.dhcpSubnets, ...(r ? { reserved: r.id } : {}) });
      continue;
    }
    const want = new Set(n.dhcpSubnets);
    const have = new Set(port.fixedIps.map((f) => f.subnetId));
    if (want.size === have.size && [...want].every((s) => have.has(s))) continue;
    plan.update.push({
      portId: port.id,
      fixedIps: [
        ...port.fixedIps.filter((f) => want.has(f.subnetId)).map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
        ...n.dhcpSubnets.filter((s) => !have.has(s)).map((s) => ({ subnet_id: s })),
      ],
    });
  }
  for (const rest of byNet.values()) plan.delete.push(...rest.map((p) => p.id));
  return plan;
}

export class DhcpAgent {
  private readonly prefix: string;

  constructor(
    private readonly network: NetworkService,
    private readonly agents: Agents,
    private readonly host: string,
    private readonly log: Logger,
  ) {
    this.prefix = dhcpDeviceId('', host);
  }

  /** Bring this host's DHCP ports in line with the networks' subnets; true when something changed. */
  async sync(): Promise<boolean> {
    const db = this.network.store.db;
    const served = await this.agents.servedNetworks(this.host);
    const [nets, subnets, ports, reserved] = await Promise.all([
      db.selectFrom('networks').select(['id', 'project_id']).execute(),
      db.selectFrom('subnets').select(['id', 'network_id']).where('enable_dhcp', '=', 1).orderBy('created_at').orderBy('id').execute(),
      db
        .selectFrom('ports')
        .select(['id', 'network_id', 'device_id'])
        .where('device_owner', '=', DHCP_DEVICE_OWNER)
        .where('device_id', 'like', `${this.prefix}%`)
        .execute(),
      db.selectFrom('ports').select(['id', 'network_id']).where('device_owner', '=', DHCP_DEVICE_OWNER).where('device_id', '=', RESERVED_DHCP_PORT).execute(),
    ]);
    const ips = ports.length
      ? await db
          .selectFrom('ip_allocations')
          .select(['port_id', 'subnet_id', 'ip_address'])
          .where(
            'port_id',
            'in',
            ports.map((p) => p.id),
          )
          .execute()
      : [];
    const plan = planDhcpPorts(
      nets.map((n) => ({
        id: n.id,
        projectId: n.project_id,
        dhcpSubnets: served.has(n.id) ? subnets.filter((s) => s.network_id === n.id).map((s) => s.id) : [],
      })),
      ports.map((p) => ({
        id: p.id,
        networkId: p.network_id,
        fixedIps: ips.filter((i) => i.port_id === p.id).map((i) => ({ subnetId: i.subnet_id, ipAddress: i.ip_address })),
      })),
      reserved.map((r) => ({ id: r.id, networkId: r.network_id })),
    );
    const ctx = systemContext('req-dhcp-agent');
    let changed = false;
    for (const c of plan.create) {
      try {
        if (c.reserved) {
          await this.network.update(ctx, 'ports', c.reserved, {
            // Its addresses are kept (the next sync adds or drops subnets if they changed meanwhile).
            port: { device_id: dhcpDeviceId(c.networkId, this.host), 'binding:host_id': this.host },
          });
          changed = true;
          continue;
        }
        await this.network.create(ctx, 'ports', {
          port: {
            name: '',
            admin_state_up: true,
            device_id: dhcpDeviceId(c.networkId, this.host),
            device_owner: DHCP_DEVICE_OWNER,
            network_id: c.networkId,
            tenant_id: c.projectId,
            'binding:host_id': this.host,
            fixed_ips: c.subnets.map((s) => ({ subnet_id: s })),
          },
        });
        changed = true;
      } catch (e) {
        this.log.warn({ network: c.networkId, reason: (e as Error).message }, 'cannot create the DHCP port');
      }
    }
    for (const u of plan.update) {
      try {
        await this.network.update(ctx, 'ports', u.portId, { port: { fixed_ips: u.fixedIps } });
        changed = true;
      } catch (e) {
        this.log.warn({ port: u.portId, reason: (e as Error).message }, 'cannot update the DHCP port');
      }
    }
    for (const id of plan.delete) {
      try {
        await this.network.delete(ctx, 'ports', id);
        changed = true;
      } catch (e) {
        this.log.warn({ port: id, reason: (e as Error).message }, 'cannot delete the DHCP port');
      }
    }
    return changed;
  }
}

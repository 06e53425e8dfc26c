/**
 * The VIP of a load balancer: a real Neutron port made through NetworkService in the same
 * transaction as the load balancer (device_owner `Octavia` for v2, `neutron:LOADBALANCER` for
 * v1), or the port the user supplied. With the `noop` network driver configured (as Octavia's
 * own network_noop_driver in its API test jobs), subnets and networks Neutron does not know are
 * accepted without a port; such load balancers are provisioned but never served.
 */
import { uuid as newUuid } from '../../util/ids.js';
import { cidrContains, ipToString, parseCidr, parseIp } from '../../util/ip.js';
import type { RequestContext } from '../context.js';
import { bindPort, bindingColumns, portSubnetIds } from '../network/binding.js';
import type { NetworkService } from '../network/service.js';
import type { Work } from '../work.js';
import { lbErrors } from './errors.js';
import { chooseLoadBalancerHost } from './hosts.js';
import { type NeutronSubnet, findNeutron } from './neutron.js';

export type NetworkDriver = 'neutron' | 'noop';

export interface VipRequest {
  vip_port_id?: string | null;
  vip_network_id?: string | null;
  vip_subnet_id?: string | null;
  vip_address?: string | null;
  vip_qos_policy_id?: string | null;
}

export interface VipPlan {
  /** neutron: we create the port; user: the user's port; noop: no port at all. */
  kind: 'neutron' | 'user' | 'noop';
  subnetId: string;
  networkId: string;
  address: string | null;
  portId: string | null;
}

/** Octavia's noop network driver answers this address when none is asked for. */
const NOOP_VIP_ADDRESS = '198.51.100.1';

async function existsAtAll(network: NetworkService, table: 'subnets' | 'networks' | 'ports', id: string): Promise<boolean> {
  const row = await network.store.db.selectFrom(table).select('id').where('id', '=', id).executeTakeFirst();
  return row !== undefined;
}

const sameIp = (a: string, b: string) => {
  const x = parseIp(a);
  const y = parseIp(b);
  return !!x && !!y && x.version === y.version && x.value === y.value;
};

/** Octavia's _validate_vip_request_object, with the caller's view of Neutron. */
export async function planVip(network: NetworkService, ctx: RequestContext, req: VipRequest, driver: NetworkDriver): Promise<VipPlan> {
  if (!req.vip_port_id && !req.vip_network_id && !req.vip_subnet_id) {
    throw lbErrors.vipValidation('vip_port_id, vip_network_id, vip_subnet_id');
  }
  const noopOk = async (table: 'subnets' | 'networks' | 'ports', id: string) => driver === 'noop' && !(await existsAtAll(network, table, id));
  let plan: VipPlan | undefined;

  if (req.vip_port_id) {
    const port = await findNeutron(network, ctx, 'ports', req.vip_port_id);
    if (!port) {
      if (!(await noopOk('ports', req.vip_port_id))) throw lbErrors.invalidSubresource('Port', req.vip_port_id);
      // The noop driver's port has no addresses: only a subnet and an address can describe it.
      if (!req.vip_subnet_id) throw lbErrors.validation("VIP port's subnet could not be determined. Please specify either a VIP subnet or address.");
      if (!req.vip_address) throw lbErrors.validation('No VIP address found on the specified VIP port within the specified subnet.');
      plan = { kind: 'noop', subnetId: req.vip_subnet_id, networkId: req.vip_network_id ?? newUuid(), address: req.vip_address, portId: req.vip_port_id };
    } else {
      if (port.device_id) throw lbErrors.validation(`Port ${port.id} is already used by device ${port.device_id} `);
      const fixed = port.fixed_ips;
      let subnetId = req.vip_subnet_id ?? null;
      let address = req.vip_address ?? null;
      if (subnetId) {
        if (!(await findNeutron(network, ctx, 'subnets', subnetId))) throw lbErrors.invalidSubresource('Subnet', subnetId);
        const f = fixed.find((x) => x.subnet_id === subnetId);
        if (!f) throw lbErrors.validation('No VIP address found on the specified VIP port within the specified subnet.');
        address = f.ip_address;
      } else if (address) {
        const f = fixed.find((x) => sameIp(x.ip_address, address!));
        if (!f) throw lbErrors.validation('Specified VIP address not found on the specified VIP port.');
        subnetId = f.subnet_id;
      } else if (fixed.length === 1) {
        subnetId = fixed[0].subnet_id;
        address = fixed[0].ip_address;
      } else {
        throw lbErrors.validation("VIP port's subnet could not be determined. Please specify either a VIP subnet or address.");
      }
      plan = { kind: 'user', subnetId: subnetId!, networkId: port.network_id, address, portId: port.id };
    }
  } else if (req.vip_network_id) {
    const net = await findNeutron(network, ctx, 'networks', req.vip_network_id);
    if (!net) {
      if (!(await noopOk('networks', req.vip_network_id))) throw lbErrors.invalidSubresource('Network', req.vip_network_id);
      plan = {
        kind: 'noop',
        subnetId: req.vip_subnet_id ?? newUuid(),
        networkId: req.vip_network_id,
        address: req.vip_address ?? NOOP_VIP_ADDRESS,
        portId: newUuid(),
      };
    } else {
      const subnetIds = net.subnets;
      let subnetId = req.vip_subnet_id ?? null;
      if (subnetId) {
        if (!subnetIds.includes(subnetId)) throw lbErrors.invalidSubresource('Subnet', subnetId);
      } else {
        if (!subnetIds.length) throw lbErrors.validation('Supplied network does not contain a subnet.');
        const subnets = (await Promise.all(subnetIds.map((id) => findNeutron(network, ctx, 'subnets', id)))).filter((x): x is NeutronSubnet => !!x);
        if (req.vip_address) {
          const ip = parseIp(req.vip_address)!;
          const s = subnets.find((x) => cidrContains(parseCidr(x.cidr)!, ip));
          if (!s) throw lbErrors.validation('Supplied network does not contain a subnet for VIP address specified.');
          subnetId = s.id;
        } else {
          subnetId = (subnets.find((x) => x.ip_version === 4) ?? subnets[0]).id;
        }
      }
      plan = { kind: 'neutron', subnetId: subnetId!, networkId: net.id, address: req.vip_address ?? null, portId: null };
    }
  } else {
    const subnetId = req.vip_subnet_id!;
    const subnet = await findNeutron(network, ctx, 'subnets', subnetId);
    if (!subnet) {
      if (!(await noopOk('subnets', subnetId))) throw lbErrors.invalidSubresource('Subnet', subnetId);
      plan = { kind: 'noop', subnetId, networkId: newUuid(), address: req.vip_address ?? NOOP_VIP_ADDRESS, portId: newUuid() };
    } else {
      plan = { kind: 'neutron', subnetId, networkId: subnet.network_id, address: req.vip_address ?? null, portId: null };
    }
  }
  if (req.vip_qos_policy_id) throw lbErrors.validation('VIP QoS policy is not allowed in this deployment.');
  if (plan.kind === 'noop' && plan.address) {
    const ip = parseIp(plan.address);
    if (ip) plan.address = ipToString(ip);
  }
  return plan;
}

/** The context the VIP port is made with: the load balancer's project, with service rights. */
function serviceContext(ctx: RequestContext, projectId: string): RequestContext {
  return { ...ctx, projectId, isAdmin: true, roles: [...new Set([...ctx.roles, 'admin'])] };
}

export interface AllocatedVip {
  portId: string | null;
  address: string | null;
}

/**
 * Make (or claim) the VIP port inside the load balancer's transaction, bound to the host the
 * load balancer will run on (hosts.ts): a live host whose agent reaches the VIP network, in
 * `zone` if one is asked for; with none, `fallbackHost` (the API server's own host, where one
 * machine serves everything; the failover check moves it once a host qualifies). The engine
 * itself is the access control of the VIP (listener ports, allowed_cidrs), so the port has no
 * port security.
 */
export async function allocateVip(
  w: Work,
  network: NetworkService,
  ctx: RequestContext,
  plan: VipPlan,
  lb: { id: string; projectId: string; deviceOwner: string; name: string; fallbackHost: string; zone: string | null },
): Promise<AllocatedVip> {
  if (plan.kind === 'noop') return { portId: plan.portId, address: plan.address };
  const { trx } = w;
  const sctx = serviceContext(ctx, lb.projectId);
  if (plan.kind === 'user') {
    const port = await trx.selectFrom('ports').select('network_id').where('id', '=', plan.portId!).executeTakeFirstOrThrow();
    const subnetIds = await portSubnetIds(trx, plan.portId!);
    const host = (await chooseLoadBalancerHost(trx, { networkId: port.network_id, subnetIds, zone: lb.zone })) ?? lb.fallbackHost;
    const b = await bindPort(trx, port.network_id, host, subnetIds);
    await trx
      .updateTable('ports')
      .set({
        device_id: `lb-${lb.id}`,
        device_owner: lb.deviceOwner,
        ...bindingColumns(host, b),
      })
      .where('id', '=', plan.portId!)
      .execute();
    w.changed('port', plan.portId!, lb.projectId, 'update');
    return { portId: plan.portId, address: plan.address };
  }
  const fixed: { subnet_id: string; ip_address?: string } = { subnet_id: plan.subnetId };
  if (plan.address) fixed.ip_address = plan.address;
  const host = (await chooseLoadBalancerHost(trx, { networkId: plan.networkId, subnetIds: [plan.subnetId], zone: lb.zone })) ?? lb.fallbackHost;
  const [id] = await network.within(w).create(sctx, 'ports', {
    port: {
      name: lb.name,
      network_id: plan.networkId,
      device_id: `lb-${lb.id}`,
      device_owner: lb.deviceOwner,
      fixed_ips: [fixed],
      admin_state_up: true,
      port_security_enabled: false,
      'binding:host_id': host,
    },
  });
  const alloc = await trx.selectFrom('ip_allocations').select('ip_address').where('port_id', '=', id).where('subnet_id', '=', plan.subnetId).executeTakeFirst();
  return { portId: id, address: alloc?.ip_address ?? null };
}

/** Give the VIP back: our own port is deleted, a user's port is released. */
export async function releaseVip(
  w: Work,
  network: NetworkService,
  ctx: RequestContext,
  lb: { vip_kind: string; vip_port_id: string | null; project_id: string },
): Promise<void> {
  if (!lb.vip_port_id || lb.vip_kind === 'noop') return;
  const { trx } = w;
  const exists = await trx.selectFrom('ports').select('id').where('id', '=', lb.vip_port_id).executeTakeFirst();
  if (!exists) return;
  if (lb.vip_kind === 'user') {
    await trx
      .updateTable('ports')
      .set({
        device_id: '',
        device_owner: '',
        binding_host_id: '',
        binding_vif_type: 'unbound',
        binding_vif_details: '{}',
        binding_segment_id: null,
        status: 'DOWN',
      })
      .where('id', '=', lb.vip_port_id)
      .execute();
    w.changed('port', lb.vip_port_id, lb.project_id, 'update');
    return;
  }
  await network.within(w).delete(serviceContext(ctx, lb.project_id), 'ports', lb.vip_port_id);
}

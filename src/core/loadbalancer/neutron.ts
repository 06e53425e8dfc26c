/**
 * What load balancing reads of Neutron: the subnets, networks and ports a VIP or member names,
 * through NetworkService as the caller sees them (Neutron's own visibility and not-found rules).
 * Only the attributes read here are typed; they are always present in Neutron's rendering.
 */
import type { RequestContext } from '../context.js';
import { isDomainError } from '../errors.js';
import type { NetworkService } from '../network/service.js';

export type NeutronSubnet = { id: string; network_id: string; cidr: string; ip_version: number };
export type NeutronNetwork = { id: string; subnets: string[] };
export type NeutronPort = { id: string; network_id: string; device_id: string; fixed_ips: Array<{ subnet_id: string; ip_address: string }> };

interface Shown {
  subnets: NeutronSubnet;
  networks: NeutronNetwork;
  ports: NeutronPort;
}

/** GET /v2.0/<collection>/<id> as the caller; throws Neutron's not-found. */
export async function showNeutron<K extends keyof Shown>(network: NetworkService, ctx: RequestContext, collection: K, id: string): Promise<Shown[K]> {
  // NetworkService renders every attribute of its attribute map, these among them.
  return (await network.show(ctx, collection, id)) as Shown[K];
}

/** The same, undefined when the caller cannot see it. */
export async function findNeutron<K extends keyof Shown>(
  network: NetworkService,
  ctx: RequestContext,
  collection: K,
  id: string,
): Promise<Shown[K] | undefined> {
  try {
    return await showNeutron(network, ctx, collection, id);
  } catch (e) {
    if (isDomainError(e) && e.kind === 'not_found') return undefined;
    throw e;
  }
}

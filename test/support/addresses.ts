import type { Client } from './cloud.js';

/**
 * Addresses are handed out at random (as Neutron does), so a test that asks for one by name must
 * pick one no earlier allocation on that network took, or it would fail now and then.
 */
export async function freeAddress(network: Client, networkId: string, prefix: string, from = 100, to = 250): Promise<string> {
  const ports = (await network.get(`/v2.0/ports?network_id=${networkId}`)).body.ports as Array<{ fixed_ips: Array<{ ip_address: string }> }>;
  const used = new Set(ports.flatMap((p) => p.fixed_ips.map((f) => f.ip_address)));
  for (let i = from; i <= to; i++) if (!used.has(`${prefix}.${i}`)) return `${prefix}.${i}`;
  throw new Error(`no free address in ${prefix}.${from}-${to}`);
}

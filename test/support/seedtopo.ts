import type { Client } from './cloud.js';

/**
 * The seed's topology through the APIs, for dashboard tests on the noop data plane: the three
 * tiers' networks and subnets, project_router with the public gateway, security groups, servers
 * on each network, floating IPs and a load balancer with a pool, members and a health monitor.
 */
export async function seedTopology(net: Client, nova: Client, lbaas: Client, imageId: string): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  const pub = (await net.get('/v2.0/networks?name=public')).body.networks[0].id;
  const router = (await net.post('/v2.0/routers', { router: { name: 'project_router', external_gateway_info: { network_id: pub } } })).body.router.id;
  ids.router = router;
  for (const [name, cidr] of [
    ['worker', '10.0.1.0/24'],
    ['webserver', '10.0.2.0/24'],
    ['api', '10.0.3.0/24'],
  ]) {
    const n = (await net.post('/v2.0/networks', { network: { name: `${name}_network` } })).body.network.id;
    const s = (await net.post('/v2.0/subnets', { subnet: { name: `${name}_subnet`, network_id: n, cidr, ip_version: 4 } })).body.subnet.id;
    await net.put(`/v2.0/routers/${router}/add_router_interface`, { subnet_id: s });
    ids[`${name}_network`] = n;
    ids[`${name}_subnet`] = s;
  }
  const boot = async (name: string, network: string) => {
    const r = await nova.post('/v2.1/servers', { server: { name, flavorRef: '1', imageRef: imageId, networks: [{ uuid: network }] } });
    return r.body.server.id as string;
  };
  ids.web1 = await boot('web1', ids.webserver_network);
  ids.web2 = await boot('web2', ids.webserver_network);
  ids.api1 = await boot('api1', ids.api_network);
  ids.worker1 = await boot('worker1', ids.worker_network);
  for (let i = 0; i < 100; i++) {
    const ports = (await net.get('/v2.0/ports?device_owner=compute:nova')).body.ports;
    if (ports.length >= 4) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const portOf = async (server: string) => (await net.get(`/v2.0/ports?device_id=${server}`)).body.ports[0];
  const api1 = await portOf(ids.api1);
  const fip = (await net.post('/v2.0/floatingips', { floatingip: { floating_network_id: pub, port_id: api1.id } })).body.floatingip;
  ids.api_fip = fip.id;
  const lb = (await lbaas.post('/v2/lbaas/loadbalancers', { loadbalancer: { name: 'fractal-lb', vip_subnet_id: ids.webserver_subnet } })).body.loadbalancer;
  ids.lb = lb.id;
  const wait = async () => {
    for (let i = 0; i < 100; i++) {
      if ((await lbaas.get(`/v2/lbaas/loadbalancers/${lb.id}`)).body.loadbalancer.provisioning_status === 'ACTIVE') return;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await wait();
  const listener = (await lbaas.post('/v2/lbaas/listeners', { listener: { loadbalancer_id: lb.id, protocol: 'HTTP', protocol_port: 80, name: 'http' } })).body
    .listener;
  await wait();
  const pool = (await lbaas.post('/v2/lbaas/pools', { pool: { listener_id: listener.id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN', name: 'web' } })).body
    .pool;
  ids.pool = pool.id;
  await wait();
  for (const s of [ids.web1, ids.web2]) {
    const p = await portOf(s);
    await lbaas.post(`/v2/lbaas/pools/${pool.id}/members`, {
      member: { address: p.fixed_ips[0].ip_address, protocol_port: 80, subnet_id: ids.webserver_subnet },
    });
    await wait();
  }
  await lbaas.post('/v2/lbaas/healthmonitors', { healthmonitor: { pool_id: pool.id, type: 'HTTP', delay: 3, timeout: 3, max_retries: 3 } });
  await wait();
  return ids;
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCloud, startCloud } from '../support/cloud.js';
import { lbClients, makeSubnet, waitFor } from '../support/lb.js';

let tc: TestCloud;
let c: Awaited<ReturnType<typeof lbClients>>;
let subnet: { networkId: string; subnetId: string };

beforeAll(async () => {
  tc = await startCloud({ config: { lbEngine: 'builtin' } });
  c = await lbClients(tc);
  subnet = await makeSubnet(c.net.demo);
});
afterAll(async () => tc?.stop());

const active = (get: () => Promise<any>) => waitFor(get, (r) => r.status === 200 && !String(Object.values(r.body)[0] && (Object.values(r.body)[0] as any).provisioning_status).startsWith('PENDING'));

describe('Octavia v2 load balancers', () => {
  it('creates a load balancer with a real VIP port, PENDING_CREATE then ACTIVE', async () => {
    const r = await c.demo.post('/v2.0/lbaas/loadbalancers', { loadbalancer: { name: 'lb1', vip_subnet_id: subnet.subnetId } });
    expect(r.status).toBe(201);
    const lb = r.body.loadbalancer;
    expect(lb.provisioning_status).toBe('PENDING_CREATE');
    expect(lb.operating_status).toBe('OFFLINE');
    expect(Object.keys(lb).slice(0, 3)).toEqual(['listeners', 'pools', 'id']);
    const port = await c.net.demo.get(`/v2.0/ports/${lb.vip_port_id}`);
    expect(port.status).toBe(200);
    expect(port.body.port.device_owner).toBe('Octavia');
    expect(port.body.port.fixed_ips[0].ip_address).toBe(lb.vip_address);
    const shown = await active(() => c.demo.get(`/v2.0/lbaas/loadbalancers/${lb.id}`));
    expect(shown.body.loadbalancer.provisioning_status).toBe('ACTIVE');
    expect(shown.body.loadbalancer.operating_status).toBe('ONLINE');
  });
});

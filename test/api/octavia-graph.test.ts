import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCloud, freePort, startCloud } from '../support/cloud.js';
import { lbClients, makeSubnet, waitFor } from '../support/lb.js';
import { type Backend, get, httpBackend } from '../support/servers.js';

/**
 * A fully populated load-balancer create (listeners, pools, members, a health monitor, an L7
 * policy and its rule in one POST), checked against the answers of the real Octavia (Zed, amphora
 * provider with noop drivers): the shape of the answer, the statuses, Octavia's refusals word for
 * word, nothing left behind by a refusal, and traffic through what the one call built.
 */
let tc: TestCloud;
let c: Awaited<ReturnType<typeof lbClients>>;
let subnetId: string;
let web: Backend;
let api: Backend;

const path = (p: string) => `/v2.0/lbaas/${p}`;
const show = (p: string) => c.demo.get(path(p));
const create = (lb: Record<string, unknown>) => c.demo.post(path('loadbalancers'), { loadbalancer: { vip_subnet_id: subnetId, ...lb } });

const fault = (r: { status: number; body: any }, status: number, text: string) => {
  expect(r.status).toBe(status);
  expect(r.body).toEqual({ faultcode: 'Client', faultstring: text, debuginfo: null });
};

/** How many objects the demo project holds, of every kind a graph creates, and its ports. */
async function census() {
  const count = async (kind: string) => (await show(kind)).body[kind].length;
  const ports = (await c.net.demo.get('/v2.0/ports')).body.ports.length;
  return {
    loadbalancers: await count('loadbalancers'),
    listeners: await count('listeners'),
    pools: await count('pools'),
    healthmonitors: await count('healthmonitors'),
    l7policies: await count('l7policies'),
    ports,
  };
}

beforeAll(async () => {
  tc = await startCloud({ config: { lbEngine: 'builtin' } });
  c = await lbClients(tc);
  ({ subnetId } = await makeSubnet(c.net.demo));
  web = await httpBackend('web');
  api = await httpBackend('api');
});
afterAll(async () => {
  await tc?.stop();
  await web?.close();
  await api?.close();
});

describe('fully populated load-balancer create', () => {
  it('builds the whole graph in one call, answers Octavia’s full shape, and serves traffic', async () => {
    const port = await freePort();
    const r = await create({
      name: 'graph',
      listeners: [
        {
          name: 'l1',
          protocol: 'HTTP',
          protocol_port: port,
          default_pool: {
            name: 'web',
            protocol: 'HTTP',
            lb_algorithm: 'ROUND_ROBIN',
            healthmonitor: { type: 'HTTP', delay: 1, timeout: 1, max_retries: 1 },
            members: [{ address: '127.0.0.1', protocol_port: web.port }],
          },
          l7policies: [
            {
              action: 'REDIRECT_TO_POOL',
              redirect_pool: { name: 'api' },
              rules: [{ type: 'PATH', compare_type: 'STARTS_WITH', value: '/api' }],
            },
          ],
        },
      ],
      pools: [{ name: 'api', protocol: 'HTTP', lb_algorithm: 'LEAST_CONNECTIONS', members: [{ address: '127.0.0.1', protocol_port: api.port }] }],
    });
    expect(r.status).toBe(201);
    const lb = r.body.loadbalancer;
    expect(Object.keys(lb).slice(0, 3)).toEqual(['listeners', 'pools', 'id']);
    expect(lb).toMatchObject({ name: 'graph', provisioning_status: 'PENDING_CREATE', operating_status: 'OFFLINE', additional_vips: [] });

    // Pools are made first: the load balancer's own, then the listener's default pool moved up.
    expect(lb.pools.map((p: any) => p.name)).toEqual(['api', 'web']);
    const [apiPool, webPool] = lb.pools;
    expect(Object.keys(webPool).slice(0, 3)).toEqual(['members', 'healthmonitor', 'id']);
    expect(webPool).not.toHaveProperty('loadbalancers');
    expect(webPool).not.toHaveProperty('healthmonitor_id');
    // Octavia Zed's full answer never fills a pool's monitor (see renderFullLoadBalancer).
    expect(webPool.healthmonitor).toBeNull();
    expect(webPool.members).toEqual([
      expect.objectContaining({ address: '127.0.0.1', protocol_port: web.port, operating_status: 'OFFLINE', provisioning_status: 'PENDING_CREATE' }),
    ]);
    expect(apiPool.members[0].operating_status).toBe('NO_MONITOR');

    const [listener] = lb.listeners;
    expect(Object.keys(listener).slice(0, 2)).toEqual(['l7policies', 'id']);
    expect(listener).not.toHaveProperty('loadbalancers');
    expect(listener).toMatchObject({ name: 'l1', protocol_port: port, default_pool_id: webPool.id, provisioning_status: 'PENDING_CREATE' });
    expect(listener.updated_at).toBe(listener.created_at);
    expect(apiPool.listeners).toEqual([{ id: listener.id }]);
    expect(webPool.listeners).toEqual([{ id: listener.id }]);
    const [policy] = listener.l7policies;
    expect(Object.keys(policy).slice(0, 2)).toEqual(['rules', 'id']);
    expect(policy).toMatchObject({ action: 'REDIRECT_TO_POOL', redirect_pool_id: apiPool.id, position: 1, listener_id: listener.id });
    expect(policy.rules).toEqual([expect.objectContaining({ type: 'PATH', compare_type: 'STARTS_WITH', value: '/api', key: null, invert: false })]);

    // The engine applies the graph at once: everything ACTIVE together.
    await waitFor(
      () => show(`loadbalancers/${lb.id}`),
      (x) => x.body.loadbalancer.provisioning_status === 'ACTIVE',
    );
    const tree = (await show(`loadbalancers/${lb.id}/status`)).body.statuses.loadbalancer;
    expect(tree.listeners[0].provisioning_status).toBe('ACTIVE');
    const hm = (await show(`healthmonitors?pool_id=${webPool.id}`)).body.healthmonitors;
    expect(hm).toEqual([expect.objectContaining({ type: 'HTTP', http_method: 'GET', url_path: '/', expected_codes: '200', pools: [{ id: webPool.id }] })]);
    expect((await show(`pools/${webPool.id}`)).body.pool.healthmonitor_id).toBe(hm[0].id);

    const address = tc.cloud.services.lbEngine.endpoint(lb.id)!.address;
    expect((await get(address, port, '/')).body).toBe('web');
    expect((await get(address, port, '/api/x')).body).toBe('api');
  });

  it('refuses in Octavia’s words and leaves nothing behind', async () => {
    const before = await census();
    const l = (extra: Record<string, unknown>) => ({ protocol: 'HTTP', protocol_port: 8080, ...extra });
    const pool = (extra: Record<string, unknown> = {}) => ({ protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN', ...extra });
    fault(
      await create({ listeners: [l({ default_pool: pool() })] }),
      400,
      'Validation failure: Pools must be named when creating a fully populated loadbalancer.',
    );
    fault(
      await create({ listeners: [l({ default_pool: { name: 'x' } })] }),
      400,
      "Validation failure: Pool 'x' was referenced but no full definition was found.",
    );
    fault(
      await create({ pools: [pool({ name: 'a' }), pool({ name: 'a' })] }),
      400,
      'Validation failure: Pool names must be unique when creating a fully populated loadbalancer.',
    );
    fault(
      await create({ pools: [{ name: 'a', lb_algorithm: 'ROUND_ROBIN' }] }),
      400,
      "Validation failure: Pool definition for 'a' missing required attribute: protocol",
    );
    // A name and one more attribute is a whole pool, not a reference.
    fault(
      await create({ listeners: [l({ default_pool: { name: 'x', protocol: 'HTTP' } })] }),
      400,
      "Validation failure: Pool definition for 'x' missing required attribute: lb_algorithm",
    );
    fault(
      await create({ listeners: [l({ protocol: 'UDP', default_pool: pool({ name: 'u' }) })] }),
      400,
      "Validation failure: The pool protocol 'HTTP' is invalid while the listener protocol is 'UDP'.",
    );
    fault(await create({ listeners: [l({}), l({})] }), 409, 'Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 8080');
    fault(
      await create({ pools: [pool({ name: 'a', members: [{ address: '169.254.169.254', protocol_port: 80 }] })] }),
      400,
      '169.254.169.254 is not a valid option for member address',
    );
    fault(
      await create({
        pools: [
          pool({
            name: 'a',
            members: [
              { address: '10.0.0.1', protocol_port: 80 },
              { address: '10.0.0.1', protocol_port: 80 },
            ],
          }),
        ],
      }),
      409,
      'Another member on this pool is already using ip 10.0.0.1 on protocol_port 80',
    );
    fault(
      await create({ listeners: [l({ l7policies: [{ action: 'REJECT', rules: [{ type: 'HEADER', compare_type: 'EQUAL_TO', value: 'x' }] }] })] }),
      400,
      'Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key',
    );
    // The body parser's words for nested objects are WSME's, as for any body.
    fault(await create({ listeners: [{ protocol: 'HTTP' }] }), 400, "Invalid input for field/attribute protocol_port. Value: 'None'. Mandatory field missing.");
    fault(await create({ listeners: [l({ bogus: 1 })] }), 400, 'Unknown attribute for argument load_balancer.loadbalancer.listeners: bogus');
    fault(
      await create({ pools: [pool({ name: 'a', healthmonitor: { type: 'HTTP', delay: 1, timeout: 1 } })] }),
      400,
      "Invalid input for field/attribute max_retries. Value: 'None'. Mandatory field missing.",
    );
    expect(await census()).toEqual(before);
  });

  it('counts the graph against the project’s quotas, all or nothing', async () => {
    const project = (await show('loadbalancers')).body.loadbalancers[0].project_id;
    expect((await c.admin.put(path(`quotas/${project}`), { quota: { pool: 1 } })).status).toBe(202);
    try {
      const before = await census();
      const r = await create({
        pools: [
          { name: 'a', protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' },
          { name: 'b', protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' },
        ],
      });
      fault(r, 403, 'Quota has been met for resources: Pool');
      expect(await census()).toEqual(before);
    } finally {
      await c.admin.delete(path(`quotas/${project}`));
    }
  });

  it('refuses a member on another project’s subnet', async () => {
    const foreign = await makeSubnet(c.net.admin, '10.77.0.0/24', 'foreign');
    const r = await create({
      pools: [
        { name: 'a', protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN', members: [{ address: '10.77.0.5', protocol_port: 80, subnet_id: foreign.subnetId }] },
      ],
    });
    fault(r, 400, `Subnet ${foreign.subnetId} not found.`);
  });
});

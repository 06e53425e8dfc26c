/**
 * Real objects for the fuzzer's paths and references: one of each kind the five services serve,
 * owned by `demo`, plus a second project (`alt`, a plain member) whose token makes every request
 * a cross-project one some of the time. Ids are kept by the path segment that names their kind,
 * so `/v2.0/:collection/:id` gets a real network id after `networks`.
 */
import { ADMIN_PASSWORD, Client, DEMO_PASSWORD, type TestCloud, tokenFor } from '../cloud.js';
import { until } from '../poll.js';

export interface Fixtures {
  tokens: { admin: string; demo: string; alt: string };
  projects: { admin: string; demo: string; alt: string };
  /** Ids by the literal path segment before them (`networks`, `servers`, `members` …), or by parameter name. */
  ids: Map<string, string[]>;
  /** Ids of what `demo` owns: what another project's member must not see or use. */
  demoOwned: Set<string>;
}

function need<T>(what: string, r: { status: number; body: T }, ...ok: number[]): T {
  if (!ok.includes(r.status)) throw new Error(`fixture ${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

export async function makeFixtures(tc: TestCloud): Promise<Fixtures> {
  const apps = tc.cloud.apps;
  const admin = await tokenFor(tc, 'admin', ADMIN_PASSWORD);
  const demo = await tokenFor(tc, 'demo', DEMO_PASSWORD);
  const ids = new Map<string, string[]>();
  const add = (key: string, id: string) => ids.set(key, [...(ids.get(key) ?? []), id]);
  const demoOwned = new Set<string>();
  const as = (service: string, token: string) => new Client(apps.get(service)!, token);

  // Identity: a second project with a member of its own.
  const ida = as('identity', admin);
  const altProject = need('project', await ida.post('/v3/projects', { project: { name: 'alt', domain_id: 'default' } }), 201) as { project: { id: string } };
  const altUser = need(
    'user',
    await ida.post('/v3/users', { user: { name: 'alt', password: 'alt-secret', default_project_id: altProject.project.id } }),
    201,
  ) as {
    user: { id: string };
  };
  const roles = need('roles', await ida.get('/v3/roles'), 200) as { roles: Array<{ id: string; name: string }> };
  const member = roles.roles.find((r) => r.name === 'member')!;
  need('grant', await ida.put(`/v3/projects/${altProject.project.id}/users/${altUser.user.id}/roles/${member.id}`), 204);
  const alt = await tokenFor(tc, 'alt', 'alt-secret');
  const projects = need('projects', await ida.get('/v3/projects'), 200) as { projects: Array<{ id: string; name: string }> };
  const pid = (n: string) => projects.projects.find((p) => p.name === n)!.id;
  // Other services' quotas and members name the real projects; identity's own paths get objects
  // made to be spoilt (a fuzzed DELETE or `enabled: false` must not end the fuzzer's tokens).
  for (const p of projects.projects) for (const k of ['project', 'member', 'members', 'os-quota-sets', 'quotas']) add(k, p.id);
  const victimProject = need('victim project', await ida.post('/v3/projects', { project: { name: 'fz-victim' } }), 201) as { project: { id: string } };
  const victimUser = need('victim user', await ida.post('/v3/users', { user: { name: 'fz-victim', password: 'fz-victim-secret' } }), 201) as {
    user: { id: string };
  };
  const victimRole = need('victim role', await ida.post('/v3/roles', { role: { name: 'fz-victim' } }), 201) as { role: { id: string } };
  const victimDomain = need('victim domain', await ida.post('/v3/domains', { domain: { name: 'fz-victim' } }), 201) as { domain: { id: string } };
  for (const k of ['projects', 'target']) add(k, victimProject.project.id);
  for (const k of ['users', 'user']) add(k, victimUser.user.id);
  for (const k of ['roles', 'role', 'prior', 'implied']) add(k, victimRole.role.id);
  for (const k of ['domains', 'target']) add(k, victimDomain.domain.id);
  const regions = need('regions', await ida.get('/v3/regions'), 200) as { regions: Array<{ id: string }> };
  for (const r of regions.regions) add('regions', r.id);
  const services = need('services', await ida.get('/v3/services'), 200) as { services: Array<{ id: string }> };
  for (const s of services.services) add('services', s.id);
  const endpoints = need('endpoints', await ida.get('/v3/endpoints'), 200) as { endpoints: Array<{ id: string }> };
  for (const e of endpoints.endpoints.slice(0, 3)) add('endpoints', e.id);

  // Neutron, as demo.
  const net = as('network', demo);
  const netAdmin = as('network', admin);
  const n = need('network', await net.post('/v2.0/networks', { network: { name: 'fz' } }), 201) as { network: { id: string } };
  const s = need('subnet', await net.post('/v2.0/subnets', { subnet: { network_id: n.network.id, cidr: '10.9.0.0/24', ip_version: 4 } }), 201) as {
    subnet: { id: string };
  };
  const p = need('port', await net.post('/v2.0/ports', { port: { network_id: n.network.id } }), 201) as { port: { id: string } };
  const rt = need('router', await net.post('/v2.0/routers', { router: { name: 'fz' } }), 201) as { router: { id: string } };
  const sg = need('sg', await net.post('/v2.0/security-groups', { security_group: { name: 'fz' } }), 201) as { security_group: { id: string } };
  const sgr = need(
    'sg rule',
    await net.post('/v2.0/security-group-rules', { security_group_rule: { security_group_id: sg.security_group.id, direction: 'ingress' } }),
    201,
  ) as {
    security_group_rule: { id: string };
  };
  const sp = need(
    'subnetpool',
    await net.post('/v2.0/subnetpools', { subnetpool: { name: 'fz', prefixes: ['10.100.0.0/16'], default_prefixlen: 24 } }),
    201,
  ) as {
    subnetpool: { id: string };
  };
  const ml = need('metering label', await netAdmin.post('/v2.0/metering/metering-labels', { metering_label: { name: 'fz' } }), 201) as {
    metering_label: { id: string };
  };
  const mlr = need(
    'metering rule',
    await netAdmin.post('/v2.0/metering/metering-label-rules', {
      metering_label_rule: { metering_label_id: ml.metering_label.id, remote_ip_prefix: '10.0.0.0/8', direction: 'ingress' },
    }),
    201,
  ) as { metering_label_rule: { id: string } };
  const adminNet = need('admin network', await netAdmin.post('/v2.0/networks', { network: { name: 'fz-admin' } }), 201) as { network: { id: string } };
  add('networks', n.network.id);
  add('networks', adminNet.network.id);
  add('network', n.network.id);
  add('subnets', s.subnet.id);
  add('ports', p.port.id);
  add('port', p.port.id);
  add('routers', rt.router.id);
  add('security-groups', sg.security_group.id);
  add('security-group-rules', sgr.security_group_rule.id);
  add('subnetpools', sp.subnetpool.id);
  add('metering-labels', ml.metering_label.id);
  add('metering-label-rules', mlr.metering_label_rule.id);
  add('network-ip-availabilities', n.network.id);
  add('tag', 'red');
  add('tags', 'red');
  add('action', 'add_router_interface');
  add('action', 'remove_router_interface');
  add('action', 'add_extraroutes');
  add('action', 'remove_extraroutes');
  add('action', 'deactivate');
  add('action', 'reactivate');
  add('alias', 'router');
  add('alias', 'quotas');

  // Glance and Nova, as demo.
  const img = as('image', demo);
  const im = need('image', await img.post('/v2/images', { name: 'fz', disk_format: 'raw', container_format: 'bare' }), 201) as { id: string };
  add('images', im.id);
  const imgs = need('images', await img.get('/v2/images'), 200) as { images: Array<{ id: string }> };
  const cirros = imgs.images.find((i) => i.id !== im.id)!.id;
  add('images', cirros);
  const nova = as('compute', demo);
  const V = { 'openstack-api-version': 'compute 2.46' };
  const srv = need(
    'server',
    await nova.post('/v2.1/servers', { server: { name: 'fz', flavorRef: '1', imageRef: cirros, networks: [{ uuid: n.network.id }] } }, V),
    202,
  ) as {
    server: { id: string };
  };
  add('servers', srv.server.id);
  await until(
    'server ACTIVE',
    () => nova.get(`/v2.1/servers/${srv.server.id}`),
    (r) => r.body.server?.status === 'ACTIVE',
    20_000,
    20,
  );
  need('keypair', await nova.post('/v2.1/os-keypairs', { keypair: { name: 'fz' } }), 200, 201);
  add('os-keypairs', 'fz');
  add('name', 'fz');
  for (const f of ['1', '42']) add('flavors', f);
  add('key', 'color');
  const ports = need('server ports', await net.get(`/v2.0/ports?device_id=${srv.server.id}`), 200) as { ports: Array<{ id: string }> };
  for (const x of ports.ports) add('os-interface', x.id);
  add('ips', 'fz');
  add('os-hypervisors', '1');

  // Octavia, as demo (catalog objects as admin).
  const lb = as('load-balancer', demo);
  const lbAdmin = as('load-balancer', admin);
  const l = need('lb', await lb.post('/v2/lbaas/loadbalancers', { loadbalancer: { name: 'fz', vip_subnet_id: s.subnet.id } }), 201) as {
    loadbalancer: { id: string };
  };
  const active = () =>
    until(
      'lb ACTIVE',
      () => lb.get(`/v2/lbaas/loadbalancers/${l.loadbalancer.id}`),
      (r) => r.body.loadbalancer?.provisioning_status === 'ACTIVE',
      20_000,
      20,
    );
  await active();
  const li = need(
    'listener',
    await lb.post('/v2/lbaas/listeners', { listener: { loadbalancer_id: l.loadbalancer.id, protocol: 'HTTP', protocol_port: 80 } }),
    201,
  ) as {
    listener: { id: string };
  };
  await active();
  const po = need('pool', await lb.post('/v2/lbaas/pools', { pool: { listener_id: li.listener.id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } }), 201) as {
    pool: { id: string };
  };
  await active();
  const me = need('member', await lb.post(`/v2/lbaas/pools/${po.pool.id}/members`, { member: { address: '10.9.0.20', protocol_port: 80 } }), 201) as {
    member: { id: string };
  };
  await active();
  const hm = need(
    'hm',
    await lb.post('/v2/lbaas/healthmonitors', { healthmonitor: { pool_id: po.pool.id, type: 'HTTP', delay: 3, timeout: 3, max_retries: 3 } }),
    201,
  ) as {
    healthmonitor: { id: string };
  };
  await active();
  const l7 = need('l7policy', await lb.post('/v2/lbaas/l7policies', { l7policy: { listener_id: li.listener.id, action: 'REJECT' } }), 201) as {
    l7policy: { id: string };
  };
  await active();
  const rule = need(
    'l7rule',
    await lb.post(`/v2/lbaas/l7policies/${l7.l7policy.id}/rules`, { rule: { type: 'PATH', compare_type: 'STARTS_WITH', value: '/x' } }),
    201,
  ) as {
    rule: { id: string };
  };
  await active();
  const fp = need(
    'flavorprofile',
    await lbAdmin.post('/v2/lbaas/flavorprofiles', { flavorprofile: { name: 'fz', provider_name: 'amphora', flavor_data: '{}' } }),
    201,
  ) as {
    flavorprofile: { id: string };
  };
  const fl = need('flavor', await lbAdmin.post('/v2/lbaas/flavors', { flavor: { name: 'fz', flavor_profile_id: fp.flavorprofile.id } }), 201) as {
    flavor: { id: string };
  };
  const azp = need(
    'az profile',
    await lbAdmin.post('/v2/lbaas/availabilityzoneprofiles', {
      availability_zone_profile: { name: 'fz', provider_name: 'amphora', availability_zone_data: '{}' },
    }),
    201,
  ) as { availability_zone_profile: { id: string } };
  need(
    'az',
    await lbAdmin.post('/v2/lbaas/availabilityzones', { availability_zone: { name: 'fz', availability_zone_profile_id: azp.availability_zone_profile.id } }),
    201,
  );
  add('loadbalancers', l.loadbalancer.id);
  add('listeners', li.listener.id);
  add('pools', po.pool.id);
  add('mid', me.member.id);
  add('healthmonitors', hm.healthmonitor.id);
  add('l7policies', l7.l7policy.id);
  add('rid', rule.rule.id);
  add('flavorprofiles', fp.flavorprofile.id);
  add('flavors', fl.flavor.id);
  add('availabilityzoneprofiles', azp.availability_zone_profile.id);
  add('availabilityzones', 'fz');
  add('p', 'amphora');
  add('p', 'pocketstack');
  const amph = need('amphorae', await lbAdmin.get('/v2/octavia/amphorae'), 200) as { amphorae: Array<{ id: string }> };
  for (const a of amph.amphorae) add('amphorae', a.id);

  for (const id of [
    n.network.id,
    s.subnet.id,
    p.port.id,
    rt.router.id,
    sg.security_group.id,
    sgr.security_group_rule.id,
    sp.subnetpool.id,
    im.id,
    srv.server.id,
  ]) {
    demoOwned.add(id);
  }
  for (const id of [l.loadbalancer.id, li.listener.id, po.pool.id, me.member.id, hm.healthmonitor.id, l7.l7policy.id, rule.rule.id]) demoOwned.add(id);
  for (const x of ports.ports) demoOwned.add(x.id);
  return { tokens: { admin, demo, alt }, projects: { admin: pid('admin'), demo: pid('demo'), alt: altProject.project.id }, ids, demoOwned };
}

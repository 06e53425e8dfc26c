import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../../src/api/http.js';
import { DASHBOARD_PUBLIC_ROUTES } from '../../src/dashboard/app.js';
import { ADMIN_PASSWORD, Client, DEMO_PASSWORD, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';

/**
 * The dashboard's API: Keystone login, the topology read through the OpenStack APIs with the
 * caller's own token (so a member sees only its project, an admin every project), live changes
 * from the unit of work filtered the same way, and explain's answers to bad input.
 */
let tc: TestCloud;
let dash: Client;
let demo: Client;
let demoToken: string;
let adminToken: string;
let admin: Client;
let demoNet: Client;
let adminNet: Client;

const login = async (username: string, password: string, extra: Record<string, string> = {}) => dash.post('/api/login', { username, password, ...extra });

beforeAll(async () => {
  tc = await startCloud();
  dash = new Client(tc.cloud.dashboard);
  const d = await login('demo', DEMO_PASSWORD);
  const a = await login('admin', ADMIN_PASSWORD);
  demoToken = d.body.token;
  adminToken = a.body.token;
  demo = dash.withToken(demoToken);
  admin = dash.withToken(adminToken);
  ({ demo: demoNet, admin: adminNet } = await serviceClients(tc, 'network'));
});
afterAll(async () => tc.stop());

describe('routes', () => {
  it('answers only the page, its assets and the login without a token', async () => {
    expect([...routeTable(tc.cloud.dashboard).publicRoutes].sort()).toEqual([...DASHBOARD_PUBLIC_ROUTES].sort());
    const { registered, publicRoutes } = routeTable(tc.cloud.dashboard);
    for (const route of registered) {
      if (publicRoutes.has(route) || route.startsWith('HEAD ')) continue;
      const [method, path] = route.split(' ');
      const res = await dash.request(method, path);
      expect(res.status, route).toBe(401);
      expect(res.body.error).toMatchObject({ code: 401, title: 'Unauthorized' });
    }
  });

  it('serves the page with a strict content security policy, and cytoscape from node_modules', async () => {
    const page = await dash.get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self' 'sha256-/);
    expect(String(page.body)).toContain('/assets/cytoscape.mjs');
    const cy = await dash.get('/assets/cytoscape.mjs');
    expect(cy.status).toBe(200);
    expect(cy.headers['content-type']).toMatch(/javascript/);
    expect((await dash.get('/assets/..%2Fpackage.json')).status).toBe(404);
    expect((await dash.get('/assets/nothing.js')).status).toBe(404);
  });
});

describe('login', () => {
  it('gives a project-scoped token, the projects and whether the user is an admin', async () => {
    const d = await login('demo', DEMO_PASSWORD);
    expect(d.status).toBe(200);
    expect(d.body).toMatchObject({ user: { name: 'demo' }, project: { name: 'demo' }, isAdmin: false });
    expect(d.body.projects.map((p: { name: string }) => p.name)).toEqual(['demo']);
    const a = await login('admin', ADMIN_PASSWORD);
    expect(a.body.isAdmin).toBe(true);
  });

  it('refuses a wrong password the way Keystone does, and bad bodies clearly', async () => {
    const bad = await login('demo', 'wrong');
    expect(bad.status).toBe(401);
    expect(bad.body.token).toBeUndefined();
    expect((await dash.post('/api/login', 'not json')).status).toBe(400);
    expect((await dash.post('/api/login', { username: 'demo' })).status).toBe(400);
    const other = await login('demo', DEMO_PASSWORD, { project: 'admin' });
    expect(other.status).toBe(403);
  });

  it('an invalid or revoked token is a 401 (the page goes back to login)', async () => {
    expect((await dash.withToken('nope').get('/api/topology')).status).toBe(401);
    const d = await login('demo', DEMO_PASSWORD);
    const identity = new Client(tc.cloud.apps.get('identity')!, d.body.token);
    expect((await identity.delete('/v3/auth/tokens', { 'x-subject-token': d.body.token })).status).toBe(204);
    expect((await dash.withToken(d.body.token).get('/api/session')).status).toBe(401);
  });

  it('describes the session of a token (a reload of the page)', async () => {
    const s = await demo.get('/api/session');
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ user: { name: 'demo' }, project: { name: 'demo' }, isAdmin: false });
  });
});

describe('topology', () => {
  let netId: string;
  beforeAll(async () => {
    netId = (await demoNet.post('/v2.0/networks', { network: { name: 'webserver_network' } })).body.network.id;
    await demoNet.post('/v2.0/subnets', { subnet: { network_id: netId, cidr: '10.0.2.0/24', ip_version: 4, name: 'webserver_subnet' } });
    const admNet = (await adminNet.post('/v2.0/networks', { network: { name: 'admin-only' } })).body.network.id;
    await adminNet.post('/v2.0/ports', { port: { network_id: admNet, name: 'admin-port' } });
    const router = (await demoNet.post('/v2.0/routers', { router: { name: 'project_router' } })).body.router.id;
    const pub = (await demoNet.get('/v2.0/networks?name=public')).body.networks[0].id;
    await demoNet.put(`/v2.0/routers/${router}`, { router: { external_gateway_info: { network_id: pub } } });
    const sub = (await demoNet.get('/v2.0/subnets?name=webserver_subnet')).body.subnets[0].id;
    await demoNet.put(`/v2.0/routers/${router}/add_router_interface`, { subnet_id: sub });
    await demoNet.post('/v2.0/ports', { port: { network_id: netId, name: 'p1' } });
    await demoNet.post('/v2.0/floatingips', { floatingip: { floating_network_id: pub } });
  });

  it('shows a member its project: the external network, its router, networks, ports and floating IPs, nothing of others', async () => {
    const t = await demo.get('/api/topology');
    expect(t.status).toBe(200);
    const labels = t.body.nodes.map((n: { label: string }) => n.label.split('\n')[0]);
    expect(labels).toEqual(expect.arrayContaining(['public', 'project_router', 'webserver_network']));
    expect(labels).not.toContain('admin-only');
    const kinds = new Set(t.body.nodes.map((n: { kind: string }) => n.kind));
    expect([...kinds]).toEqual(expect.arrayContaining(['network', 'router', 'port', 'floatingip']));
    expect(t.body.edges.some((e: { kind: string }) => e.kind === 'gateway')).toBe(true);
    expect(t.body.edges.some((e: { kind: string; target: string }) => e.kind === 'interface' && e.target === netId)).toBe(true);
    // A member cannot widen its view with ?project=.
    const other = await demo.get('/api/topology?project=all');
    expect(other.body.nodes.map((n: { label: string }) => n.label.split('\n')[0])).not.toContain('admin-only');
  });

  it('shows an admin every project, or the one it picks', async () => {
    const all = await admin.get('/api/topology');
    const labels = all.body.nodes.map((n: { label: string }) => n.label.split('\n')[0]);
    expect(labels).toEqual(expect.arrayContaining(['admin-only', 'webserver_network']));
    const demoProject = (await login('demo', DEMO_PASSWORD)).body.project.id;
    const one = await admin.get(`/api/topology?project=${demoProject}`);
    const only = one.body.nodes.map((n: { label: string }) => n.label.split('\n')[0]);
    expect(only).toContain('webserver_network');
    expect(only).not.toContain('admin-only');
  });

  it('draws what fits and summarises the rest when a network holds thousands of ports', async () => {
    const big = (await demoNet.post('/v2.0/networks', { network: { name: 'big' } })).body.network.id;
    await demoNet.post('/v2.0/subnets', { subnet: { network_id: big, cidr: '10.9.0.0/16', ip_version: 4 } });
    await tc.cloud.services.network.uow.run(async () => undefined);
    const quota = await adminNet.put(`/v2.0/quotas/${(await login('demo', DEMO_PASSWORD)).body.project.id}`, { quota: { port: -1 } });
    expect(quota.status).toBe(200);
    for (let i = 0; i < 1200; i += 100) {
      await Promise.all(Array.from({ length: 100 }, () => demoNet.post('/v2.0/ports', { port: { network_id: big } })));
    }
    const started = Date.now();
    const t = await demo.get('/api/topology');
    const ms = Date.now() - started;
    expect(t.status).toBe(200);
    const summary = t.body.nodes.find((n: { kind: string; detail: { network_id: string } }) => n.kind === 'summary' && n.detail.network_id === big);
    expect(summary.label).toMatch(/\+ 1,1\d\d more ports/);
    expect(t.body.nodes.length).toBeLessThanOrEqual(400);
    expect(t.body.summary.ports).toBeGreaterThanOrEqual(1200);
    expect(ms).toBeLessThan(5000);
  }, 120_000);
});

describe('live changes', () => {
  it('streams a change of the viewer’s project within a second, and nothing of another project', async () => {
    const app = tc.cloud.dashboard;
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address() as { port: number };
    const read = async (token: string) => {
      const ctl = new AbortController();
      const res = await fetch(`http://127.0.0.1:${addr.port}/api/events`, { headers: { 'x-auth-token': token }, signal: ctl.signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      const until = async (re: RegExp, ms: number) => {
        const deadline = Date.now() + ms;
        while (!re.test(text) && Date.now() < deadline) {
          const r = await Promise.race([reader.read(), new Promise<null>((ok) => setTimeout(() => ok(null), deadline - Date.now()))]);
          if (!r || r.done) break;
          text += r.value;
        }
        return re.test(text);
      };
      return { until, close: () => ctl.abort(), text: () => text };
    };
    const demoStream = await read(demoToken);
    const adminStream = await read(adminToken);
    expect(await demoStream.until(/event: hello/, 2000)).toBe(true);
    expect(await adminStream.until(/event: hello/, 2000)).toBe(true);
    const t0 = Date.now();
    const net = (await adminNet.post('/v2.0/networks', { network: { name: 'admins' } })).body.network.id;
    expect(await adminStream.until(new RegExp(net), 1000)).toBe(true);
    const mine = (await demoNet.post('/v2.0/networks', { network: { name: 'mine' } })).body.network.id;
    expect(await demoStream.until(new RegExp(mine), 1000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(demoStream.text()).not.toContain(net);
    demoStream.close();
    adminStream.close();
  });
});

describe('explain input', () => {
  it('answers malformed queries with 400 and unknown or foreign ids with the same 404', async () => {
    expect((await demo.get('/explain')).status).toBe(400);
    expect((await demo.get('/explain?from=internet&to=x&protocol=gre&port=1')).status).toBe(400);
    expect((await demo.get('/explain?from=internet&to=x&protocol=tcp&port=70000')).status).toBe(400);
    expect((await demo.get('/explain?from=internet&to=x&protocol=tcp')).status).toBe(400);
    const unknown = await demo.get('/explain?from=internet&to=f0e1d2c3-0000-4000-8000-000000000000&protocol=tcp&port=80');
    expect(unknown.status).toBe(404);
    const adminPort = (await adminNet.get('/v2.0/ports?name=admin-port')).body.ports[0].id;
    const foreign = await demo.get(`/explain?from=internet&to=${adminPort}&protocol=tcp&port=80`);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.message.replace(adminPort, 'X')).toBe(unknown.body.error.message.replace('f0e1d2c3-0000-4000-8000-000000000000', 'X'));
  });

  it('explains on the noop data plane from the model alone, and says no probe was sent', async () => {
    const fip = (await demoNet.get('/v2.0/floatingips')).body.floatingips[0];
    const res = await demo.get(`/explain?from=internet&to=${fip.floating_ip_address}&protocol=tcp&port=80`);
    expect(res.status).toBe(200);
    expect(res.body.verdict).toBe('denied');
    expect(res.body.reason).toMatch(/not associated/);
    expect(res.body.probe).toMatchObject({ outcome: 'not sent' });
  });
});

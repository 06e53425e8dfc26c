import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../../src/api/http.js';
import { type TestCloud, startCloud } from '../support/cloud.js';

/**
 * Authentication is one hook per app with an explicit list of public routes: every other route,
 * including one added tomorrow, answers 401 without a token, in the service's own format.
 */

let tc: TestCloud;

beforeAll(async () => {
  tc = await startCloud();
});
afterAll(async () => tc.stop());

/** Each service's public routes, as the real service serves them without a token. */
const PUBLIC: Record<string, string[]> = {
  identity: [
    'GET /',
    'GET /v3',
    'GET /v2.0',
    'POST /v2.0/tokens',
    'POST /v3/auth/tokens',
    'POST /v3/users/:id/password',
    // OAuth1's token exchanges are signed by the consumer, not made with a Keystone token.
    'POST /v3/OS-OAUTH1/request_token',
    'POST /v3/OS-OAUTH1/access_token',
    // /v3/s3tokens and /v3/ec2tokens are not among them: Keystone asks a service or admin token
    // for them since OSSA-2025-002.
    ...['/v3/auth/OS-FEDERATION/*'].flatMap((p) => ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => `${m} ${p}`)),
    'GET /v3/auth/tokens/OS-PKI/revoked',
    // Gone, to everyone: Keystone keeps OS-SIMPLE-CERT's paths only to answer 410.
    'GET /v3/OS-SIMPLE-CERT/ca',
    'GET /v3/OS-SIMPLE-CERT/certificates',
  ],
  network: ['GET /', 'GET /v2.0'],
  compute: ['GET /'],
  image: ['GET /', 'GET /versions'],
  'load-balancer': ['GET /', 'GET /v2', 'GET /v2.0'],
  'key-manager': ['GET /'],
};

/** A concrete URL for a route pattern: each parameter and wildcard becomes a made-up id. */
const concrete = (path: string) => path.replace(/:[A-Za-z_]+/g, 'f0e1d2c3-0000-4000-8000-000000000000').replace(/\*/g, 'x');

describe.each(Object.keys(PUBLIC))('%s', (service) => {
  it('lists exactly the expected public routes', () => {
    const app = tc.cloud.apps.get(service)!;
    expect([...routeTable(app).publicRoutes].sort()).toEqual([...PUBLIC[service]].sort());
  });

  it('answers 401 without a token on every other route, in its own error format', async () => {
    const app = tc.cloud.apps.get(service)!;
    const { registered, publicRoutes } = routeTable(app);
    const closed = [...registered].filter((r) => !publicRoutes.has(r) && !(r.startsWith('HEAD ') && publicRoutes.has(`GET ${r.slice(5)}`)));
    expect(closed.length).toBeGreaterThan(0);
    for (const route of closed) {
      const [method, path] = route.split(' ');
      const res = await app.inject({ method: method as 'GET', url: concrete(path), payload: method === 'GET' || method === 'HEAD' ? undefined : '{}' });
      expect(res.statusCode, route).toBe(401);
      if (method === 'HEAD') continue;
      const body = res.json();
      // Keystone's envelope; keystonemiddleware answers with the same one in front of the others.
      expect(body.error, route).toMatchObject({ code: 401, title: 'Unauthorized' });
      expect(res.headers['www-authenticate'], route).toMatch(/^Keystone uri="/);
    }
  });

  it('answers public routes without a token', async () => {
    const app = tc.cloud.apps.get(service)!;
    for (const route of routeTable(app).publicRoutes) {
      const [method, path] = route.split(' ');
      const res = await app.inject({ method: method as 'GET', url: concrete(path), payload: method === 'GET' ? undefined : '{}' });
      expect(res.statusCode, route).not.toBe(401);
    }
  });
});

describe('paths no route serves', () => {
  it('need a token behind keystonemiddleware (Neutron, Nova, Glance, Octavia)', async () => {
    for (const service of ['network', 'compute', 'image', 'load-balancer']) {
      const res = await tc.cloud.apps.get(service)!.inject({ method: 'GET', url: '/no/such/path' });
      expect(res.statusCode, service).toBe(401);
    }
  });

  it('are Keystone’s own 404 without a token', async () => {
    const res = await tc.cloud.apps.get('identity')!.inject({ method: 'GET', url: '/v3/no-such-thing' });
    expect(res.statusCode).toBe(404);
  });
});

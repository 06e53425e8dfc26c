import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, Client, DEMO_PASSWORD, type Response, type TestCloud, startCloud, tokenFor } from '../support/cloud.js';

/**
 * Replays the calls captured from the real Keystone (Zed) (test/fixtures/keystone-golden, from
 * shared/reference/keystone/golden) against PocketStack, with our own ids, and compares what a client sees: status, the headers
 * Keystone sends, the body's shape (keys in order, value types) and error messages.
 */

const GOLDEN = fileURLToPath(new URL('../fixtures/keystone-golden', import.meta.url));

interface Captured {
  status: number;
  headers: Map<string, string>;
  body: unknown;
}

function golden(name: string): Captured {
  const text = readFileSync(`${GOLDEN}/${name}.http`, 'utf8').replace(/\r\n/g, '\n');
  const resp = text.slice(text.indexOf('### response\n') + '### response\n'.length);
  const blank = resp.indexOf('\n\n');
  const head = blank < 0 ? resp : resp.slice(0, blank);
  const rest = blank < 0 ? '' : resp.slice(blank + 2).trim();
  const [statusLine, ...lines] = head.split('\n');
  const headers = new Map(lines.filter(Boolean).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  let body: unknown;
  try {
    body = rest ? JSON.parse(rest) : undefined;
  } catch {
    body = rest;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

/** Keys in order and value types; arrays by their first element. */
function shape(v: unknown): unknown {
  if (v === null) return null;
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (typeof v === 'object') return Object.entries(v as object).map(([k, x]) => [k, shape(x)]);
  return typeof v;
}

/** Error messages with ids (hex, tokens) masked and Keystone's schema dump cut off. */
const maskMessage = (m: string) => m.split('\n')[0].replace(/[0-9a-f]{32}/g, 'ID');

function compare(name: string, ours: Response, opts: { skipBodyShape?: boolean } = {}) {
  const g = golden(name);
  expect(ours.status, `${name}: status`).toBe(g.status);
  expect(ours.headers.vary, `${name}: Vary`).toBe(g.headers.get('vary'));
  expect(ours.headers['x-openstack-request-id'], `${name}: request id`).toMatch(/^req-[0-9a-f-]{36}$/);
  for (const h of ['x-subject-token', 'www-authenticate', 'location', 'allow']) {
    expect(ours.headers[h] !== undefined, `${name}: ${h} present`).toBe(g.headers.has(h));
  }
  expect(ours.headers['content-type'], `${name}: content-type`).toBe(g.headers.get('content-type'));
  if (g.headers.has('x-subject-token')) expect(ours.headers['x-subject-token']).toMatch(/^gAAAAA[A-Za-z0-9_-]+$/);
  if (g.headers.has('www-authenticate')) expect(ours.headers['www-authenticate']).toMatch(/^Keystone uri="http:\/\/[^"]+\/v3"$/);
  const gb = g.body as Record<string, any> | undefined;
  if (gb && typeof gb === 'object' && gb.error) {
    expect(maskMessage(ours.body.error.message), `${name}: message`).toBe(maskMessage(gb.error.message));
    expect(ours.body.error.title).toBe(gb.error.title);
    expect(Object.keys(ours.body.error)).toEqual(Object.keys(gb.error));
  } else if (!opts.skipBodyShape) {
    expect(shape(ours.body), `${name}: body shape`).toEqual(shape(gb));
  }
}

let tc: TestCloud;
let anon: Client;
let admin: Client;
let adminToken: string;
const ids: Record<string, string> = {};

const pw = (user: object, password: string, scope?: object) => ({
  auth: { identity: { methods: ['password'], password: { user: { ...user, password } } }, ...(scope ? { scope } : {}) },
});
const byName = { name: 'admin', domain: { name: 'Default' } };
const adminProject = { project: { name: 'admin', domain: { name: 'Default' } } };

beforeAll(async () => {
  tc = await startCloud();
  anon = new Client(tc.cloud.apps.get('identity')!);
  adminToken = await tokenFor(tc, 'admin', ADMIN_PASSWORD);
  admin = anon.withToken(adminToken);
  const t = (await admin.get('/v3/auth/tokens', { 'x-subject-token': adminToken })).body.token;
  ids.adminUser = t.user.id;
  ids.adminProject = t.project.id;
  for (const r of (await admin.get('/v3/roles')).body.roles) ids[`role:${r.name}`] = r.id;
});
afterAll(async () => tc.stop());

describe('discovery', () => {
  it('root, root-accept-json, v3, v3-slash', async () => {
    compare('root', await anon.get('/'));
    compare('root-accept-json', await anon.get('/', { accept: 'application/json' }));
    compare('v3', await anon.get('/v3'));
    compare('v3-slash', await anon.get('/v3/'));
  });
});

describe('POST /v3/auth/tokens', () => {
  it('password: by name, by id, nocatalog, unscoped, domain, system', async () => {
    compare('auth-password-project-by-name', await anon.post('/v3/auth/tokens', pw(byName, ADMIN_PASSWORD, adminProject)));
    compare(
      'auth-password-project-by-id',
      await anon.post('/v3/auth/tokens', pw({ id: ids.adminUser }, ADMIN_PASSWORD, { project: { id: ids.adminProject } })),
    );
    compare('auth-password-nocatalog', await anon.post('/v3/auth/tokens?nocatalog', pw(byName, ADMIN_PASSWORD, adminProject)));
    const unscoped = await anon.post('/v3/auth/tokens', pw(byName, ADMIN_PASSWORD));
    compare('auth-password-unscoped', unscoped);
    ids.unscoped = unscoped.headers['x-subject-token'] as string;
    compare('auth-password-domain-scoped', await anon.post('/v3/auth/tokens', pw(byName, ADMIN_PASSWORD, { domain: { name: 'Default' } })));
    compare('auth-password-system-scoped', await anon.post('/v3/auth/tokens', pw(byName, ADMIN_PASSWORD, { system: { all: true } })));
  });

  it('re-scope with the token method', async () => {
    compare(
      'auth-rescope-token-method',
      await anon.post('/v3/auth/tokens', { auth: { identity: { methods: ['token'], token: { id: ids.unscoped } }, scope: adminProject } }),
    );
  });

  it('401s and 400s', async () => {
    compare('auth-wrong-password', await anon.post('/v3/auth/tokens', pw(byName, 'WRONG', adminProject)));
    compare('auth-unknown-user', await anon.post('/v3/auth/tokens', pw({ name: 'nosuchuser', domain: { name: 'Default' } }, 'x', adminProject)));
    compare(
      'auth-unknown-project',
      await anon.post('/v3/auth/tokens', pw(byName, ADMIN_PASSWORD, { project: { name: 'nosuchproject', domain: { name: 'Default' } } })),
    );
    compare('auth-project-name-without-domain', await anon.post('/v3/auth/tokens', pw(byName, ADMIN_PASSWORD, { project: { name: 'admin' } })));
    compare('auth-user-name-without-domain', await anon.post('/v3/auth/tokens', pw({ name: 'admin' }, ADMIN_PASSWORD, adminProject)));
    compare('auth-missing-identity', await anon.post('/v3/auth/tokens', { auth: {} }));
    compare('auth-malformed-json', await anon.post('/v3/auth/tokens', '{"auth": {'));
  });
});

describe('token validation and revocation', () => {
  it('validate, nocatalog, HEAD, bad subjects', async () => {
    compare('token-validate', await admin.get('/v3/auth/tokens', { 'x-subject-token': adminToken }));
    compare('token-validate-nocatalog', await admin.get('/v3/auth/tokens?nocatalog', { 'x-subject-token': adminToken }));
    compare('token-head', await admin.request('HEAD', '/v3/auth/tokens', undefined, { 'x-subject-token': adminToken }));
    compare('token-validate-garbage-subject', await admin.get('/v3/auth/tokens', { 'x-subject-token': 'garbage' }));
    compare('token-validate-no-subject', await admin.get('/v3/auth/tokens'));
  });

  it('auth helpers', async () => {
    compare('auth-catalog', await admin.get('/v3/auth/catalog'));
    compare('auth-projects', await admin.get('/v3/auth/projects'));
    compare('auth-domains', await admin.get('/v3/auth/domains'));
    compare('auth-system', await admin.get('/v3/auth/system'));
    const unscoped = anon.withToken(ids.unscoped);
    compare('auth-projects-unscoped-token', await unscoped.get('/v3/auth/projects'));
    compare('auth-catalog-unscoped-token', await unscoped.get('/v3/auth/catalog'));
  });

  it('revoke, then the revoked token is 404 as a subject and 401 as X-Auth-Token', async () => {
    const t = await anon.post('/v3/auth/tokens', pw(byName, ADMIN_PASSWORD, adminProject));
    compare('auth-for-revoke', t);
    const id = t.headers['x-subject-token'] as string;
    compare('token-delete', await admin.delete('/v3/auth/tokens', { 'x-subject-token': id }));
    compare('token-validate-revoked', await admin.get('/v3/auth/tokens', { 'x-subject-token': id }));
    compare('token-head-revoked', await admin.request('HEAD', '/v3/auth/tokens', undefined, { 'x-subject-token': id }));
    compare('use-revoked-token', await anon.withToken(id).get('/v3/projects'));
    compare('invalid-token', await anon.withToken('garbage').get('/v3/projects'));
    compare('no-token', await anon.get('/v3/projects'));
  });
});

describe('catalog views', () => {
  it('domains, regions, services, endpoints', async () => {
    compare('domains-by-name', await admin.get('/v3/domains?name=Default'));
    compare('domain-show', await admin.get('/v3/domains/default'));
    compare('regions-list', await admin.get('/v3/regions'));
    compare('services-list', await admin.get('/v3/services'));
    compare('endpoints-list', await admin.get('/v3/endpoints'));
    compare('endpoints-list-interface', await admin.get('/v3/endpoints?interface=public'));
  });
});

describe('projects, roles, users, grants (the golden.sh sequence)', () => {
  it('projects', async () => {
    compare('projects-list', await admin.get('/v3/projects'));
    compare('projects-list-by-name', await admin.get('/v3/projects?name=demo'));
    const c = await admin.post('/v3/projects', { project: { name: 'gold-project', description: 'golden test', domain_id: 'default', enabled: true } });
    compare('project-create', c);
    ids.project = c.body.project.id;
    compare('project-create-minimal-dup', await admin.post('/v3/projects', { project: { name: 'gold-project' } }));
    compare('project-create-duplicate', await admin.post('/v3/projects', { project: { name: 'gold-project', domain_id: 'default' } }));
    compare('project-create-invalid', await admin.post('/v3/projects', { project: { description: 'no name' } }));
    compare('project-create-malformed-json', await admin.post('/v3/projects', '{"project": {"name": '));
    compare('project-show', await admin.get(`/v3/projects/${ids.project}`));
    compare('project-show-by-name-404', await admin.get('/v3/projects/gold-project'));
    compare('project-update', await admin.request('PATCH', `/v3/projects/${ids.project}`, { project: { description: 'updated', tags: ['a', 'b'] } }));
  });

  it('roles', async () => {
    compare('roles-list', await admin.get('/v3/roles'), { skipBodyShape: true });
    // The bootstrap roles have no description (null); compare one of them.
    const ours = (await admin.get('/v3/roles?name=member')).body;
    expect(shape(ours)).toEqual(shape(golden('roles-list-by-name').body));
    compare('roles-list-by-name', await admin.get('/v3/roles?name=member'));
    const r = await admin.post('/v3/roles', { role: { name: 'gold-role', description: 'golden' } });
    compare('role-create', r);
    ids.role = r.body.role.id;
    compare('role-create-duplicate', await admin.post('/v3/roles', { role: { name: 'gold-role' } }));
  });

  it('users and grants', async () => {
    compare('users-list', await admin.get('/v3/users'));
    const u = await admin.post('/v3/users', {
      user: { name: 'gold-user', password: 'gold-secret', domain_id: 'default', default_project_id: ids.project, email: 'gold@example.com', enabled: true },
    });
    compare('user-create', u);
    ids.user = u.body.user.id;
    compare('user-create-duplicate', await admin.post('/v3/users', { user: { name: 'gold-user', password: 'x', domain_id: 'default' } }));
    compare('user-show', await admin.get(`/v3/users/${ids.user}`));
    compare('user-update', await admin.request('PATCH', `/v3/users/${ids.user}`, { user: { description: 'upd', password: 'gold-secret2' } }));
    compare('users-list-by-name', await admin.get('/v3/users?name=gold-user'));
    const grant = `/v3/projects/${ids.project}/users/${ids.user}/roles/${ids['role:member']}`;
    compare('role-assign-project-user', await admin.put(grant));
    compare('role-assign-check', await admin.request('HEAD', grant));
    compare('role-assign-project-user-roles', await admin.get(`/v3/projects/${ids.project}/users/${ids.user}/roles`));
    compare('role-assignments-list', await admin.get(`/v3/role_assignments?user.id=${ids.user}&scope.project.id=${ids.project}&include_names`));
    compare('role-assignments-list-effective', await admin.get(`/v3/role_assignments?user.id=${ids.user}&effective&include_names=true`));
    compare('user-projects', await admin.get(`/v3/users/${ids.user}/projects`));
    compare('put-domain-user-role', await admin.put(`/v3/domains/default/users/${ids.adminUser}/roles/${ids['role:admin']}`));
    const member = await anon.post('/v3/auth/tokens', pw({ name: 'gold-user', domain: { id: 'default' } }, 'gold-secret2', { project: { id: ids.project } }));
    compare('auth-member', member);
    compare(
      'user-password-change',
      await anon.post(`/v3/users/${ids.user}/password`, { user: { password: 'gold-secret3', original_password: 'gold-secret2' } }),
    );
    compare('role-unassign', await admin.delete(grant));
    compare('user-delete', await admin.delete(`/v3/users/${ids.user}`));
    compare('user-show-deleted', await admin.get(`/v3/users/${ids.user}`));
    compare('role-delete', await admin.delete(`/v3/roles/${ids.role}`));
    compare('project-delete', await admin.delete(`/v3/projects/${ids.project}`));
    compare('project-show-deleted', await admin.get(`/v3/projects/${ids.project}`));
    compare('project-delete-again', await admin.delete(`/v3/projects/${ids.project}`));
  });

  it('405 as Keystone words it', async () => {
    compare('method-not-allowed', await admin.put('/v3/projects', {}));
  });

  it("passwords never appear in a response (golden.sh's check)", async () => {
    const u = await admin.post('/v3/users', { user: { name: 'secret-user', password: 'secret-pw' } });
    const all = [
      u,
      await admin.get(`/v3/users/${u.body.user.id}`),
      await admin.get('/v3/users'),
      await admin.request('PATCH', `/v3/users/${u.body.user.id}`, { user: { password: 'secret-pw2' } }),
    ];
    for (const r of all) {
      expect(JSON.stringify(r.body)).not.toMatch(/secret-pw|"password":/);
    }
  });
});

describe('where PocketStack answers on purpose unlike Zed', () => {
  it('a member gets 403/200 where the capture shows an artefact 401 (its token was revoked by the password change in the same second)', async () => {
    for (const n of [
      'member-users-list-403',
      'member-project-create-403',
      'member-projects-list',
      'member-own-projects',
      'member-auth-projects',
      'member-validate-own-token',
    ]) {
      expect(golden(n).status).toBe(401);
    }
    const demoToken = await tokenFor(tc, 'demo', DEMO_PASSWORD);
    const demo = anon.withToken(demoToken);
    const me = (await demo.get('/v3/auth/tokens', { 'x-subject-token': demoToken })).body.token.user.id;
    expect((await demo.get('/v3/users')).status).toBe(403);
    expect((await demo.post('/v3/projects', { project: { name: 'x' } })).status).toBe(403);
    expect((await demo.get('/v3/projects')).status).toBe(403);
    expect((await demo.get(`/v3/users/${me}/projects`)).status).toBe(200);
    expect((await demo.get('/v3/auth/projects')).status).toBe(200);
    expect((await demo.get('/v3/auth/tokens', { 'x-subject-token': demoToken })).status).toBe(200);
  });

  it('v2.0 discovery and tokens answer (Zed: HTML 404), so old openrc files work; unknown paths are JSON 404s', async () => {
    expect(golden('v2.0-discovery').status).toBe(404);
    expect(golden('v2.0-tokens').status).toBe(404);
    expect((await anon.get('/v2.0')).status).toBe(200);
    expect(
      (await anon.post('/v2.0/tokens', { auth: { tenantName: 'admin', passwordCredentials: { username: 'admin', password: ADMIN_PASSWORD } } })).status,
    ).toBe(200);
    expect(golden('unknown-path').headers.get('content-type')).toMatch(/^text\/html/);
    const res = await admin.get('/v3/nosuchthing');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/json');
  });
});

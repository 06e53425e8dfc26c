import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, Client, DEMO_PASSWORD, type Response, type TestCloud, startCloud, tokenFor } from '../support/cloud.js';

/** Keystone's admin API: domains, projects, users, roles, grants, assignments, catalog and policy. */

let tc: TestCloud;
let anon: Client;
let admin: Client;
let demo: Client;
let demoToken: string;
let roleIds: Record<string, string>;

const B = 'http://localhost:80';

function expectError(res: Response, code: number, message: string | RegExp) {
  expect(res.status).toBe(code);
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.headers.vary).toBe('X-Auth-Token');
  expect(res.body.error.code).toBe(code);
  if (typeof message === 'string') expect(res.body.error.message).toBe(message);
  else expect(res.body.error.message).toMatch(message);
}
const denied = (action: string) => `You are not authorized to perform the requested action: identity:${action}.`;
const patch = (c: Client, url: string, body: unknown) => c.request('PATCH', url, body);
const head = (c: Client, url: string) => c.request('HEAD', url);

beforeAll(async () => {
  tc = await startCloud();
  anon = new Client(tc.cloud.apps.get('identity')!);
  admin = anon.withToken(await tokenFor(tc, 'admin', ADMIN_PASSWORD));
  demoToken = await tokenFor(tc, 'demo', DEMO_PASSWORD);
  demo = anon.withToken(demoToken);
  const roles = await admin.get('/v3/roles');
  roleIds = Object.fromEntries(roles.body.roles.map((r: { name: string; id: string }) => [r.name, r.id]));
});
afterAll(async () => tc.stop());

const list = (res: Response, key: string) => res.body[key] as Array<Record<string, any>>;

describe('domains', () => {
  it('lists and filters by name; shows Default as Keystone does', async () => {
    const res = await admin.get('/v3/domains?name=Default');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      domains: [
        { id: 'default', name: 'Default', description: 'The default domain', enabled: true, tags: [], options: {}, links: { self: `${B}/v3/domains/default` } },
      ],
      links: { next: null, self: `${B}/v3/domains?name=Default`, previous: null },
    });
    expect(list(await admin.get('/v3/domains?name=Nope'), 'domains')).toEqual([]);
    const show = await admin.get('/v3/domains/default');
    expect(show.body.domain.id).toBe('default');
    expectError(await admin.get('/v3/domains/nope'), 404, 'Could not find domain: nope.');
  });

  it('create, duplicate, update, delete only when disabled (taking its projects and users)', async () => {
    const c = await admin.post('/v3/domains', { domain: { name: 'd1', description: 'first' } });
    expect(c.status).toBe(201);
    const d = c.body.domain;
    expect(d).toMatchObject({ name: 'd1', description: 'first', enabled: true, tags: [], options: {} });
    expect(d.id).toMatch(/^[0-9a-f]{32}$/);
    expectError(
      await admin.post('/v3/domains', { domain: { name: 'd1' } }),
      409,
      'Conflict occurred attempting to store project - it is not permitted to have two projects acting as domains with the same name: d1.',
    );
    const p = await admin.post('/v3/projects', { project: { name: 'in-d1', domain_id: d.id } });
    const u = await admin.post('/v3/users', { user: { name: 'u-d1', domain_id: d.id, password: 'x' } });
    expect(p.status).toBe(201);
    expect(u.status).toBe(201);
    expectError(await admin.delete(`/v3/domains/${d.id}`), 403, 'Cannot delete a domain that is enabled, please disable it first.');
    const upd = await patch(admin, `/v3/domains/${d.id}`, { domain: { enabled: false, description: 'off' } });
    expect(upd.status).toBe(200);
    expect(upd.body.domain).toMatchObject({ enabled: false, description: 'off' });
    expect((await admin.delete(`/v3/domains/${d.id}`)).status).toBe(204);
    expectError(await admin.get(`/v3/domains/${d.id}`), 404, `Could not find domain: ${d.id}.`);
    expectError(await admin.get(`/v3/projects/${p.body.project.id}`), 404, `Could not find project: ${p.body.project.id}.`);
    expectError(await admin.get(`/v3/users/${u.body.user.id}`), 404, `Could not find user: ${u.body.user.id}.`);
  });

  it('validates bodies', async () => {
    expectError(await admin.post('/v3/domains', { domain: {} }), 400, "'name' is a required property");
    expectError(await patch(admin, '/v3/domains/default', { domain: {} }), 400, '{} does not have enough properties');
  });
});

describe('projects', () => {
  it('list with name and domain_id filters; show; GET by name is a 404', async () => {
    const all = list(await admin.get('/v3/projects?'), 'projects');
    expect(all.map((p) => p.name).sort()).toEqual(['admin', 'demo']);
    const byName = await admin.get('/v3/projects?name=demo');
    expect(byName.body.links.self).toBe(`${B}/v3/projects?name=demo`);
    const demoP = list(byName, 'projects')[0];
    expect(demoP).toEqual({
      id: demoP.id,
      name: 'demo',
      domain_id: 'default',
      description: 'Demo project',
      enabled: true,
      parent_id: 'default',
      is_domain: false,
      tags: [],
      options: {},
      links: { self: `${B}/v3/projects/${demoP.id}` },
    });
    expect(list(await admin.get('/v3/projects?domain_id=default'), 'projects')).toHaveLength(2);
    expect(list(await admin.get('/v3/projects?domain_id=other'), 'projects')).toHaveLength(0);
    expect((await admin.get(`/v3/projects/${demoP.id}`)).body.project).toEqual(demoP);
    expectError(await admin.get('/v3/projects/demo'), 404, 'Could not find project: demo.');
  });

  it('create (domain defaults to the default one), duplicate 409 naming the new id, PATCH with extra, delete', async () => {
    const c = await admin.post('/v3/projects', { project: { name: 'p1', description: 'golden test', enabled: true, colour: 'blue' } });
    expect(c.status).toBe(201);
    const p = c.body.project;
    expect(Object.keys(p)).toEqual(['colour', 'id', 'name', 'domain_id', 'description', 'enabled', 'parent_id', 'is_domain', 'tags', 'options', 'links']);
    expect(p).toMatchObject({ colour: 'blue', domain_id: 'default', parent_id: 'default' });
    const dup = await admin.post('/v3/projects', { project: { name: 'p1' } });
    expectError(
      dup,
      409,
      /^Conflict occurred attempting to store project - it is not permitted to have two projects with either the same name or same id in the same domain: name is p1, project id [0-9a-f]{32}\.$/,
    );
    expect(dup.body.error.message).not.toContain(p.id);
    const u = await patch(admin, `/v3/projects/${p.id}`, { project: { description: 'updated', tags: ['a', 'b'] } });
    expect(u.status).toBe(200);
    expect(Object.keys(u.body.project)).toEqual([
      'colour',
      'id',
      'name',
      'domain_id',
      'description',
      'enabled',
      'parent_id',
      'is_domain',
      'tags',
      'extra',
      'options',
      'links',
    ]);
    expect(u.body.project).toMatchObject({ description: 'updated', tags: ['a', 'b'], extra: { colour: 'blue' } });
    expect((await admin.delete(`/v3/projects/${p.id}`)).status).toBe(204);
    expectError(await admin.get(`/v3/projects/${p.id}`), 404, `Could not find project: ${p.id}.`);
    expectError(await admin.delete(`/v3/projects/${p.id}`), 404, `Could not find project: ${p.id}.`);
  });

  it('hierarchy: a child under a parent, the parent cannot be deleted or disabled first', async () => {
    const parent = (await admin.post('/v3/projects', { project: { name: 'parent' } })).body.project;
    const child = await admin.post('/v3/projects', { project: { name: 'child', parent_id: parent.id } });
    expect(child.status).toBe(201);
    expect(child.body.project.parent_id).toBe(parent.id);
    expect(list(await admin.get(`/v3/projects?parent_id=${parent.id}`), 'projects').map((p) => p.name)).toEqual(['child']);
    expectError(
      await admin.delete(`/v3/projects/${parent.id}`),
      403,
      `Cannot delete the project ${parent.id} since it is not a leaf in the hierarchy. Use the cascade option if you want to delete a whole subtree.`,
    );
    expectError(
      await patch(admin, `/v3/projects/${parent.id}`, { project: { enabled: false } }),
      403,
      `Cannot disable project ${parent.id} since its subtree contains enabled projects.`,
    );
    expectError(await admin.post('/v3/projects', { project: { name: 'orphan', parent_id: 'nope' } }), 400, 'Could not find project: nope.');
    expectError(await admin.post('/v3/projects', { project: { name: 'lost', domain_id: 'nope' } }), 400, 'Could not find domain: nope.');
    expectError(
      await patch(admin, `/v3/projects/${child.body.project.id}`, { project: { parent_id: 'default' } }),
      403,
      'Update of `parent_id` is not allowed.',
    );
    expect((await admin.delete(`/v3/projects/${child.body.project.id}`)).status).toBe(204);
    expect((await admin.delete(`/v3/projects/${parent.id}`)).status).toBe(204);
  });

  it('bad bodies: schema errors in jsonschema words, malformed JSON', async () => {
    expectError(await admin.post('/v3/projects', { project: { description: 'no name' } }), 400, "'name' is a required property");
    expectError(
      await admin.post('/v3/projects', { project: { name: 'x', enabled: 'yes' } }),
      400,
      "Invalid input for field 'enabled': 'yes' is not of type 'boolean'",
    );
    expectError(await admin.post('/v3/projects', { project: { name: '' } }), 400, "Invalid input for field 'name': '' is too short");
    expectError(
      await admin.post('/v3/projects', { project: { name: 'x', description: 5 } }),
      400,
      "Invalid input for field 'description': 5 is not of type 'string', 'null'",
    );
    expectError(
      await admin.post('/v3/projects', { project: { name: 'x', domain_id: 'a b' } }),
      400,
      "Invalid input for field 'domain_id': 'a b' does not match '^[a-zA-Z0-9-]+$'",
    );
    expectError(
      await admin.post('/v3/projects', { project: { name: 'x', tags: ['a', 'a'] } }),
      400,
      "Invalid input for field 'tags': ['a', 'a'] has non-unique elements",
    );
    expectError(
      await admin.post('/v3/projects', { project: { name: 'x', options: { color: 1 } } }),
      400,
      "Invalid input for field 'options': Additional properties are not allowed ('color' was unexpected)",
    );
    expectError(await admin.post('/v3/projects', { project: 'x' }), 400, "'x' is not of type 'object'");
    // jsonschema's order (properties before required, in the schema's property order), not ajv's.
    expectError(
      await admin.post('/v3/projects', { project: { description: 5 } }),
      400,
      "Invalid input for field 'description': 5 is not of type 'string', 'null'",
    );
    expectError(await admin.post('/v3/users', { user: { name: 5, enabled: 1 } }), 400, "Invalid input for field 'enabled': 1 is not of type 'boolean'");
    expectError(
      await admin.post('/v3/projects', { project: { name: 'x', options: { color: 1, b: 2 } } }),
      400,
      "Invalid input for field 'options': Additional properties are not allowed ('b', 'color' were unexpected)",
    );
    expectError(
      await admin.post('/v3/projects', '{"project": {"name": '),
      400,
      'Expecting to find valid JSON in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.',
    );
    // Nothing was written by any of them.
    expect(list(await admin.get('/v3/projects?name=x'), 'projects')).toEqual([]);
  });
});

describe('users', () => {
  it('create with password and extra attributes, never echoing a password; show; PATCH; list by name', async () => {
    const demoProject = list(await admin.get('/v3/projects?name=demo'), 'projects')[0].id;
    const c = await admin.post('/v3/users', {
      user: { name: 'gold-user', password: 'gold-secret', domain_id: 'default', default_project_id: demoProject, email: 'gold@example.com', enabled: true },
    });
    expect(c.status).toBe(201);
    const u = c.body.user;
    expect(Object.keys(u)).toEqual(['email', 'id', 'name', 'domain_id', 'enabled', 'default_project_id', 'password_expires_at', 'options', 'links']);
    expect(u).toMatchObject({ email: 'gold@example.com', name: 'gold-user', password_expires_at: null, options: {} });
    expect(JSON.stringify(c.body)).not.toMatch(/gold-secret|"password"/);
    expect((await admin.get(`/v3/users/${u.id}`)).body.user).toEqual(u);
    const up = await patch(admin, `/v3/users/${u.id}`, { user: { description: 'upd', password: 'gold-secret2' } });
    expect(up.status).toBe(200);
    expect(up.body.user).toMatchObject({ description: 'upd', extra: { email: 'gold@example.com', description: 'upd' } });
    expect(JSON.stringify(up.body)).not.toMatch(/gold-secret|"password"/);
    const byName = list(await admin.get('/v3/users?name=gold-user'), 'users');
    expect(byName).toHaveLength(1);
    expect(byName[0].extra).toBeUndefined();
    expect(
      (await anon.post('/v3/auth/tokens', { auth: { identity: { methods: ['password'], password: { user: { id: u.id, password: 'gold-secret2' } } } } }))
        .status,
    ).toBe(201);
    expectError(
      await admin.post('/v3/users', { user: { name: 'gold-user', password: 'x', domain_id: 'default' } }),
      409,
      'Conflict occurred attempting to store user - Duplicate entry found with name gold-user at domain ID default.',
    );
    expectError(await admin.post('/v3/users', { user: { name: 'nowhere', domain_id: 'nope' } }), 404, 'Could not find domain: nope.');
    expectError(
      await admin.post('/v3/users', { user: { name: 'x', default_project_id: 'default' } }),
      400,
      "User's default project ID cannot be a domain ID: default",
    );
    expectError(await admin.post('/v3/users', { user: { name: 'x', enabled: 1 } }), 400, "Invalid input for field 'enabled': 1 is not of type 'boolean'");
    expectError(
      await admin.post('/v3/users', { user: { name: 'x', password: 12345678 } }),
      400,
      "Invalid input for field 'password': '***' is not of type 'string', 'null'",
    );
    expectError(await patch(admin, `/v3/users/${u.id}`, { user: { domain_id: 'other' } }), 400, 'Cannot change Domain ID');
    expect((await admin.delete(`/v3/users/${u.id}`)).status).toBe(204);
    expectError(await admin.get(`/v3/users/${u.id}`), 404, `Could not find user: ${u.id}.`);
  });

  it('POST /v3/users/{id}/password: 204; wrong original password 401; schema enforced', async () => {
    const u = (await admin.post('/v3/users', { user: { name: 'pw-user', password: 'one' } })).body.user;
    expectError(
      await anon.post(`/v3/users/${u.id}/password`, { user: { original_password: 'bad', password: 'two' } }),
      401,
      'The request you have made requires authentication.',
    );
    expectError(await anon.post(`/v3/users/${u.id}/password`, { user: { password: 'two' } }), 400, "'original_password' is a required property");
    expectError(
      await anon.post(`/v3/users/${u.id}/password`, { user: { original_password: 'one', password: 'two', x: 1 } }),
      400,
      "Additional properties are not allowed ('x' was unexpected)",
    );
    const ok = await anon.post(`/v3/users/${u.id}/password`, { user: { original_password: 'one', password: 'two' } });
    expect(ok.status).toBe(204);
    expect(ok.body).toBeUndefined();
  });

  it('/v3/users/{id}/projects lists the projects the user has a role on', async () => {
    const me = (await demo.get('/v3/auth/tokens', { 'x-subject-token': demoToken })).body.token.user.id;
    const res = await demo.get(`/v3/users/${me}/projects`);
    expect(res.status).toBe(200);
    expect(list(res, 'projects').map((p) => p.name)).toEqual(['demo']);
    expect(res.body.links.self).toBe(`${B}/v3/users/${me}/projects`);
  });
});

describe('roles and implied roles', () => {
  it('lists the bootstrap roles (immutable) and filters by name', async () => {
    const res = await admin.get('/v3/roles?name=member');
    expect(list(res, 'roles')).toEqual([
      {
        id: roleIds.member,
        name: 'member',
        domain_id: null,
        description: null,
        options: { immutable: true },
        links: { self: `${B}/v3/roles/${roleIds.member}` },
      },
    ]);
    expect(Object.keys(roleIds).sort()).toEqual(['admin', 'load-balancer_admin', 'load-balancer_member', 'member', 'reader']);
    expectError(
      await admin.delete(`/v3/roles/${roleIds.reader}`),
      403,
      `Unable to delete immutable role resource: \`${roleIds.reader}. Set resource option "immutable" to false first.`,
    );
  });

  it('create, duplicate, show, update, delete', async () => {
    const c = await admin.post('/v3/roles', { role: { name: 'gold-role', description: 'golden' } });
    expect(c.status).toBe(201);
    expect(c.body.role).toMatchObject({ name: 'gold-role', domain_id: null, description: 'golden', options: {} });
    expectError(
      await admin.post('/v3/roles', { role: { name: 'gold-role' } }),
      409,
      'Conflict occurred attempting to store role - Duplicate entry found with name gold-role.',
    );
    const id = c.body.role.id;
    expect((await admin.get(`/v3/roles/${id}`)).body.role.name).toBe('gold-role');
    expect((await patch(admin, `/v3/roles/${id}`, { role: { description: 'new' } })).body.role.description).toBe('new');
    expect((await admin.delete(`/v3/roles/${id}`)).status).toBe(204);
    expectError(await admin.get(`/v3/roles/${id}`), 404, `Could not find role: ${id}.`);
    const scoped = await admin.post('/v3/roles', { role: { name: 'scoped', domain_id: 'default' } });
    expect(scoped.status).toBe(201);
    expect(scoped.body.role).toMatchObject({ name: 'scoped', domain_id: 'default' });
    // Without domain_id the list holds global roles only; with it, the domain's.
    expect(list(await admin.get('/v3/roles'), 'roles').map((r) => r.name)).not.toContain('scoped');
    expect(list(await admin.get('/v3/roles?domain_id=default'), 'roles').map((r) => r.name)).toEqual(['scoped']);
  });

  it('implied-role rules: create, show, HEAD, list, inferences, delete', async () => {
    const a = (await admin.post('/v3/roles', { role: { name: 'prior-r' } })).body.role.id;
    const b = (await admin.post('/v3/roles', { role: { name: 'implied-r' } })).body.role.id;
    const put = await admin.put(`/v3/roles/${a}/implies/${b}`);
    expect(put.status).toBe(201);
    expect(put.body).toEqual({
      role_inference: {
        prior_role: { id: a, links: { self: `${B}/v3/roles/${a}` }, name: 'prior-r' },
        implies: { id: b, links: { self: `${B}/v3/roles/${b}` }, name: 'implied-r' },
      },
      links: { self: `${B}/v3/roles/${a}/implies/${b}` },
    });
    expect((await admin.get(`/v3/roles/${a}/implies/${b}`)).body).toEqual(put.body);
    expect((await head(admin, `/v3/roles/${a}/implies/${b}`)).status).toBe(204);
    expect((await admin.get(`/v3/roles/${a}/implies`)).body.role_inference.implies.map((r: { name: string }) => r.name)).toEqual(['implied-r']);
    const inf = (await admin.get('/v3/role_inferences')).body.role_inferences;
    expect(inf.find((r: { prior_role: { name: string } }) => r.prior_role.name === 'admin').implies.map((r: { name: string }) => r.name)).toEqual(['member']);
    expectError(await admin.put(`/v3/roles/${a}/implies/${roleIds.admin}`), 403, `${roleIds.admin} cannot be an implied roles.`);
    expect((await admin.delete(`/v3/roles/${a}/implies/${b}`)).status).toBe(204);
    expectError(await admin.get(`/v3/roles/${a}/implies/${b}`), 404, `${a} does not imply ${b}.`);
    expectError(await admin.delete(`/v3/roles/${a}/implies/${b}`), 404, `${a} does not imply ${b}.`);
  });
});

describe('grants and role assignments', () => {
  let projectId: string;
  let userId: string;

  beforeAll(async () => {
    projectId = (await admin.post('/v3/projects', { project: { name: 'grant-project' } })).body.project.id;
    userId = (await admin.post('/v3/users', { user: { name: 'grant-user', password: 'gp' } })).body.user.id;
  });

  it('PUT/HEAD/GET/DELETE on a project grant, with 404s for unknown ids', async () => {
    const url = `/v3/projects/${projectId}/users/${userId}/roles/${roleIds.member}`;
    const put = await admin.put(url);
    expect(put.status).toBe(204);
    expect(put.headers['content-type']).toBeUndefined();
    expect((await head(admin, url)).status).toBe(204);
    expect((await admin.get(url)).status).toBe(204);
    const roles = await admin.get(`/v3/projects/${projectId}/users/${userId}/roles`);
    expect(list(roles, 'roles').map((r) => r.name)).toEqual(['member']);
    expect(roles.body.links.self).toBe(`${B}/v3/projects/${projectId}/users/${userId}/roles`);
    expectError(await admin.put(`/v3/projects/${projectId}/users/${userId}/roles/nope`), 404, 'Could not find role: nope.');
    expectError(await admin.put(`/v3/projects/${projectId}/users/nope/roles/${roleIds.member}`), 404, 'Could not find user: nope.');
    expectError(await admin.put(`/v3/projects/nope/users/${userId}/roles/${roleIds.member}`), 404, 'Could not find project: nope.');
    expectError(
      await admin.get(`/v3/projects/${projectId}/users/${userId}/roles/${roleIds.reader}`),
      404,
      `Could not find role assignment with role: ${roleIds.reader}, user or group: ${userId}, project, domain, or system: ${projectId}.`,
    );
  });

  it('role_assignments: filters, include_names, effective with implied roles and prior_role links', async () => {
    const res = await admin.get(`/v3/role_assignments?user.id=${userId}&scope.project.id=${projectId}&include_names`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      role_assignments: [
        {
          links: { assignment: `${B}/v3/projects/${projectId}/users/${userId}/roles/${roleIds.member}` },
          scope: { project: { id: projectId, name: 'grant-project', domain: { id: 'default', name: 'Default' } } },
          user: { id: userId, name: 'grant-user', domain: { id: 'default', name: 'Default' } },
          role: { id: roleIds.member, name: 'member' },
        },
      ],
      links: { next: null, self: `${B}/v3/role_assignments?user.id=${userId}&scope.project.id=${projectId}&include_names`, previous: null },
    });
    const plain = await admin.get(`/v3/role_assignments?user.id=${userId}`);
    expect(plain.body.role_assignments).toEqual([
      {
        links: { assignment: `${B}/v3/projects/${projectId}/users/${userId}/roles/${roleIds.member}` },
        scope: { project: { id: projectId } },
        user: { id: userId },
        role: { id: roleIds.member },
      },
    ]);
    const eff = (await admin.get(`/v3/role_assignments?user.id=${userId}&effective&include_names=true`)).body.role_assignments;
    expect(eff.map((a: { role: { name: string } }) => a.role.name)).toEqual(['member', 'reader']);
    expect(eff[1].links).toEqual({
      assignment: `${B}/v3/projects/${projectId}/users/${userId}/roles/${roleIds.member}`,
      prior_role: `${B}/v3/prior_role/${roleIds.reader}/implies/${roleIds.member}`,
    });
    const byRole = (await admin.get(`/v3/role_assignments?role.id=${roleIds.admin}`)).body.role_assignments;
    expect(byRole.map((a: { scope: object }) => Object.keys(a.scope)[0]).sort()).toEqual(['domain', 'project', 'system']);
    const sys = byRole.find((a: { scope: { system?: object } }) => a.scope.system);
    expect(sys.scope).toEqual({ system: { all: true } });
    expect(sys.links.assignment).toMatch(new RegExp(`^${B}/v3/system/users/[0-9a-f]{32}/roles/${roleIds.admin}$`));
    expectError(await admin.get(`/v3/role_assignments?scope.project.id=${projectId}&scope.domain.id=default`), 400, 'Specify a domain or project, not both');
  });

  it('domain and system grants', async () => {
    const url = `/v3/domains/default/users/${userId}/roles/${roleIds.reader}`;
    expect((await admin.put(url)).status).toBe(204);
    expect(list(await admin.get(`/v3/domains/default/users/${userId}/roles`), 'roles').map((r) => r.name)).toEqual(['reader']);
    const tok = await anon.post('/v3/auth/tokens', {
      auth: { identity: { methods: ['password'], password: { user: { id: userId, password: 'gp' } } }, scope: { domain: { id: 'default' } } },
    });
    expect(tok.status).toBe(201);
    expect(tok.body.token.roles.map((r: { name: string }) => r.name)).toEqual(['reader']);
    expect((await admin.delete(url)).status).toBe(204);
    expectError(
      await admin.delete(url),
      404,
      `Could not find role assignment with role: ${roleIds.reader}, user or group: ${userId}, project, domain, or system: default.`,
    );
    const sys = `/v3/system/users/${userId}/roles/${roleIds.reader}`;
    expect((await admin.put(sys)).status).toBe(204);
    expect((await head(admin, sys)).status).toBe(204);
    expect((await admin.delete(sys)).status).toBe(204);
  });

  it('revoking the grant removes the project from the user and its assignments', async () => {
    expect((await admin.delete(`/v3/projects/${projectId}/users/${userId}/roles/${roleIds.member}`)).status).toBe(204);
    expect(list(await admin.get(`/v3/users/${userId}/projects`), 'projects')).toEqual([]);
    expect(list(await admin.get(`/v3/role_assignments?user.id=${userId}`), 'role_assignments')).toEqual([]);
  });
});

describe('auth helpers and the catalog views', () => {
  it('/v3/auth/projects, /domains, /system for admin and for a member', async () => {
    expect(list(await admin.get('/v3/auth/projects'), 'projects').map((p) => p.name)).toEqual(['admin']);
    expect(list(await admin.get('/v3/auth/domains'), 'domains').map((d) => d.id)).toEqual(['default']);
    expect((await admin.get('/v3/auth/system')).body).toEqual({ system: [{ all: true }], links: { self: `${B}/v3/auth/system` } });
    const mine = await demo.get('/v3/auth/projects');
    expect(mine.status).toBe(200);
    expect(list(mine, 'projects').map((p) => p.name)).toEqual(['demo']);
    expect(mine.body.links).toEqual({ next: null, self: `${B}/v3/auth/projects`, previous: null });
    expect(list(await demo.get('/v3/auth/domains'), 'domains')).toEqual([]);
    expect((await demo.get('/v3/auth/system')).body.system).toEqual([]);
  });

  it('/v3/auth/catalog for a project token; 403 for an unscoped one', async () => {
    const res = await demo.get('/v3/auth/catalog');
    expect(res.status).toBe(200);
    expect(res.body.links).toEqual({ self: `${B}/v3/auth/catalog` });
    expect(res.body.catalog.map((s: { type: string }) => s.type)).toEqual(['identity', 'network', 'compute', 'image', 'load-balancer', 'key-manager']);
    const unscoped = await anon.post('/v3/auth/tokens', {
      auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password: ADMIN_PASSWORD } } } },
    });
    expectError(
      await anon.withToken(unscoped.headers['x-subject-token'] as string).get('/v3/auth/catalog'),
      403,
      'You are not authorized to perform the requested action.',
    );
  });

  it('services, endpoints (interface filter) and regions come from the catalog', async () => {
    const services = list(await admin.get('/v3/services'), 'services');
    expect(services.map((s) => s.type)).toEqual(['identity', 'network', 'compute', 'image', 'load-balancer', 'key-manager']);
    expect(Object.keys(services[0])).toEqual(['name', 'id', 'type', 'enabled', 'links']);
    const endpoints = list(await admin.get('/v3/endpoints'), 'endpoints');
    expect(endpoints).toHaveLength(services.length * 3);
    expect(Object.keys(endpoints[0])).toEqual(['id', 'interface', 'region_id', 'service_id', 'url', 'enabled', 'region', 'links']);
    const pub = list(await admin.get('/v3/endpoints?interface=public'), 'endpoints');
    expect(pub.map((e) => e.interface)).toEqual(services.map(() => 'public'));
    expect(pub.map((e) => e.service_id)).toEqual(services.map((s) => s.id));
    expect((await admin.get(`/v3/endpoints/${pub[1].id}`)).body.endpoint).toEqual(pub[1]);
    expect((await admin.get(`/v3/services/${services[1].id}`)).body.service).toEqual(services[1]);
    expect((await admin.get('/v3/regions')).body).toEqual({
      regions: [{ id: 'RegionOne', description: '', parent_region_id: null, links: { self: `${B}/v3/regions/RegionOne` } }],
      links: { next: null, self: `${B}/v3/regions`, previous: null },
    });
    expect((await demo.get('/v3/regions/RegionOne')).status).toBe(200);
    expectError(await admin.get('/v3/services/nope'), 404, 'Could not find service: nope.');
    expectError(await admin.get('/v3/regions/Nowhere'), 404, 'Could not find region: Nowhere.');
    expectError(await demo.post('/v3/services', { service: { type: 'x' } }), 403, denied('create_service'));
  });
});

describe("Keystone's policy for a plain member", () => {
  it('403 on the admin API, with the rule named', async () => {
    expectError(await demo.get('/v3/users'), 403, denied('list_users'));
    expectError(await demo.get('/v3/projects'), 403, denied('list_projects'));
    expectError(await demo.post('/v3/projects', { project: { name: 'x' } }), 403, denied('create_project'));
    // Policy comes before body validation, as in Keystone.
    expectError(await demo.post('/v3/projects', { project: {} }), 403, denied('create_project'));
    expectError(await demo.post('/v3/users', { user: { name: 'x' } }), 403, denied('create_user'));
    expectError(await demo.get('/v3/roles'), 403, denied('list_roles'));
    expectError(await demo.get('/v3/role_assignments'), 403, denied('list_role_assignments'));
    expectError(await demo.get('/v3/services'), 403, denied('list_services'));
    expectError(await demo.get('/v3/endpoints'), 403, denied('list_endpoints'));
    expectError(await demo.get('/v3/domains'), 403, denied('list_domains'));
    expectError(await demo.post('/v3/domains', { domain: { name: 'x' } }), 403, denied('create_domain'));
  });

  it('200 on its own token, user, project, domain and projects', async () => {
    const t = (await demo.get('/v3/auth/tokens', { 'x-subject-token': demoToken })).body.token;
    expect((await demo.get(`/v3/users/${t.user.id}`)).status).toBe(200);
    expect((await demo.get(`/v3/users/${t.user.id}/projects`)).status).toBe(200);
    expect((await demo.get(`/v3/projects/${t.project.id}`)).status).toBe(200);
    expect((await demo.get('/v3/domains/default')).status).toBe(200);
    const adminUser = list(await admin.get('/v3/users?name=admin'), 'users')[0];
    expectError(await demo.get(`/v3/users/${adminUser.id}`), 403, denied('get_user'));
    expectError(await demo.get(`/v3/users/${adminUser.id}/projects`), 403, denied('list_user_projects'));
    const adminProject = list(await admin.get('/v3/projects?name=admin'), 'projects')[0];
    expectError(await demo.get(`/v3/projects/${adminProject.id}`), 403, denied('get_project'));
    expectError(await demo.put(`/v3/projects/${t.project.id}/users/${t.user.id}/roles/${roleIds.admin}`), 403, denied('create_grant'));
    // Unknown ids are 404 before policy, as Keystone resolves its targets first.
    expectError(await demo.get('/v3/users/nope'), 404, 'Could not find user: nope.');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, Client, DEMO_PASSWORD, type Response, type TestCloud, startCloud, tokenFor } from '../support/cloud.js';

/**
 * OS-INHERIT (keystone/api/os_inherit.py): grants on a domain or a project that the projects below
 * it inherit — in tokens, in the projects a user may scope to, and in the role assignment list.
 */

let tc: TestCloud;
let anon: Client;
let admin: Client;
let demo: Client;
let domainId: string;
let roleId: string;

/** The base of the links an in-process request gets (no Host header: Keystone's own default). */
const BASE = 'http://localhost:80';
const list = (res: Response, key: string) => res.body[key] as Array<Record<string, any>>;

async function created(res: Response, key: string): Promise<string> {
  expect(res.status).toBe(201);
  return res.body[key].id;
}

/** A v3 password token for a user by id, scoped as asked: its roles' names, or the refusal's status. */
async function rolesIn(userId: string, scope: unknown): Promise<string[] | number> {
  const res = await anon.post('/v3/auth/tokens', {
    auth: { identity: { methods: ['password'], password: { user: { id: userId, password: 'pw-secret' } } }, scope },
  });
  return res.status === 201 ? (res.body.token.roles as Array<{ name: string }>).map((r) => r.name).sort() : res.status;
}

const inheritPath = (target: string, actor: string, role = roleId) => `/v3/OS-INHERIT/${target}/${actor}/roles/${role}/inherited_to_projects`;

beforeAll(async () => {
  tc = await startCloud();
  anon = new Client(tc.cloud.apps.get('identity')!);
  admin = anon.withToken(await tokenFor(tc, 'admin', ADMIN_PASSWORD));
  demo = anon.withToken(await tokenFor(tc, 'demo', DEMO_PASSWORD));
  domainId = await created(await admin.post('/v3/domains', { domain: { name: 'inherit-d' } }), 'domain');
  roleId = await created(await admin.post('/v3/roles', { role: { name: 'inherit-r' } }), 'role');
});
afterAll(async () => tc.stop());

describe('OS-INHERIT', () => {
  it("a user's grant on a domain reaches its projects, not the domain itself", async () => {
    const user = await created(await admin.post('/v3/users', { user: { name: 'iu', password: 'pw-secret', domain_id: domainId } }), 'user');
    const parent = await created(await admin.post('/v3/projects', { project: { name: 'ip', domain_id: domainId } }), 'project');
    const leaf = await created(await admin.post('/v3/projects', { project: { name: 'il', domain_id: domainId, parent_id: parent } }), 'project');
    const path = inheritPath(`domains/${domainId}`, `users/${user}`);

    expect((await admin.request('HEAD', path)).status).toBe(404);
    expect((await admin.put(path)).status).toBe(204);
    expect((await admin.request('HEAD', path)).status).toBe(204);
    expect((await admin.get(path)).status).toBe(204);
    // Listed among the domain's inherited grants, not its own.
    expect(list(await admin.get(`/v3/OS-INHERIT/domains/${domainId}/users/${user}/roles/inherited_to_projects`), 'roles').map((r) => r.id)).toEqual([roleId]);
    expect(list(await admin.get(`/v3/domains/${domainId}/users/${user}/roles`), 'roles')).toEqual([]);
    expect((await admin.request('HEAD', `/v3/domains/${domainId}/users/${user}/roles/${roleId}`)).status).toBe(404);

    // As stored: on the domain, marked inherited, linked at its OS-INHERIT path.
    const stored = list(await admin.get(`/v3/role_assignments?user.id=${user}`), 'role_assignments');
    expect(stored).toEqual([
      {
        scope: { domain: { id: domainId }, 'OS-INHERIT:inherited_to': 'projects' },
        user: { id: user },
        role: { id: roleId },
        links: { assignment: `${BASE}${path}` },
      },
    ]);
    expect(list(await admin.get(`/v3/role_assignments?scope.OS-INHERIT:inherited_to=projects&user.id=${user}`), 'role_assignments')).toHaveLength(1);
    expect(list(await admin.get(`/v3/role_assignments?scope.OS-INHERIT:inherited_to=none&user.id=${user}`), 'role_assignments')).toEqual([]);

    // Effective: one assignment on each project of the domain, none on the domain.
    const onProject = (project: string) => admin.get(`/v3/role_assignments?effective&user.id=${user}&scope.project.id=${project}`);
    for (const project of [parent, leaf]) {
      expect(list(await onProject(project), 'role_assignments')).toEqual([
        {
          scope: { project: { id: project }, 'OS-INHERIT:inherited_to': 'projects' },
          user: { id: user },
          role: { id: roleId },
          links: { assignment: `${BASE}${path}` },
        },
      ]);
    }
    expect(list(await admin.get(`/v3/role_assignments?effective&user.id=${user}&scope.domain.id=${domainId}`), 'role_assignments')).toEqual([]);

    // Tokens and the projects the user may scope to follow.
    expect(await rolesIn(user, { project: { id: leaf } })).toEqual(['inherit-r']);
    expect(await rolesIn(user, { domain: { id: domainId } })).toBe(401);
    const userClient = anon.withToken(
      (await anon.post('/v3/auth/tokens', { auth: { identity: { methods: ['password'], password: { user: { id: user, password: 'pw-secret' } } } } })).headers[
        'x-subject-token'
      ] as string,
    );
    expect(
      list(await userClient.get('/v3/auth/projects'), 'projects')
        .map((p) => p.id)
        .sort(),
    ).toEqual([parent, leaf].sort());

    expect((await admin.delete(path)).status).toBe(204);
    const gone = await admin.request('HEAD', path);
    expect(gone.status).toBe(404);
    expect((await admin.get(path)).body.error.message).toBe(
      `Could not find role assignment with role: ${roleId}, user or group: ${user}, project, domain, or system: ${domainId}.`,
    );
    expect(list(await onProject(leaf), 'role_assignments')).toEqual([]);
    expect(await rolesIn(user, { project: { id: leaf } })).toBe(401);
  });

  it('a grant on a project reaches its subtree only; a direct grant of the same role stays apart', async () => {
    const user = await created(await admin.post('/v3/users', { user: { name: 'tu', password: 'pw-secret', domain_id: domainId } }), 'user');
    const root = await created(await admin.post('/v3/projects', { project: { name: 'tr', domain_id: domainId } }), 'project');
    const mid = await created(await admin.post('/v3/projects', { project: { name: 'tm', domain_id: domainId, parent_id: root } }), 'project');
    const leaf = await created(await admin.post('/v3/projects', { project: { name: 'tl', domain_id: domainId, parent_id: mid } }), 'project');
    const path = inheritPath(`projects/${root}`, `users/${user}`);
    expect((await admin.put(path)).status).toBe(204);
    expect(await rolesIn(user, { project: { id: root } })).toBe(401);
    expect(await rolesIn(user, { project: { id: mid } })).toEqual(['inherit-r']);
    expect(await rolesIn(user, { project: { id: leaf } })).toEqual(['inherit-r']);
    const effective = list(await admin.get(`/v3/role_assignments?effective&user.id=${user}`), 'role_assignments');
    expect(effective.map((a) => a.scope.project.id).sort()).toEqual([mid, leaf].sort());

    // The direct grant on the root is another assignment: both exist, each revoked on its own.
    expect((await admin.put(`/v3/projects/${root}/users/${user}/roles/${roleId}`)).status).toBe(204);
    expect(await rolesIn(user, { project: { id: root } })).toEqual(['inherit-r']);
    expect(list(await admin.get(`/v3/role_assignments?user.id=${user}`), 'role_assignments')).toHaveLength(2);

    // include_subtree: the project's assignments and those of every project below it.
    expect((await admin.put(`/v3/projects/${leaf}/users/${user}/roles/${roleId}`)).status).toBe(204);
    const subtree = (project: string, effective = '') =>
      admin.get(`/v3/role_assignments?scope.project.id=${project}&include_subtree=true${effective}`).then((r) => list(r, 'role_assignments'));
    const where = (as: Array<Record<string, any>>) =>
      as
        .map((a) => `${a.scope.project.id === root ? 'root' : a.scope.project.id === mid ? 'mid' : 'leaf'}${a.scope['OS-INHERIT:inherited_to'] ? '+' : ''}`)
        .sort();
    expect(where(await subtree(root))).toEqual(['leaf', 'root', 'root+']);
    expect(where(await subtree(mid))).toEqual(['leaf']);
    expect(where(await subtree(root, '&effective'))).toEqual(['leaf', 'leaf+', 'mid+', 'root']);
    expect((await admin.delete(`/v3/projects/${leaf}/users/${user}/roles/${roleId}`)).status).toBe(204);
    expect((await admin.delete(path)).status).toBe(204);
    expect(await rolesIn(user, { project: { id: leaf } })).toBe(401);
    expect(await rolesIn(user, { project: { id: root } })).toEqual(['inherit-r']);
  });

  it("a group's inherited grant reaches its members, linked through the membership", async () => {
    const user = await created(await admin.post('/v3/users', { user: { name: 'gu', password: 'pw-secret', domain_id: domainId } }), 'user');
    const group = await created(await admin.post('/v3/groups', { group: { name: 'ig', domain_id: domainId } }), 'group');
    const project = await created(await admin.post('/v3/projects', { project: { name: 'gp', domain_id: domainId } }), 'project');
    expect((await admin.put(`/v3/groups/${group}/users/${user}`)).status).toBe(204);
    const path = inheritPath(`domains/${domainId}`, `groups/${group}`);
    expect((await admin.put(path)).status).toBe(204);
    expect(list(await admin.get(`/v3/OS-INHERIT/domains/${domainId}/groups/${group}/roles/inherited_to_projects`), 'roles').map((r) => r.name)).toEqual([
      'inherit-r',
    ]);
    expect(await rolesIn(user, { project: { id: project } })).toEqual(['inherit-r']);
    const [a] = list(await admin.get(`/v3/role_assignments?effective&user.id=${user}&scope.project.id=${project}`), 'role_assignments');
    expect(a.links).toEqual({ membership: `${BASE}/v3/groups/${group}/users/${user}`, assignment: `${BASE}${path}` });
    expect((await admin.delete(path)).status).toBe(204);
  });

  it('policy first, with a lenient target; then unknown ids are 404 in Keystone words', async () => {
    const nobody = inheritPath('domains/no-such-domain', 'users/no-such-user', 'no-such-role');
    for (const method of ['PUT', 'DELETE', 'GET'] as const) expect((await demo.request(method, nobody)).status).toBe(403);
    expect((await anon.put(nobody)).status).toBe(401);
    const res = await admin.put(inheritPath(`domains/${domainId}`, 'users/no-such-user', 'no-such-role'));
    expect(res.status).toBe(404);
    expect(res.body.error.message).toBe('Could not find role: no-such-role.');
  });
});

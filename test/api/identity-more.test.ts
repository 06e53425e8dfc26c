import { createHash, createHmac } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, Client, DEMO_PASSWORD, type Response, type TestCloud, startCloud, tokenFor } from '../support/cloud.js';

/**
 * Keystone beyond users and projects (issue 13): groups, application credentials, trusts,
 * credentials, domain roles, is_domain projects, project tags, list filters, the writable
 * catalog and unified limits — with the refusals Keystone answers.
 */

let tc: TestCloud;
let anon: Client;
let admin: Client;
let demoId: string;
let demoProject: string;
let roleIds: Record<string, string>;

const list = (res: Response, key: string) => res.body[key] as Array<Record<string, any>>;
const patch = (c: Client, url: string, body: unknown) => c.request('PATCH', url, body);
const head = (c: Client, url: string) => c.request('HEAD', url);

function expectError(res: Response, code: number, message: string | RegExp) {
  expect(res.status).toBe(code);
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.body.error.code).toBe(code);
  if (typeof message === 'string') expect(res.body.error.message).toBe(message);
  else expect(res.body.error.message).toMatch(message);
}

/** A v3 password token for a user by id, scoped as asked. */
async function auth(userId: string, password: string, scope?: unknown): Promise<Response> {
  return anon.post('/v3/auth/tokens', {
    auth: { identity: { methods: ['password'], password: { user: { id: userId, password } } }, ...(scope ? { scope } : {}) },
  });
}

async function makeUser(name: string, password = 'pw-secret'): Promise<string> {
  const res = await admin.post('/v3/users', { user: { name, password } });
  expect(res.status).toBe(201);
  return res.body.user.id;
}

async function makeProject(name: string): Promise<string> {
  const res = await admin.post('/v3/projects', { project: { name } });
  expect(res.status).toBe(201);
  return res.body.project.id;
}

beforeAll(async () => {
  tc = await startCloud();
  anon = new Client(tc.cloud.apps.get('identity')!);
  admin = anon.withToken(await tokenFor(tc, 'admin', ADMIN_PASSWORD));
  const demoToken = await tokenFor(tc, 'demo', DEMO_PASSWORD);
  const t = (await admin.get('/v3/auth/tokens', { 'x-subject-token': demoToken })).body.token;
  demoId = t.user.id;
  demoProject = t.project.id;
  roleIds = Object.fromEntries(list(await admin.get('/v3/roles'), 'roles').map((r) => [r.name, r.id]));
});
afterAll(async () => tc.stop());

describe('groups', () => {
  it('CRUD, membership, and roles through a group in tokens and effective assignments', async () => {
    const g = await admin.post('/v3/groups', { group: { name: 'devs', description: 'd' } });
    expect(g.status).toBe(201);
    expect(Object.keys(g.body.group)).toEqual(['id', 'name', 'domain_id', 'description', 'links']);
    const gid = g.body.group.id;
    expectError(await admin.post('/v3/groups', { group: { name: 'devs' } }), 409, /Duplicate entry found with name devs at domain ID default/);
    expect((await patch(admin, `/v3/groups/${gid}`, { group: { description: 'e' } })).body.group.description).toBe('e');

    const uid = await makeUser('g-user');
    const pid = await makeProject('g-project');
    expect((await head(admin, `/v3/groups/${gid}/users/${uid}`)).status).toBe(404);
    expect((await admin.put(`/v3/groups/${gid}/users/${uid}`)).status).toBe(204);
    expect((await head(admin, `/v3/groups/${gid}/users/${uid}`)).status).toBe(204);
    expect(list(await admin.get(`/v3/groups/${gid}/users`), 'users').map((u) => u.id)).toEqual([uid]);
    const ug = list(await admin.get(`/v3/users/${uid}/groups`), 'groups');
    expect(ug[0]).toMatchObject({ id: gid, membership_expires_at: null });

    // No role yet: a project token is refused.
    expect((await auth(uid, 'pw-secret', { project: { id: pid } })).status).toBe(401);
    expect((await admin.put(`/v3/projects/${pid}/groups/${gid}/roles/${roleIds.member}`)).status).toBe(204);
    expect(list(await admin.get(`/v3/projects/${pid}/groups/${gid}/roles`), 'roles').map((r) => r.name)).toEqual(['member']);
    const tok = await auth(uid, 'pw-secret', { project: { id: pid } });
    expect(tok.status).toBe(201);
    expect(tok.body.token.roles.map((r: { name: string }) => r.name)).toEqual(['member', 'reader']);

    const eff = list(await admin.get(`/v3/role_assignments?effective&user.id=${uid}`), 'role_assignments');
    expect(eff).toHaveLength(2);
    expect(eff[0].links.membership).toBe(`http://localhost:80/v3/groups/${gid}/users/${uid}`);
    expect(eff[0].links.assignment).toBe(`http://localhost:80/v3/projects/${pid}/groups/${gid}/roles/${roleIds.member}`);
    const direct = list(await admin.get(`/v3/role_assignments?group.id=${gid}`), 'role_assignments');
    expect(direct).toEqual([
      {
        links: { assignment: `http://localhost:80/v3/projects/${pid}/groups/${gid}/roles/${roleIds.member}` },
        scope: { project: { id: pid } },
        group: { id: gid },
        role: { id: roleIds.member },
      },
    ]);
    expect(list(await admin.get('/v3/auth/projects'), 'projects').length).toBeGreaterThan(0);

    // Leaving the group revokes the member's tokens at once.
    const subject = tok.headers['x-subject-token'] as string;
    expect((await admin.delete(`/v3/groups/${gid}/users/${uid}`)).status).toBe(204);
    expectError(await admin.get('/v3/auth/tokens', { 'x-subject-token': subject }), 404, 'Failed to validate token');
    expectError(await admin.delete(`/v3/groups/${gid}/users/${uid}`), 404, `User '${uid}' not found in group '${gid}'`);
    expect((await admin.delete(`/v3/groups/${gid}`)).status).toBe(204);
    expectError(await admin.get(`/v3/groups/${gid}`), 404, `Could not find group: ${gid}.`);
  });
});

describe('application credentials', () => {
  it('create (secret once, stored hashed), authenticate by id and by name, roles a subset, restricted', async () => {
    const uid = await makeUser('ac-user');
    const pid = await makeProject('ac-project');
    await admin.put(`/v3/projects/${pid}/users/${uid}/roles/${roleIds.member}`);
    const tok = await auth(uid, 'pw-secret', { project: { id: pid } });
    const user = anon.withToken(tok.headers['x-subject-token'] as string);

    expectError(
      await user.post(`/v3/users/${uid}/application_credentials`, { application_credential: { name: 'x', roles: [{ id: roleIds.admin }] } }),
      400,
      'Invalid application credential: Cannot create an application credential with unassigned role',
    );
    const c = await user.post(`/v3/users/${uid}/application_credentials`, {
      application_credential: {
        name: 'ci',
        expires_at: '2099-01-01T00:00:00',
        access_rules: [{ path: '/v2.0/networks', method: 'GET', service: 'network' }],
      },
    });
    expect(c.status).toBe(201);
    const ac = c.body.application_credential;
    expect(ac).toMatchObject({ name: 'ci', user_id: uid, project_id: pid, system: null, expires_at: '2099-01-01T00:00:00.000000', unrestricted: null });
    expect(ac.roles.map((r: { name: string }) => r.name).sort()).toEqual(['member', 'reader']);
    expect(ac.secret).toMatch(/^[A-Za-z0-9_-]{86}$/);
    const stored = await tc.cloud.store.db.selectFrom('application_credentials').select('secret_hash').where('id', '=', ac.id).executeTakeFirstOrThrow();
    expect(stored.secret_hash).toMatch(/^scrypt\$/);
    expect(stored.secret_hash).not.toContain(ac.secret);
    expect((await user.get(`/v3/users/${uid}/application_credentials/${ac.id}`)).body.application_credential.secret).toBeUndefined();

    const byId = await anon.post('/v3/auth/tokens', {
      auth: { identity: { methods: ['application_credential'], application_credential: { id: ac.id, secret: ac.secret } } },
    });
    expect(byId.status).toBe(201);
    expect(byId.body.token.methods).toEqual(['application_credential']);
    expect(byId.body.token.project.id).toBe(pid);
    expect(byId.body.token.application_credential).toEqual({
      id: ac.id,
      name: 'ci',
      restricted: true,
      access_rules: [{ id: ac.access_rules[0].id, service: 'network', path: '/v2.0/networks', method: 'GET' }],
    });
    const byName = await anon.post('/v3/auth/tokens', {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { name: 'ci', secret: ac.secret, user: { name: 'ac-user', domain: { name: 'default' } } },
        },
      },
    });
    expect(byName.status).toBe(201);
    expectError(
      await anon.post('/v3/auth/tokens', { auth: { identity: { methods: ['application_credential'], application_credential: { id: ac.id, secret: 'bad' } } } }),
      401,
      'The request you have made requires authentication.',
    );
    expectError(
      await anon.post('/v3/auth/tokens', {
        auth: { identity: { methods: ['application_credential'], application_credential: { id: ac.id, secret: ac.secret } }, scope: { project: { id: pid } } },
      }),
      401,
      'Error authenticating with application credential: Application credentials cannot request a scope.',
    );

    // A restricted credential's token cannot make another one, nor re-scope.
    const acClient = anon.withToken(byId.headers['x-subject-token'] as string);
    expectError(
      await acClient.post(`/v3/users/${uid}/application_credentials`, { application_credential: { name: 'more' } }),
      403,
      "You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional application credentials..",
    );

    // Access rules: listed, in use (403 on delete) until the credential goes.
    const rules = list(await user.get(`/v3/users/${uid}/access_rules`), 'access_rules');
    expect(rules).toHaveLength(1);
    expectError(await user.delete(`/v3/users/${uid}/access_rules/${rules[0].id}`), 403, 'May not delete access rule in use');

    // The creator losing the role on the project takes the credential (and its tokens) away.
    expect((await admin.delete(`/v3/projects/${pid}/users/${uid}/roles/${roleIds.member}`)).status).toBe(204);
    expectError(await admin.get('/v3/auth/tokens', { 'x-subject-token': byName.headers['x-subject-token'] as string }), 404, 'Failed to validate token');
    expect(
      (
        await anon.post('/v3/auth/tokens', {
          auth: { identity: { methods: ['application_credential'], application_credential: { id: ac.id, secret: ac.secret } } },
        })
      ).status,
    ).toBe(401);
    expect((await user.delete(`/v3/users/${uid}/access_rules/${rules[0].id}`)).status).toBe(401);
  });

  it("keeps access rules in Keystone's order: as asked on create, then in the order they were first made", async () => {
    // Gophercloud's TestApplicationCredentialsAccessRules sends GET then PUT on one path and
    // compares the answer rule by rule; Keystone reads them back by its autoincrement id.
    const uid = await makeUser('ac-order');
    const pid = await makeProject('ac-order');
    await admin.put(`/v3/projects/${pid}/users/${uid}/roles/${roleIds.member}`);
    const user = anon.withToken((await auth(uid, 'pw-secret', { project: { id: pid } })).headers['x-subject-token'] as string);
    const methods = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD'];
    const rule = (method: string, path = '/v2.0/metrics') => ({ path, service: 'monitoring', method });
    const first = await user.post(`/v3/users/${uid}/application_credentials`, {
      application_credential: { name: 'first', access_rules: methods.map((m) => rule(m)) },
    });
    expect(first.status).toBe(201);
    const made = first.body.application_credential;
    expect(made.access_rules.map((r: { method: string }) => r.method)).toEqual(methods);
    const got = (await user.get(`/v3/users/${uid}/application_credentials/${made.id}`)).body.application_credential;
    expect(got.access_rules).toEqual(made.access_rules);
    // A second credential reuses PUT (made first) after a new rule: the create answers in the
    // order asked, a read in the order the rules were made.
    const second = await user.post(`/v3/users/${uid}/application_credentials`, {
      application_credential: { name: 'second', access_rules: [rule('GET', '/v2.0/alarms'), rule('PUT')] },
    });
    expect(second.status).toBe(201);
    const ac2 = second.body.application_credential;
    const shown = (rs: Array<{ method: string; path: string }>) => rs.map((r) => `${r.method} ${r.path}`);
    expect(shown(ac2.access_rules)).toEqual(['GET /v2.0/alarms', 'PUT /v2.0/metrics']);
    expect(ac2.access_rules[1].id).toBe(made.access_rules[1].id);
    const read2 = (await user.get(`/v3/users/${uid}/application_credentials/${ac2.id}`)).body.application_credential;
    expect(shown(read2.access_rules)).toEqual(['PUT /v2.0/metrics', 'GET /v2.0/alarms']);
    const all = list(await user.get(`/v3/users/${uid}/access_rules`), 'access_rules');
    expect(all.map((r) => r.method)).toEqual([...methods, 'GET']);
  });

  it('clouds.yaml holds an application-credential cloud for demo that authenticates', async () => {
    const text = readFileSync(join(tc.dir, 'clouds.yaml'), 'utf8');
    expect(statSync(join(tc.dir, 'clouds.yaml')).mode & 0o777).toBe(0o600);
    const id = /application_credential_id: "([0-9a-f]+)"/.exec(text)![1];
    const secret = /application_credential_secret: "([^"]+)"/.exec(text)![1];
    expect(text).toContain('auth_type: "v3applicationcredential"');
    const res = await anon.post('/v3/auth/tokens', { auth: { identity: { methods: ['application_credential'], application_credential: { id, secret } } } });
    expect(res.status).toBe(201);
    expect(res.body.token.user.id).toBe(demoId);
    expect(res.body.token.project.id).toBe(demoProject);
  });
});

describe('trusts', () => {
  it('create, consume with OS-TRUST:trust (impersonation), roles never beyond the trustor, redelegation limits', async () => {
    const trustor = await makeUser('trustor');
    const trustee = await makeUser('trustee');
    const pid = await makeProject('trust-project');
    await admin.put(`/v3/projects/${pid}/users/${trustor}/roles/${roleIds.member}`);
    const trustorClient = anon.withToken((await auth(trustor, 'pw-secret', { project: { id: pid } })).headers['x-subject-token'] as string);
    expectError(
      await trustorClient.post('/v3/OS-TRUST/trusts', {
        trust: { trustor_user_id: trustee, trustee_user_id: trustor, impersonation: false, project_id: pid, roles: [{ name: 'member' }] },
      }),
      403,
      'You are not authorized to perform the requested action: identity:create_trust.',
    );
    expectError(
      await trustorClient.post('/v3/OS-TRUST/trusts', {
        trust: { trustor_user_id: trustor, trustee_user_id: trustee, impersonation: true, project_id: pid, roles: [{ name: 'admin' }] },
      }),
      404,
      `Could not find role: ${roleIds.admin}.`,
    );
    const created = await trustorClient.post('/v3/OS-TRUST/trusts', {
      trust: {
        trustor_user_id: trustor,
        trustee_user_id: trustee,
        impersonation: true,
        project_id: pid,
        roles: [{ name: 'member' }],
        allow_redelegation: true,
        expires_at: '2099-01-01T00:00:00Z',
      },
    });
    expect(created.status).toBe(201);
    const trust = created.body.trust;
    expect(trust).toMatchObject({
      impersonation: true,
      expires_at: '2099-01-01T00:00:00.000000Z',
      redelegation_count: 3,
      remaining_uses: null,
      deleted_at: null,
    });
    expect(trust.roles.map((r: { name: string }) => r.name)).toEqual(['member']);

    const t = await anon.post('/v3/auth/tokens?nocatalog', {
      auth: { identity: { methods: ['password'], password: { user: { id: trustee, password: 'pw-secret' } } }, scope: { 'OS-TRUST:trust': { id: trust.id } } },
    });
    expect(t.status).toBe(201);
    expect(t.body.token.user.id).toBe(trustor);
    expect(t.body.token['OS-TRUST:trust']).toEqual({ id: trust.id, trustor_user: { id: trustor }, trustee_user: { id: trustee }, impersonation: true });
    expect(t.body.token.roles.map((r: { name: string }) => r.name)).toEqual(['member', 'reader']);
    expect(t.body.token.is_domain).toBeUndefined();

    // Redelegation: deeper than allowed is refused; roles beyond the parent are refused.
    const trustClient = anon.withToken(t.headers['x-subject-token'] as string);
    const deeper = await trustClient.post('/v3/OS-TRUST/trusts', {
      trust: {
        trustor_user_id: trustor,
        trustee_user_id: trustee,
        impersonation: true,
        project_id: pid,
        roles: [{ name: 'member' }],
        allow_redelegation: true,
        redelegation_count: 5,
      },
    });
    expectError(deeper, 403, 'You are not authorized to perform the requested action.');

    // Only a trustee may use it; a token from it cannot make another token.
    expect((await auth(trustor, 'pw-secret', { 'OS-TRUST:trust': { id: trust.id } })).status).toBe(401);
    const rescope = await anon.post('/v3/auth/tokens', {
      auth: { identity: { methods: ['token'], token: { id: t.headers['x-subject-token'] } }, scope: { project: { id: pid } } },
    });
    expectError(rescope, 403, /Using trust-scoped token to create another token/);

    // The trustor losing the role empties the trust: its tokens stop.
    await admin.delete(`/v3/projects/${pid}/users/${trustor}/roles/${roleIds.member}`);
    expectError(await admin.get('/v3/auth/tokens', { 'x-subject-token': t.headers['x-subject-token'] as string }), 404, 'Failed to validate token');
    expect(list(await admin.get(`/v3/OS-TRUST/trusts?trustor_user_id=${trustor}`), 'trusts')).toHaveLength(1);
    expect((await admin.delete(`/v3/OS-TRUST/trusts/${trust.id}`)).status).toBe(204);
    expectError(await admin.get(`/v3/OS-TRUST/trusts/${trust.id}`), 404, `Could not find trust: ${trust.id}.`);
  });
});

describe('credentials', () => {
  it('EC2 and TOTP blobs: shown to the API, encrypted at rest under the data directory key', async () => {
    const blob = JSON.stringify({ access: 'AKIA-test', secret: 'very-secret-value' });
    const c = await admin.post('/v3/credentials', { credential: { user_id: demoId, project_id: demoProject, type: 'ec2', blob } });
    expect(c.status).toBe(201);
    // Keystone's EC2 credential id: the SHA-256 of the access key.
    expect(c.body.credential.id).toBe(createHash('sha256').update('AKIA-test').digest('hex'));
    expect(c.body.credential).toMatchObject({ user_id: demoId, project_id: demoProject, type: 'ec2', blob });
    const totp = await admin.post('/v3/credentials', { credential: { user_id: demoId, type: 'totp', blob: 'GEZDGNBVGY3TQOJQ' } });
    expect(totp.status).toBe(201);
    expectError(
      await admin.post('/v3/credentials', { credential: { user_id: demoId, type: 'ec2', blob: 'x' } }),
      400,
      /is not valid under any of the given schemas/,
    );
    const rows = await tc.cloud.store.db.selectFrom('credentials').select('encrypted_blob').execute();
    for (const r of rows) {
      expect(r.encrypted_blob).not.toContain('very-secret-value');
      expect(r.encrypted_blob).not.toContain('GEZDGNBVGY3TQOJQ');
    }
    expect(statSync(join(tc.dir, 'credential.key')).mode & 0o777).toBe(0o600);
    expect(list(await admin.get(`/v3/credentials?type=totp`), 'credentials').map((x) => x.id)).toEqual([totp.body.credential.id]);
    expect((await admin.delete(`/v3/credentials/${totp.body.credential.id}`)).status).toBe(204);

    const ec2 = await admin.post(`/v3/users/${demoId}/credentials/OS-EC2`, { tenant_id: demoProject });
    expect(ec2.status).toBe(201);
    expect(Object.keys(ec2.body.credential)).toEqual(['user_id', 'tenant_id', 'access', 'secret', 'trust_id', 'links']);
    const access = ec2.body.credential.access;
    expect((await admin.get(`/v3/users/${demoId}/credentials/OS-EC2/${access}`)).body.credential.secret).toBe(ec2.body.credential.secret);
    expect((await admin.delete(`/v3/users/${demoId}/credentials/OS-EC2/${access}`)).status).toBe(204);
    expect((await admin.get(`/v3/users/${demoId}/credentials/OS-EC2/${access}`)).status).toBe(404);
    // Keystone looks the user up first: an unknown one is its 404, listing or reading.
    for (const url of ['/v3/users/nobody/credentials/OS-EC2', `/v3/users/nobody/credentials/OS-EC2/${access}`]) {
      expectError(await admin.get(url), 404, 'Could not find user: nobody.');
    }
  });

  it("s3tokens: a v1 or v4 S3 signature by an EC2 credential is traded for its user's token, by a service or admin only", async () => {
    // Gophercloud's TestCredentialsValidateS3 (ec2tokens.ValidateS3Token): an admin posts what
    // an S3 front end received — the access key, the string signed (base64) and the signature.
    const blob = JSON.stringify({ access: 's3-access', secret: 's3-secret' });
    expect((await admin.post('/v3/credentials', { credential: { user_id: demoId, project_id: demoProject, type: 'ec2', blob } })).status).toBe(201);
    const stringToSign = 'GET\n\n\nTue, 04 Dec 2026 09:00:00 GMT\n/bucket/key';
    const v1 = {
      access: 's3-access',
      token: Buffer.from(stringToSign).toString('base64url'),
      signature: createHmac('sha1', 's3-secret').update(stringToSign).digest('base64'),
    };
    const res = await admin.post('/v3/s3tokens', { credentials: v1 });
    expect(res.status).toBe(200);
    expect(res.headers['x-subject-token']).toBeUndefined();
    expect(res.body.token).toMatchObject({ methods: ['ec2credential'], user: { id: demoId, name: 'demo' }, project: { id: demoProject, name: 'demo' } });
    expect(res.body.token.roles.map((r: { name: string }) => r.name).sort()).toEqual(['member', 'reader']);
    expect(res.body.token.catalog.length).toBeGreaterThan(0);

    // AWS Signature v4: the key derived from the date, region and service of the scope.
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    const scope = `${amzDate.slice(0, 8)}/RegionOne/s3/aws4_request`;
    const v4String = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update('canonical request').digest('hex')}`;
    let key = createHmac('sha256', 'AWS4s3-secret').update(amzDate.slice(0, 8)).digest();
    for (const part of ['RegionOne', 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    const v4 = {
      access: 's3-access',
      token: Buffer.from(v4String).toString('base64url'),
      signature: createHmac('sha256', key).update(v4String).digest('hex'),
      headers: { 'X-Amz-Date': amzDate },
    };
    expect((await admin.post('/v3/s3tokens', { credentials: v4 })).status).toBe(200);
    // A request signed more than [credential] auth_ttl (15 minutes) ago is refused.
    const stale = { ...v4, headers: { 'X-Amz-Date': '20200101T000000Z' } };
    expectError(await admin.post('/v3/s3tokens', { credentials: stale }), 401, 'The request you have made requires authentication.');
    expectError(await admin.post('/v3/s3tokens', { credentials: { ...v1, signature: 'forged' } }), 401, 'The request you have made requires authentication.');
    // get_credential's own refusal, naming the access key's SHA-256.
    const nobody = createHash('sha256').update('nobody').digest('hex');
    expectError(await admin.post('/v3/s3tokens', { credentials: { ...v1, access: 'nobody' } }), 404, `Could not find credential: ${nobody}.`);
    expectError(await admin.post('/v3/s3tokens', {}), 400, 'request must include a request body');
    // Not for anyone holding a token: a member is refused, an anonymous caller asked to log in.
    const demo = anon.withToken(await tokenFor(tc, 'demo', DEMO_PASSWORD));
    expect((await demo.post('/v3/s3tokens', { credentials: v1 })).status).toBe(403);
    expect((await anon.post('/v3/s3tokens', { credentials: v1 })).status).toBe(401);
  });
});

describe('roles, projects and filters', () => {
  it('domain roles imply global ones; a global role may not imply a domain role; domain roles are never effective', async () => {
    const d = (await admin.post('/v3/domains', { domain: { name: 'rd' } })).body.domain.id;
    const dr = (await admin.post('/v3/roles', { role: { name: 'd-role', domain_id: d } })).body.role.id;
    const dr2 = (await admin.post('/v3/roles', { role: { name: 'd-role', domain_id: 'default' } })).body.role.id;
    expect(dr2).toBeDefined();
    expect((await admin.put(`/v3/roles/${dr}/implies/${roleIds.reader}`)).status).toBe(201);
    expect((await admin.put(`/v3/roles/${roleIds.reader}/implies/${dr2}`)).status).toBe(403);
    const uid = await makeUser('dr-user');
    const pid = (await admin.post('/v3/projects', { project: { name: 'dr-p', domain_id: d } })).body.project.id;
    await admin.put(`/v3/projects/${pid}/users/${uid}/roles/${dr}`);
    const eff = list(await admin.get(`/v3/role_assignments?effective&user.id=${uid}`), 'role_assignments');
    expect(eff.map((a) => a.role.id)).toEqual([roleIds.reader]);
    expectError(
      await admin.put(`/v3/projects/${demoProject}/users/${uid}/roles/${dr}`),
      403,
      `Project ${demoProject} must be in the same domain as the role ${dr} being assigned.`,
    );
  });

  it('is_domain projects are domains; tags with their filters; __contains filters; domain names without case', async () => {
    const p = await admin.post('/v3/projects', { project: { name: 'as-domain', is_domain: true } });
    expect(p.status).toBe(201);
    expect(p.body.project).toMatchObject({ is_domain: true, domain_id: null, parent_id: null });
    const id = p.body.project.id;
    expect(list(await admin.get('/v3/projects?is_domain=true'), 'projects').map((x) => x.id)).toContain(id);
    expect(list(await admin.get('/v3/projects'), 'projects').map((x) => x.id)).not.toContain(id);
    expect(list(await admin.get('/v3/domains'), 'domains').map((x) => x.id)).toContain(id);
    expect((await admin.get(`/v3/projects/${id}`)).body.project.is_domain).toBe(true);
    expect((await patch(admin, `/v3/projects/${id}`, { project: { enabled: false } })).body.project.enabled).toBe(false);
    expect((await admin.delete(`/v3/projects/${id}`)).status).toBe(204);

    const a = await makeProject('tag-a');
    const b = await makeProject('tag-b');
    expect((await admin.request('PUT', `/v3/projects/${a}/tags`, { tags: ['x', 'y'] })).body.tags).toEqual(['x', 'y']);
    const put = await admin.put(`/v3/projects/${b}/tags/y`);
    expect(put.status).toBe(201);
    expect(put.headers.location).toBe(`http://localhost:80/v3/projects/${b}/tags/y`);
    expect((await head(admin, `/v3/projects/${b}/tags/y`)).status).toBe(204);
    expectError(await admin.get(`/v3/projects/${b}/tags/z`), 404, 'Could not find project tag: z.');
    expectError(await admin.put(`/v3/projects/${b}/tags/y`), 400, /has non-unique elements/);
    const names = async (q: string) =>
      list(await admin.get(`/v3/projects?${q}`), 'projects')
        .map((x) => x.name)
        .sort();
    expect(await names('tags=x,y')).toEqual(['tag-a']);
    expect(await names('tags-any=y')).toEqual(['tag-a', 'tag-b']);
    expect(await names('not-tags=x,y&name__startswith=tag-')).toEqual(['tag-b']);
    expect(await names('not-tags-any=y&name__startswith=tag-')).toEqual([]);
    expect(await names('name__contains=ag-')).toEqual(['tag-a', 'tag-b']);
    expect(await names('name__icontains=TAG-A')).toEqual(['tag-a']);
    expect(await names('name__contains=TAG')).toEqual([]);
    expect(await names('name__endswith=-b')).toEqual(['tag-b']);
    expect(await names('name__iendswith=-B')).toEqual(['tag-b']);
    expect(await names('name__istartswith=TAG-')).toEqual(['tag-a', 'tag-b']);
    expect(list(await admin.get('/v3/users?name__startswith=de'), 'users').map((u) => u.name)).toEqual(['demo']);
    expect(list(await admin.get('/v3/domains?name=default'), 'domains').map((d) => d.id)).toEqual(['default']);
    const t = await anon.post('/v3/auth/tokens', {
      auth: { identity: { methods: ['password'], password: { user: { name: 'demo', domain: { name: 'DEFAULT' }, password: DEMO_PASSWORD } } } },
    });
    expect(t.status).toBe(201);
    expect((await admin.delete(`/v3/projects/${a}/tags`)).status).toBe(204);
    expect((await admin.get(`/v3/projects/${a}/tags`)).body.tags).toEqual([]);
  });
});

describe('the writable catalog', () => {
  it('services, endpoints and regions change the token catalog at once; removing PocketStack’s own leaves it serving', async () => {
    // The catalog's resources read their member with `.get('region')`: without it, Keystone
    // validates None (where projects and users read `.get('project', {})`).
    for (const [method, url] of [
      ['POST', '/v3/services'],
      ['PATCH', '/v3/services/x'],
      ['POST', '/v3/endpoints'],
      ['POST', '/v3/regions'],
      ['PUT', '/v3/regions/new-region'],
      ['PATCH', '/v3/regions/x'],
    ]) {
      expectError(await admin.request(method, url, {}), 400, "None is not of type 'object'");
    }
    expect((await admin.get('/v3/regions/new-region')).status).toBe(404);
    const r = await admin.post('/v3/regions', { region: { id: 'Parent', description: 'p' } });
    expect(r.status).toBe(201);
    const child = await admin.post('/v3/regions', { region: { description: 'c', parent_region_id: 'Parent' } });
    expect(child.body.region.parent_region_id).toBe('Parent');
    expectError(await patch(admin, '/v3/regions/Parent', { region: { parent_region_id: child.body.region.id } }), 400, /circular region hierarchy/);
    expect(list(await admin.get('/v3/regions?parent_region_id=Parent'), 'regions').map((x) => x.id)).toEqual([child.body.region.id]);

    const s = await admin.post('/v3/services', { service: { type: 'object-store', name: 'swift' } });
    expect(s.status).toBe(201);
    const e = await admin.post('/v3/endpoints', {
      endpoint: { service_id: s.body.service.id, interface: 'public', url: 'http://x/v1/AUTH_$(project_id)s', region: 'Auto' },
    });
    expect(e.status).toBe(201);
    expect(e.body.endpoint).toMatchObject({ region: 'Auto', region_id: 'Auto', enabled: true });
    expect((await admin.get('/v3/regions/Auto')).status).toBe(200);
    expectError(await admin.delete('/v3/regions/Auto'), 403, /associated endpoints/);
    expectError(
      await admin.post('/v3/endpoints', { endpoint: { service_id: s.body.service.id, interface: 'public', url: 'http://x', enabled: 'True' } }),
      400,
      /is not of type 'boolean'/,
    );

    const catalog = async () => (await admin.get('/v3/auth/catalog')).body.catalog as Array<{ type: string; endpoints: Array<{ url: string }> }>;
    const swift = (await catalog()).find((x) => x.type === 'object-store')!;
    const adminProject = list(await admin.get('/v3/projects?name=admin'), 'projects')[0].id;
    expect(swift.endpoints[0].url).toBe(`http://x/v1/AUTH_${adminProject}`);
    await patch(admin, `/v3/endpoints/${e.body.endpoint.id}`, { endpoint: { enabled: false } });
    expect((await catalog()).find((x) => x.type === 'object-store')!.endpoints).toEqual([]);

    // Endpoint filtering: a project with associations sees only those.
    const net = list(await admin.get('/v3/services?type=network'), 'services')[0];
    const netEndpoints = list(await admin.get(`/v3/endpoints?service_id=${net.id}`), 'endpoints');
    expect((await admin.put(`/v3/OS-EP-FILTER/projects/${adminProject}/endpoints/${netEndpoints[0].id}`)).status).toBe(204);
    expect((await catalog()).map((x) => x.type)).toEqual(['network']);
    const eg = await admin.post('/v3/OS-EP-FILTER/endpoint_groups', { endpoint_group: { name: 'ids', filters: { interface: 'public' } } });
    expect(eg.status).toBe(201);
    expect((await head(admin, `/v3/OS-EP-FILTER/endpoint_groups/${eg.body.endpoint_group.id}`)).status).toBe(200);
    await admin.put(`/v3/OS-EP-FILTER/endpoint_groups/${eg.body.endpoint_group.id}/projects/${adminProject}`);
    expect((await catalog()).length).toBeGreaterThan(1);
    await admin.delete(`/v3/OS-EP-FILTER/endpoint_groups/${eg.body.endpoint_group.id}`);
    await admin.delete(`/v3/OS-EP-FILTER/projects/${adminProject}/endpoints/${netEndpoints[0].id}`);

    // PocketStack's network service removed from the catalog: gone from tokens, Neutron still answers.
    expect((await admin.delete(`/v3/services/${net.id}`)).status).toBe(204);
    expect((await catalog()).map((x) => x.type)).not.toContain('network');
    const neutron = new Client(tc.cloud.apps.get('network')!, await tokenFor(tc, 'admin', ADMIN_PASSWORD));
    expect((await neutron.get('/v2.0/networks')).status).toBe(200);
  });
});

describe('unified limits', () => {
  it('registered limits, project limits needing one, duplicates and in-use refusals', async () => {
    const svc = list(await admin.get('/v3/services?type=compute'), 'services')[0].id;
    const rl = await admin.post('/v3/registered_limits', {
      registered_limits: [{ service_id: svc, resource_name: 'cores', default_limit: 10, region_id: 'RegionOne' }],
    });
    expect(rl.status).toBe(201);
    expect(Object.keys(rl.body.registered_limits[0])).toEqual(['id', 'service_id', 'region_id', 'resource_name', 'default_limit', 'description', 'links']);
    expectError(
      await admin.post('/v3/registered_limits', { registered_limits: [{ service_id: svc, resource_name: 'cores', default_limit: 1, region_id: 'RegionOne' }] }),
      409,
      'Conflict occurred attempting to store registered_limit - Duplicate entry.',
    );
    expectError(
      await admin.post('/v3/limits', { limits: [{ service_id: svc, resource_name: 'ram', resource_limit: 5, project_id: demoProject }] }),
      403,
      'Unable to create a limit that has no corresponding registered limit.',
    );
    const l = await admin.post('/v3/limits', {
      limits: [{ service_id: svc, resource_name: 'cores', resource_limit: 5, region_id: 'RegionOne', project_id: demoProject }],
    });
    expect(l.status).toBe(201);
    expect(l.body.links).toBeUndefined();
    expectError(await admin.delete(`/v3/registered_limits/${rl.body.registered_limits[0].id}`), 403, /because there are project limits associated with it/);
    expect((await patch(admin, `/v3/limits/${l.body.limits[0].id}`, { limit: { resource_limit: 7 } })).body.limit.resource_limit).toBe(7);
    expect((await admin.get('/v3/limits/model')).body.model.name).toBe('flat');
    const demoClient = anon.withToken(await tokenFor(tc, 'demo', DEMO_PASSWORD));
    expect(list(await demoClient.get('/v3/limits'), 'limits')).toHaveLength(1);
    expect((await demoClient.post('/v3/limits', { limits: [] })).status).toBe(403);
  });
});

describe('OS-FEDERATION configuration', () => {
  it('identity providers (a domain made for them), protocols needing a mapping, mappings, service providers listed in tokens', async () => {
    const idp = await admin.put('/v3/OS-FEDERATION/identity_providers/idp1', { identity_provider: { description: 'd', remote_ids: ['r1'] } });
    expect(idp.status).toBe(201);
    expect(idp.body.identity_provider).toMatchObject({ id: 'idp1', enabled: false, remote_ids: ['r1'], authorization_ttl: null });
    expect((await admin.get(`/v3/domains/${idp.body.identity_provider.domain_id}`)).status).toBe(200);
    expectError(
      await admin.put('/v3/OS-FEDERATION/identity_providers/idp2', { identity_provider: { remote_ids: ['r1'] } }),
      409,
      'Conflict occurred attempting to store identity_provider - Duplicate remote ID: None.',
    );
    expectError(
      await admin.put('/v3/OS-FEDERATION/identity_providers/idp1/protocols/saml2', { protocol: { mapping_id: 'nope' } }),
      400,
      'Invalid mapping id: nope',
    );
    expectError(await admin.put('/v3/OS-FEDERATION/mappings/m1', { mapping: {} }), 400, "'rules' is a required property");
    const rules = [{ local: [{ user: { name: '{0}' } }], remote: [{ type: 'openstack_username' }] }];
    expect((await admin.put('/v3/OS-FEDERATION/mappings/m1', { mapping: { rules } })).body.mapping.rules).toEqual(rules);
    const proto = await admin.put('/v3/OS-FEDERATION/identity_providers/idp1/protocols/saml2', { protocol: { mapping_id: 'm1' } });
    expect(proto.body.protocol).toEqual({
      id: 'saml2',
      mapping_id: 'm1',
      links: { self: 'http://localhost:80/v3/protocols/saml2', identity_provider: 'http://localhost:80/v3/idp1' },
    });
    // Federated sign-in itself is not built.
    expect((await anon.get('/v3/OS-FEDERATION/identity_providers/idp1/protocols/saml2/auth')).status).toBe(401);
    expect((await admin.get('/v3/OS-FEDERATION/identity_providers/idp1/protocols/saml2/auth')).status).toBe(501);

    const sp = await admin.put('/v3/OS-FEDERATION/service_providers/sp1', {
      service_provider: { auth_url: 'http://a/x', sp_url: 'http://b/y', enabled: true },
    });
    expect(sp.body.service_provider).toMatchObject({ relay_state_prefix: 'ss:mem:', description: null });
    expectError(
      await admin.put('/v3/OS-FEDERATION/service_providers/sp2', { service_provider: { auth_url: 'nope', sp_url: 'http://b/y' } }),
      400,
      /does not match/,
    );
    const t = await anon.post('/v3/auth/tokens?nocatalog', {
      auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password: ADMIN_PASSWORD } } } },
    });
    expect(t.body.token.service_providers).toEqual([{ auth_url: 'http://a/x', id: 'sp1', sp_url: 'http://b/y' }]);
    expect((await admin.delete('/v3/OS-FEDERATION/service_providers/sp1')).status).toBe(204);
    expect((await admin.delete('/v3/OS-FEDERATION/identity_providers/idp1')).status).toBe(204);
  });
});

describe('OS-OAUTH1', () => {
  /**
   * An OAuth1 Authorization header, built as tempest's oauth_token_client builds it (HMAC-SHA1), or
   * with another of oauthlib's signature methods (PLAINTEXT: the secrets themselves, RFC 5849 §3.4.4).
   */
  function oauthHeader(
    method: string,
    url: string,
    consumer: { key: string; secret: string },
    token?: { key: string; secret: string },
    extra: Record<string, string> = {},
    signatureMethod: 'HMAC-SHA1' | 'HMAC-SHA256' | 'PLAINTEXT' = 'HMAC-SHA1',
  ) {
    const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const params: Array<[string, string]> = [
      ['oauth_nonce', String(Math.random()).slice(2)],
      ['oauth_timestamp', String(Math.floor(Date.now() / 1000))],
      ['oauth_version', '1.0'],
      ['oauth_signature_method', signatureMethod],
      ['oauth_consumer_key', consumer.key],
      ...(token ? ([['oauth_token', token.key]] as Array<[string, string]>) : []),
      ...Object.entries(extra),
    ];
    const normalized = params
      .map(([k, v]) => [enc(k), enc(v)])
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const base = `${method}&${enc(url)}&${enc(normalized)}`;
    const key = `${enc(consumer.secret)}&${enc(token?.secret ?? '')}`;
    const sig =
      signatureMethod === 'PLAINTEXT'
        ? key
        : createHmac(signatureMethod === 'HMAC-SHA1' ? 'sha1' : 'sha256', key)
            .update(base)
            .digest('base64');
    return `OAuth ${[...params, ['oauth_signature', sig]].map(([k, v]) => `${enc(k)}="${enc(v)}"`).join(', ')}`;
  }
  const form = (body: string) => Object.fromEntries(body.split('&').map((kv) => kv.split('=')));

  it('consumer, signed request token, authorization, access token, and a token issued through it', async () => {
    const c = await admin.post('/v3/OS-OAUTH1/consumers', { consumer: { description: 'ci' } });
    expect(c.status).toBe(201);
    const consumer = { key: c.body.consumer.id as string, secret: c.body.consumer.secret as string };
    expect((await admin.get(`/v3/OS-OAUTH1/consumers/${consumer.key}`)).body.consumer.secret).toBeUndefined();
    const adminProject = list(await admin.get('/v3/projects?name=admin'), 'projects')[0].id;
    // RFC 5849 §3.4.1.2: the default port is not part of the signed URL.
    const base = 'http://localhost/v3/OS-OAUTH1';

    const bad = await anon.post('/v3/OS-OAUTH1/request_token', undefined, {
      'requested-project-id': adminProject,
      authorization: oauthHeader('POST', `${base}/request_token`, { ...consumer, secret: 'wrong' }, undefined, { oauth_callback: 'oob' }),
    });
    expectError(bad, 401, 'The request you have made requires authentication.');
    const rt = await anon.post('/v3/OS-OAUTH1/request_token', undefined, {
      'requested-project-id': adminProject,
      authorization: oauthHeader('POST', `${base}/request_token`, consumer, undefined, { oauth_callback: 'oob' }),
    });
    expect(rt.status).toBe(201);
    expect(rt.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const request = form(rt.body as unknown as string);
    const authz = await admin.put(`/v3/OS-OAUTH1/authorize/${request.oauth_token}`, { roles: [{ id: roleIds.admin }] });
    expect(authz.status).toBe(200);
    const verifier = authz.body.token.oauth_verifier;
    expect(verifier).toMatch(/^[A-Za-z0-9]{8}$/);
    const at = await anon.post('/v3/OS-OAUTH1/access_token', undefined, {
      authorization: oauthHeader(
        'POST',
        `${base}/access_token`,
        consumer,
        { key: request.oauth_token, secret: request.oauth_token_secret },
        { oauth_verifier: verifier },
      ),
    });
    expect(at.status).toBe(201);
    const access = form(at.body as unknown as string);
    const adminUser = list(await admin.get('/v3/users?name=admin'), 'users')[0].id;
    const shown = (await admin.get(`/v3/users/${adminUser}/OS-OAUTH1/access_tokens/${access.oauth_token}`)).body.access_token;
    expect(shown).toMatchObject({
      id: access.oauth_token,
      consumer_id: consumer.key,
      project_id: adminProject,
      authorizing_user_id: adminUser,
      expires_at: access.oauth_expires_at,
    });

    const tok = await anon.post(
      '/v3/auth/tokens',
      { auth: { identity: { methods: ['oauth1'], oauth1: {} } } },
      {
        authorization: oauthHeader('POST', 'http://localhost/v3/auth/tokens', consumer, { key: access.oauth_token, secret: access.oauth_token_secret }),
      },
    );
    expect(tok.status).toBe(201);
    expect(tok.body.token['OS-OAUTH1']).toEqual({ access_token_id: access.oauth_token, consumer_id: consumer.key });
    expect(tok.body.token.project.id).toBe(adminProject);
    expect((await admin.delete(`/v3/users/${adminUser}/OS-OAUTH1/access_tokens/${access.oauth_token}`)).status).toBe(204);
    expectError(await admin.get('/v3/auth/tokens', { 'x-subject-token': tok.headers['x-subject-token'] as string }), 404, 'Failed to validate token');
    expect((await admin.delete(`/v3/OS-OAUTH1/consumers/${consumer.key}`)).status).toBe(204);
  });

  it("signs with PLAINTEXT and HMAC-SHA256 too, and delegates an implied role (Keystone's effective roles)", async () => {
    // Gophercloud's TestOAuth1CRUD: the admin delegates the roles its token lists, `reader` among
    // them (implied by `member`, which `admin` implies), signing once with HMAC-SHA1 and once
    // with PLAINTEXT; oauthlib, under Keystone, allows both (and HMAC-SHA256/512).
    const c = (await admin.post('/v3/OS-OAUTH1/consumers', { consumer: {} })).body.consumer;
    const consumer = { key: c.id as string, secret: c.secret as string };
    const adminProject = list(await admin.get('/v3/projects?name=admin'), 'projects')[0].id;
    const base = 'http://localhost/v3/OS-OAUTH1';
    for (const signatureMethod of ['PLAINTEXT', 'HMAC-SHA256'] as const) {
      const wrong = await anon.post('/v3/OS-OAUTH1/request_token', undefined, {
        'requested-project-id': adminProject,
        authorization: oauthHeader('POST', `${base}/request_token`, { ...consumer, secret: 'wrong' }, undefined, { oauth_callback: 'oob' }, signatureMethod),
      });
      expectError(wrong, 401, 'The request you have made requires authentication.');
      const rt = await anon.post('/v3/OS-OAUTH1/request_token', undefined, {
        'requested-project-id': adminProject,
        authorization: oauthHeader('POST', `${base}/request_token`, consumer, undefined, { oauth_callback: 'oob' }, signatureMethod),
      });
      expect(rt.status).toBe(201);
      const request = form(rt.body as unknown as string);
      const authz = await admin.put(`/v3/OS-OAUTH1/authorize/${request.oauth_token}`, { roles: [{ id: roleIds.reader }, { name: 'member' }] });
      expect(authz.status).toBe(200);
      const at = await anon.post('/v3/OS-OAUTH1/access_token', undefined, {
        authorization: oauthHeader(
          'POST',
          `${base}/access_token`,
          consumer,
          { key: request.oauth_token, secret: request.oauth_token_secret },
          { oauth_verifier: authz.body.token.oauth_verifier },
          signatureMethod,
        ),
      });
      expect(at.status).toBe(201);
      const access = form(at.body as unknown as string);
      const adminUser = list(await admin.get('/v3/users?name=admin'), 'users')[0].id;
      const roles = list(await admin.get(`/v3/users/${adminUser}/OS-OAUTH1/access_tokens/${access.oauth_token}/roles`), 'roles');
      expect(roles.map((r) => r.name).sort()).toEqual(['member', 'reader']);
    }
    // A role the user holds neither directly nor by implication is refused.
    const other = (await admin.post('/v3/roles', { role: { name: 'oauth-unheld' } })).body.role.id;
    const rt = await anon.post('/v3/OS-OAUTH1/request_token', undefined, {
      'requested-project-id': adminProject,
      authorization: oauthHeader('POST', `${base}/request_token`, consumer, undefined, { oauth_callback: 'oob' }),
    });
    const request = form(rt.body as unknown as string);
    expectError(
      await admin.put(`/v3/OS-OAUTH1/authorize/${request.oauth_token}`, { roles: [{ id: other }] }),
      401,
      'The request you have made requires authentication.',
    );
  });
});

describe('domain configuration', () => {
  it('defaults, create (201 then 200), group and option reads, partial updates and deletes, the LDAP password never shown', async () => {
    const defaults = (await admin.get('/v3/domains/config/default')).body.config;
    expect(Object.keys(defaults)).toEqual(['identity', 'ldap']);
    expect((await admin.get('/v3/domains/config/ldap/url/default')).body).toEqual({ config: { url: 'ldap://localhost' } });
    expectError(
      await admin.get('/v3/domains/config/foo/default'),
      403,
      'Invalid domain specific configuration: Group foo is not supported for domain specific configurations.',
    );
    const d = (await admin.post('/v3/domains', { domain: { name: 'ldap-d' } })).body.domain.id;
    expectError(await admin.get(`/v3/domains/${d}/config`), 404, `Could not find any options in domain configuration for domain ${d}.`);
    const config = { identity: { driver: 'ldap' }, ldap: { url: 'ldap://x/', password: 'hidden' } };
    const put = await admin.put(`/v3/domains/${d}/config`, { config });
    expect(put.status).toBe(201);
    expect(put.body.config).toEqual({ identity: { driver: 'ldap' }, ldap: { url: 'ldap://x/' } });
    expect((await admin.put(`/v3/domains/${d}/config`, { config })).status).toBe(200);
    expect((await admin.get(`/v3/domains/${d}/config/ldap/url`)).body.config).toEqual({ url: 'ldap://x/' });
    const upd = await patch(admin, `/v3/domains/${d}/config/identity/driver`, { config: { driver: 'sql' } });
    expect(upd.body.config.identity.driver).toBe('sql');
    expectError(await patch(admin, `/v3/domains/${d}/config/identity/list_limit`, { config: { list_limit: 5 } }), 404, /option list_limit in group identity/);
    expect((await admin.delete(`/v3/domains/${d}/config/identity`)).status).toBe(204);
    expectError(await admin.get(`/v3/domains/${d}/config/identity`), 404, `Could not find group identity in domain configuration for domain ${d}.`);
  });
});

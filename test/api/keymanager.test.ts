import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client, cloudForFile, tokenFor } from '../support/cloud.js';

/**
 * The key manager (a Barbican v1 slice): secrets with payloads, containers, consumers and read
 * ACLs, with Barbican's shapes, policy and wording; payloads sealed at rest.
 */
const { tc, admin, demo, anon } = await cloudForFile('key-manager');

/** A member of another project, for the cross-project rules. */
async function otherUser(): Promise<{ client: Client; userId: string }> {
  const identity = new Client(tc.cloud.apps.get('identity')!, await tokenFor(tc, 'admin', 'admin-secret'));
  const p = await identity.post('/v3/projects', { project: { name: 'other', domain_id: 'default' } });
  const u = await identity.post('/v3/users', {
    user: { name: 'alice', password: 'alice-secret', domain_id: 'default', default_project_id: p.body.project.id },
  });
  const roles = await identity.get('/v3/roles?name=member');
  await identity.put(`/v3/projects/${p.body.project.id}/users/${u.body.user.id}/roles/${roles.body.roles[0].id}`);
  return { client: new Client(tc.cloud.apps.get('key-manager')!, await tokenFor(tc, 'alice', 'alice-secret', 'other')), userId: u.body.user.id };
}
const other = await otherUser();
const idOf = (ref: string) => ref.split('/').pop()!;
const error = (r: { status: number; body: any }, status: number, description: string) => {
  expect(r.status).toBe(status);
  expect(r.body).toEqual({ code: status, title: expect.any(String), description });
};

describe('versions and auth', () => {
  it('lists v1 without a token (300), asks for one everywhere else', async () => {
    const r = await anon.get('/');
    expect(r.status).toBe(300);
    expect(r.body.versions.values[0]).toMatchObject({ id: 'v1', status: 'stable' });
    const s = await anon.get('/v1/secrets');
    expect(s.status).toBe(401);
    expect(s.headers['www-authenticate']).toMatch(/^Keystone uri=/);
  });

  it('is in the catalog as key-manager', async () => {
    const identity = new Client(tc.cloud.apps.get('identity')!, await tokenFor(tc, 'demo', 'demo-secret'));
    const cat = await identity.get('/v3/auth/catalog');
    const km = cat.body.catalog.find((s: any) => s.type === 'key-manager');
    expect(km).toMatchObject({ name: 'barbican' });
    expect(km.endpoints[0].url).toMatch(/:9311$/);
  });
});

describe('secrets', () => {
  it('stores a text secret, shows its metadata and gives the payload back', async () => {
    const r = await demo.post('/v1/secrets', { name: 'pw', payload: 'sesame', payload_content_type: 'text/plain' });
    expect(r.status).toBe(201);
    expect(r.body.secret_ref).toMatch(/\/v1\/secrets\/[0-9a-f-]{36}$/);
    expect(r.headers.location).toBe(r.body.secret_ref);
    const id = idOf(r.body.secret_ref);
    const meta = await demo.get(`/v1/secrets/${id}`);
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({
      name: 'pw',
      status: 'ACTIVE',
      secret_type: 'opaque',
      content_types: { default: 'text/plain' },
      secret_ref: r.body.secret_ref,
    });
    expect(meta.body).not.toHaveProperty('payload');
    const p = await demo.get(`/v1/secrets/${id}/payload`, { accept: 'text/plain' });
    expect(p.status).toBe(200);
    expect(p.body).toBe('sesame');
    expect(p.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('keeps binary payloads as bytes and seals every payload at rest', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252]);
    const r = await demo.post('/v1/secrets', {
      name: 'bin',
      payload: bytes.toString('base64'),
      payload_content_type: 'application/octet-stream',
      payload_content_encoding: 'base64',
    });
    const id = idOf(r.body.secret_ref);
    const app = tc.cloud.apps.get('key-manager')!;
    const raw = await app.inject({
      method: 'GET',
      url: `/v1/secrets/${id}/payload`,
      headers: { 'x-auth-token': (demo as any).token, accept: 'application/octet-stream' },
    });
    expect(raw.rawPayload.equals(bytes)).toBe(true);
    const row = await tc.cloud.store.db.selectFrom('km_secrets').select('payload').where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.payload).not.toContain(bytes.toString('base64'));
    const key = join(tc.dir, 'keymanager.key');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readFileSync(key)).toHaveLength(32);
  });

  it('takes a payload later with PUT, once', async () => {
    const r = await demo.post('/v1/secrets', { name: 'later' });
    const id = idOf(r.body.secret_ref);
    error(await demo.get(`/v1/secrets/${id}/payload`), 404, 'Not Found. Sorry but your secret has no payload.');
    expect((await demo.put(`/v1/secrets/${id}`, 'late text', { 'content-type': 'text/plain' })).status).toBe(204);
    expect((await demo.get(`/v1/secrets/${id}/payload`, { accept: 'text/plain' })).body).toBe('late text');
    error(await demo.put(`/v1/secrets/${id}`, 'again', { 'content-type': 'text/plain' }), 409, 'Secret already has data, cannot modify it.');
  });

  it("refuses what Barbican refuses, in Barbican's words", async () => {
    error(
      await demo.post('/v1/secrets', { payload: 'x' }),
      400,
      "Provided object does not match schema 'Secret': If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'",
    );
    error(
      await demo.post('/v1/secrets', { payload: '', payload_content_type: 'text/plain' }),
      400,
      "Provided object does not match schema 'Secret': If 'payload' specified, must be non empty. Invalid property: 'payload'",
    );
    error(
      await demo.post('/v1/secrets', { payload: 'x', payload_content_type: 'application/octet-stream' }),
      400,
      "Provided object does not match schema 'Secret': payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'",
    );
    error(
      await demo.post('/v1/secrets', { name: 'old', expiration: '2000-01-01T00:00:00' }),
      400,
      "Provided object does not match schema 'Secret': 'expiration' is before current time. Invalid property: 'expiration'",
    );
    error(await demo.get('/v1/secrets/not-a-uuid'), 404, 'Not Found. Provided secret id is invalid.');
    error(await demo.get('/v1/secrets/00000000-0000-4000-8000-000000000000'), 404, 'Secret not found.');
  });

  it('lists the project’s secrets with paging and filters', async () => {
    for (const n of ['l1', 'l2', 'l3']) await demo.post('/v1/secrets', { name: n, algorithm: 'aes', bit_length: 256 });
    const all = await demo.get('/v1/secrets?alg=aes');
    expect(all.body.total).toBe(3);
    const page = await demo.get('/v1/secrets?alg=aes&limit=2');
    expect(page.body.secrets).toHaveLength(2);
    expect(page.body.next).toMatch(/\/v1\/secrets\?limit=2&offset=2$/);
    expect((await demo.get('/v1/secrets?name=l2')).body.secrets.map((s: any) => s.name)).toEqual(['l2']);
    expect((await other.client.get('/v1/secrets')).body.total).toBe(0);
  });

  it('keeps another project out, and lets in a user a read ACL names', async () => {
    const r = await demo.post('/v1/secrets', { name: 'private', payload: 'mine', payload_content_type: 'text/plain' });
    const id = idOf(r.body.secret_ref);
    error(await other.client.get(`/v1/secrets/${id}`), 403, 'Secret retrieval attempt not allowed - please review your user/project privileges');
    error(await other.client.delete(`/v1/secrets/${id}`), 403, 'Secret deletion attempt not allowed - please review your user/project privileges');
    expect((await demo.get(`/v1/secrets/${id}/acl`)).body).toEqual({ read: { 'project-access': true } });
    const acl = await demo.put(`/v1/secrets/${id}/acl`, { read: { users: [other.userId] } });
    expect(acl.status).toBe(200);
    expect(acl.body.acl_ref).toMatch(new RegExp(`/v1/secrets/${id}/acl$`));
    expect((await other.client.get(`/v1/secrets/${id}/payload`, { accept: 'text/plain' })).body).toBe('mine');
    expect((await demo.get(`/v1/secrets/${id}/acl`)).body.read).toMatchObject({ 'project-access': true, users: [other.userId] });
    expect((await demo.delete(`/v1/secrets/${id}/acl`)).status).toBe(200);
    expect((await other.client.get(`/v1/secrets/${id}`)).status).toBe(403);
  });

  it('makes a secret private to its creator and project admins with project-access false', async () => {
    const r = await admin.post('/v1/secrets', { name: 'admins', payload: 'x', payload_content_type: 'text/plain' });
    const id = idOf(r.body.secret_ref);
    expect((await admin.patch(`/v1/secrets/${id}/acl`, { read: { 'project-access': false } })).status).toBe(200);
    expect((await admin.get(`/v1/secrets/${id}`)).status).toBe(200);
  });

  it('deletes', async () => {
    const r = await demo.post('/v1/secrets', { name: 'gone' });
    const id = idOf(r.body.secret_ref);
    expect((await demo.delete(`/v1/secrets/${id}`)).status).toBe(204);
    expect((await demo.get(`/v1/secrets/${id}`)).status).toBe(404);
  });
});

describe('containers', () => {
  it('groups a certificate and its key, lists and deletes, with consumers', async () => {
    const cert = await demo.post('/v1/secrets', { name: 'c', payload: 'CERT', payload_content_type: 'text/plain' });
    const key = await demo.post('/v1/secrets', { name: 'k', payload: 'KEY', payload_content_type: 'text/plain' });
    const c = await demo.post('/v1/containers', {
      name: 'tls',
      type: 'certificate',
      secret_refs: [
        { name: 'certificate', secret_ref: cert.body.secret_ref },
        { name: 'private_key', secret_ref: key.body.secret_ref },
      ],
    });
    expect(c.status).toBe(201);
    const id = idOf(c.body.container_ref);
    const shown = await demo.get(`/v1/containers/${id}`);
    expect(shown.body).toMatchObject({ name: 'tls', type: 'certificate', status: 'ACTIVE', consumers: [], container_ref: c.body.container_ref });
    expect(shown.body.secret_refs).toEqual([
      { name: 'certificate', secret_ref: cert.body.secret_ref },
      { name: 'private_key', secret_ref: key.body.secret_ref },
    ]);
    const withConsumer = await demo.post(`/v1/containers/${id}/consumers`, { name: 'lbaas', URL: 'http://lb/1' });
    expect(withConsumer.body.consumers).toEqual([{ name: 'lbaas', URL: 'http://lb/1' }]);
    expect((await demo.get('/v1/containers')).body.total).toBe(1);
    expect((await demo.delete(`/v1/containers/${id}`)).status).toBe(204);
    error(await demo.get(`/v1/containers/${id}`), 404, 'Secrets container not found.');
  });

  it('adds secrets to a generic container and takes them out, by name and reference', async () => {
    const c = await demo.post('/v1/containers', { name: 'bag', type: 'generic' });
    const id = idOf(c.body.container_ref);
    const s = await demo.post('/v1/secrets', { name: 's', payload: 'x', payload_content_type: 'text/plain' });
    const add = await demo.post(`/v1/containers/${id}/secrets`, { name: 'one', secret_ref: s.body.secret_ref });
    expect(add.status).toBe(201);
    expect(add.body).toEqual({ container_ref: c.body.container_ref });
    expect((await demo.post(`/v1/containers/${id}/secrets`, { name: 'two', secret_ref: s.body.secret_ref })).status).toBe(201);
    error(
      await demo.post(`/v1/containers/${id}/secrets`, { name: 'one', secret_ref: s.body.secret_ref }),
      409,
      'Conflict. A secret with that name and ID is already stored in this container. The same secret can exist in a container as long as the name is unique.',
    );
    expect((await demo.get(`/v1/containers/${id}`)).body.secret_refs.map((r: any) => r.name)).toEqual(['one', 'two']);
    expect((await demo.request('DELETE', `/v1/containers/${id}/secrets`, { name: 'one', secret_ref: s.body.secret_ref })).status).toBe(204);
    error(
      await demo.request('DELETE', `/v1/containers/${id}/secrets`, { name: 'one', secret_ref: s.body.secret_ref }),
      404,
      'Secret provided is not in the container',
    );
    expect((await demo.get(`/v1/containers/${id}`)).body.secret_refs.map((r: any) => r.name)).toEqual(['two']);
  });

  it('refuses a certificate container without a certificate, and another project’s secrets', async () => {
    const key = await demo.post('/v1/secrets', { name: 'k2', payload: 'KEY', payload_content_type: 'text/plain' });
    error(
      await demo.post('/v1/containers', { type: 'certificate', secret_refs: [{ name: 'private_key', secret_ref: key.body.secret_ref }] }),
      400,
      "Provided object does not match schema 'Container': The minimum required reference name is 'certificate' for Certificate type. Invalid property: 'secret_refs'",
    );
    error(
      await other.client.post('/v1/containers', { type: 'generic', secret_refs: [{ name: 'x', secret_ref: key.body.secret_ref }] }),
      404,
      "Secret provided for 'x' doesn't exist.",
    );
  });
});

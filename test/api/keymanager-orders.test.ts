import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Client, cloudForFile, tokenFor } from '../support/cloud.js';

/**
 * The key manager's orders, quotas, secret metadata and secret consumers (Barbican's orders.py,
 * quotas.py, secretmeta.py, consumers.py), with Barbican's shapes, policy and wording.
 */
const { tc, demo } = await cloudForFile('key-manager');

const identity = new Client(tc.cloud.apps.get('identity')!, await tokenFor(tc, 'admin', 'admin-secret'));
/** A role by name, made if missing (DevStack's Barbican plugin makes key-manager:service-admin). */
async function roleId(name: string): Promise<string> {
  const found = await identity.get(`/v3/roles?name=${encodeURIComponent(name)}`);
  if (found.body.roles.length) return found.body.roles[0].id;
  return (await identity.post('/v3/roles', { role: { name } })).body.role.id;
}
/** A user of a new project with `roles`, and a key-manager client for them. */
async function userWith(name: string, roles: string[]): Promise<{ client: Client; projectId: string }> {
  const p = await identity.post('/v3/projects', { project: { name: `${name}-project`, domain_id: 'default' } });
  const u = await identity.post('/v3/users', { user: { name, password: `${name}-secret`, domain_id: 'default' } });
  for (const r of roles) await identity.put(`/v3/projects/${p.body.project.id}/users/${u.body.user.id}/roles/${await roleId(r)}`);
  return { client: new Client(tc.cloud.apps.get('key-manager')!, await tokenFor(tc, name, `${name}-secret`, `${name}-project`)), projectId: p.body.project.id };
}
const serviceAdmin = await userWith('kmadmin', ['admin', 'key-manager:service-admin']);
const other = await userWith('alice', ['member']);
const idOf = (ref: string) => ref.split('/').pop()!;
const error = (r: { status: number; body: any }, status: number, description: string) => {
  expect(r.status).toBe(status);
  expect(r.body).toEqual({ code: status, title: expect.any(String), description });
};
const v11 = { 'openstack-api-version': 'key-manager 1.1' };
/** A secret's payload as the bytes sent. */
async function bytesOf(client: Client, secretId: string): Promise<Buffer> {
  const r = await tc.cloud.apps.get('key-manager')!.inject({
    method: 'GET',
    url: `/v1/secrets/${secretId}/payload`,
    headers: { 'x-auth-token': (client as any).token, accept: 'application/octet-stream' },
  });
  expect(r.statusCode).toBe(200);
  return r.rawPayload;
}

describe('orders', () => {
  it('a key order answers 202 with its ref, is ACTIVE at once and its secret holds bit_length/8 random bytes', async () => {
    const r = await demo.post('/v1/orders', {
      type: 'key',
      meta: { name: ' order-key ', algorithm: 'AES', bit_length: 256, mode: 'cbc', payload_content_type: 'application/octet-stream' },
    });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ order_ref: expect.stringMatching(/\/v1\/orders\/[0-9a-f-]{36}$/) });
    expect(r.headers.location).toBe(r.body.order_ref);
    const o = await demo.get(`/v1/orders/${idOf(r.body.order_ref)}`);
    expect(o.status).toBe(200);
    expect(o.body).toMatchObject({
      status: 'ACTIVE',
      type: 'key',
      order_ref: r.body.order_ref,
      secret_ref: expect.stringMatching(/\/v1\/secrets\/[0-9a-f-]{36}$/),
      creator_id: expect.any(String),
      meta: { name: 'order-key', algorithm: 'AES', bit_length: 256, mode: 'cbc', payload_content_type: 'application/octet-stream', expiration: null },
    });
    expect(o.body).not.toHaveProperty('container_ref');
    const secretId = idOf(o.body.secret_ref);
    const s = await demo.get(`/v1/secrets/${secretId}`);
    expect(s.body).toMatchObject({ name: 'order-key', secret_type: 'symmetric', algorithm: 'AES', bit_length: 256, mode: 'cbc' });
    expect(s.body.content_types).toEqual({ default: 'application/octet-stream' });
    const key = await bytesOf(demo, secretId);
    expect(key.length).toBe(32);
    // Sealed at rest like any payload: the row holds no clear key.
    const row = await tc.cloud.store.db.selectFrom('km_secrets').select('payload').where('id', '=', secretId).executeTakeFirstOrThrow();
    expect(Buffer.from(row.payload!, 'base64').includes(key)).toBe(false);
  });

  it('an asymmetric RSA order makes an rsa container of a private key (encrypted with the passphrase), its public key and the passphrase', async () => {
    const r = await demo.post('/v1/orders', { type: 'asymmetric', meta: { name: 'pair', algorithm: 'rsa', bit_length: 2048, passphrase: 'sesame' } });
    expect(r.status).toBe(202);
    const o = await demo.get(`/v1/orders/${idOf(r.body.order_ref)}`);
    expect(o.body.status).toBe('ACTIVE');
    expect(o.body).not.toHaveProperty('secret_ref');
    const c = await demo.get(`/v1/containers/${idOf(o.body.container_ref)}`);
    expect(c.body).toMatchObject({ name: 'pair', type: 'rsa' });
    const refs = new Map<string, string>(c.body.secret_refs.map((x: any) => [x.name, x.secret_ref]));
    expect([...refs.keys()].sort()).toEqual(['private_key', 'private_key_passphrase', 'public_key']);
    const payload = (name: string) => bytesOf(demo, idOf(refs.get(name)!));
    const priv = await payload('private_key');
    expect(priv.toString()).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const key = createPrivateKey({ key: priv, passphrase: 'sesame' });
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const pub = createPublicKey(await payload('public_key'));
    expect(pub.export({ type: 'spki', format: 'pem' })).toBe(createPublicKey(key).export({ type: 'spki', format: 'pem' }));
    expect((await payload('private_key_passphrase')).toString()).toBe('sesame');
    const types = await Promise.all([...refs.values()].map(async (ref) => (await demo.get(`/v1/secrets/${idOf(ref)}`)).body.secret_type));
    expect(types.sort()).toEqual(['passphrase', 'private', 'public']);
  });

  it('an asymmetric DSA order gives DER keys; EC and unsupported sizes end in ERROR as Barbican records it', async () => {
    const dsa = await demo.post('/v1/orders', { type: 'asymmetric', meta: { algorithm: 'dsa', bit_length: 1024 } });
    const d = await demo.get(`/v1/orders/${idOf(dsa.body.order_ref)}`);
    expect(d.body.status).toBe('ACTIVE');
    const c = await demo.get(`/v1/containers/${idOf(d.body.container_ref)}`);
    expect(c.body.type).toBe('dsa');
    const privRef = c.body.secret_refs.find((x: any) => x.name === 'private_key').secret_ref;
    const der = await bytesOf(demo, idOf(privRef));
    expect(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).asymmetricKeyType).toBe('dsa');

    const ec = await demo.post('/v1/orders', { type: 'asymmetric', meta: { algorithm: 'ec', bit_length: 256 } });
    expect(ec.status).toBe(202);
    const e = await demo.get(`/v1/orders/${idOf(ec.body.order_ref)}`);
    expect(e.body).toMatchObject({
      status: 'ERROR',
      error_status_code: '400',
      error_reason: 'Process TypeOrder issue seen - Requested algorithm is not supported.',
    });
    const big = await demo.post('/v1/orders', { type: 'key', meta: { algorithm: 'aes', bit_length: 512 } });
    expect((await demo.get(`/v1/orders/${idOf(big.body.order_ref)}`)).body).toMatchObject({
      status: 'ERROR',
      error_status_code: '500',
      error_reason: 'Process TypeOrder failure seen - please contact site administrator.',
    });
    const unknown = await demo.post('/v1/orders', { type: 'key', meta: { algorithm: 'blowfish', bit_length: 128 } });
    expect((await demo.get(`/v1/orders/${idOf(unknown.body.order_ref)}`)).body.error_reason).toBe(
      'Process TypeOrder issue seen - Secret generate supported plugin not found.',
    );
  });

  it('refuses bad orders in Barbican words, certificate orders as Barbican now refuses them', async () => {
    error(
      await demo.post('/v1/orders', { type: 'certificate', meta: {} }),
      400,
      "Provided object does not match schema 'Order': 'certificate' is not one of ['key', 'asymmetric']. Invalid property: 'type'",
    );
    error(
      await demo.post('/v1/orders', { type: 'key' }),
      400,
      "Provided object does not match schema 'Order': 'meta' is a required property. Invalid property: 'meta'",
    );
    error(
      await demo.post('/v1/orders', { type: 'key', meta: { bit_length: 256 } }),
      400,
      "Provided object does not match schema 'Order': 'algorithm' is required field for key type order. Invalid property: 'meta'",
    );
    error(
      await demo.post('/v1/orders', { type: 'asymmetric', meta: { algorithm: 'rsa' } }),
      400,
      "Provided object does not match schema 'Order': 'bit_length' is required field for asymmetric key type order. Invalid property: 'meta'",
    );
    error(
      await demo.post('/v1/orders', { type: 'key', meta: { algorithm: 'aes', bit_length: 'x' } }),
      400,
      "Provided object does not match schema 'Secret' within 'Order': 'x' is not of type 'integer'. Invalid property: 'bit_length'",
    );
    error(await demo.post('/v1/orders', { type: 'key', meta: { algorithm: 'aes', bit_length: 100 } }), 400, 'Provided field value is not supported');
    error(
      await demo.post('/v1/orders', { type: 'key', meta: { algorithm: 'aes', bit_length: 128, payload: 'x', payload_content_type: 'text/plain' } }),
      400,
      "Provided object does not match schema 'Order': 'payload' not allowed for key type order. Invalid property: 'meta'",
    );
    error(await demo.request('POST', '/v1/orders', '{', { 'content-type': 'application/json' }), 400, 'Malformed JSON');
    error(await demo.put('/v1/orders', {}), 405, 'Order update is not supported.');
  });

  it('lists the project’s orders with paging; another project finds none of them; a member deletes one, its secret stays', async () => {
    const mine = await demo.get('/v1/orders?limit=2');
    expect(mine.status).toBe(200);
    expect(mine.body.orders).toHaveLength(2);
    expect(mine.body.total).toBeGreaterThanOrEqual(5);
    expect(mine.body.next).toMatch(/\/v1\/orders\?limit=2&offset=2$/);
    expect(await other.client.get('/v1/orders')).toMatchObject({ status: 200, body: { orders: [], total: 0 } });
    const ref = mine.body.orders[0].order_ref;
    error(await other.client.get(`/v1/orders/${idOf(ref)}`), 404, 'Order not found.');
    error(await other.client.delete(`/v1/orders/${idOf(ref)}`), 404, 'Order not found.');
    const secretRef = mine.body.orders[0].secret_ref;
    expect((await demo.delete(`/v1/orders/${idOf(ref)}`)).status).toBe(204);
    error(await demo.get(`/v1/orders/${idOf(ref)}`), 404, 'Order not found.');
    expect((await demo.get(`/v1/secrets/${idOf(secretRef)}`)).status).toBe(200);
  });
});

describe('quotas', () => {
  it('shows the effective quotas (-1 each by default) to a member and to a service admin', async () => {
    const r = await demo.get('/v1/quotas');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ quotas: { secrets: -1, orders: -1, containers: -1, consumers: -1, cas: -1 } });
    const onlyServiceAdmin = await userWith('kmservice', ['key-manager:service-admin']);
    expect((await onlyServiceAdmin.client.get('/v1/quotas')).status).toBe(200);
  });

  it('project quotas are the service admin’s: set, listed, shown, effective, deleted', async () => {
    const pid = other.projectId;
    error(await demo.get('/v1/project-quotas'), 403, 'Project Quotas attempt not allowed - please review your user/project privileges');
    error(
      await demo.put(`/v1/project-quotas/${pid}`, { project_quotas: { secrets: 1 } }),
      403,
      'Project Quotas attempt not allowed - please review your user/project privileges',
    );
    error(await serviceAdmin.client.get(`/v1/project-quotas/${pid}`), 404, 'Project quotas not found.');
    expect((await serviceAdmin.client.put(`/v1/project-quotas/${pid}`, { project_quotas: { secrets: 2, orders: 0, containers: 1 } })).status).toBe(204);
    const list = await serviceAdmin.client.get('/v1/project-quotas');
    expect(list.body).toEqual({
      project_quotas: [{ project_id: pid, project_quotas: { secrets: 2, orders: 0, containers: 1, consumers: null, cas: null } }],
      total: 1,
    });
    expect((await serviceAdmin.client.get(`/v1/project-quotas/${pid}`)).body).toEqual({
      project_quotas: { secrets: 2, orders: 0, containers: 1, consumers: null, cas: null },
    });
    expect((await other.client.get('/v1/quotas')).body.quotas).toEqual({ secrets: 2, orders: 0, containers: 1, consumers: -1, cas: -1 });
  });

  it('enforces them on create: the n+1st secret, any order at 0, the 2nd container', async () => {
    const reached = (op: string) => `${op} issue seen - Creation not allowed because a quota has been reached.`;
    const s1 = await other.client.post('/v1/secrets', { name: 'q1' });
    expect(s1.status).toBe(201);
    expect((await other.client.post('/v1/secrets', { name: 'q2' })).status).toBe(201);
    error(await other.client.post('/v1/secrets', { name: 'q3' }), 403, reached('Secret creation'));
    error(await other.client.post('/v1/orders', { type: 'key', meta: { algorithm: 'aes', bit_length: 128 } }), 403, reached('Order creation'));
    expect((await other.client.post('/v1/containers', { type: 'generic' })).status).toBe(201);
    error(await other.client.post('/v1/containers', { type: 'generic' }), 403, reached('Container creation'));
    // Deleting one frees its place; the demo project is not limited by another project's quota.
    expect((await other.client.delete(`/v1/secrets/${idOf(s1.body.secret_ref)}`)).status).toBe(204);
    expect((await other.client.post('/v1/secrets', { name: 'q4' })).status).toBe(201);
    expect((await demo.post('/v1/secrets', { name: 'free' })).status).toBe(201);
  });

  it('refuses bad quota bodies and deletes a project’s quotas once', async () => {
    const pid = other.projectId;
    const admin = serviceAdmin.client;
    error(
      await admin.put(`/v1/project-quotas/${pid}`, { project_quotas: { secrets: 'x' } }),
      400,
      "Provided object does not match schema 'Project Quota': 'x' is not of type 'integer'. Invalid property: 'project_quotas'",
    );
    error(
      await admin.put(`/v1/project-quotas/${pid}`, { project_quotas: { widgets: 1 } }),
      400,
      "Provided object does not match schema 'Project Quota': Additional properties are not allowed ('widgets' was unexpected). Invalid property: 'project_quotas'",
    );
    error(
      await admin.put(`/v1/project-quotas/${pid}`, {}),
      400,
      "Provided object does not match schema 'Project Quota': 'project_quotas' is a required property. Invalid property: 'None'",
    );
    error(
      await admin.request('PUT', `/v1/project-quotas/${pid}`, 'x', { 'content-type': 'text/plain' }),
      415,
      "Unexpected content type. Expected content types are: ['application/json']",
    );
    expect((await admin.delete(`/v1/project-quotas/${pid}`)).status).toBe(204);
    error(await admin.delete(`/v1/project-quotas/${pid}`), 404, 'Project quotas not found.');
    expect((await admin.get('/v1/project-quotas')).body).toEqual({ project_quotas: [], total: 0 });
    expect((await other.client.post('/v1/secrets', { name: 'unlimited' })).status).toBe(201);
  });
});

describe('secret metadata', () => {
  it('puts, adds, reads, updates and deletes key/value pairs as Barbican does', async () => {
    const s = await demo.post('/v1/secrets', { name: 'with-meta' });
    const id = idOf(s.body.secret_ref);
    expect((await demo.get(`/v1/secrets/${id}/metadata`)).body).toEqual({ metadata: {} });
    const put = await demo.put(`/v1/secrets/${id}/metadata`, { metadata: { Description: ' contains the AES key ', geolocation: '12.3456, -98.7654' } });
    expect(put.status).toBe(201);
    expect(put.body).toEqual({ metadata_ref: `${s.body.secret_ref}/metadata` });
    expect((await demo.get(`/v1/secrets/${id}/metadata`)).body).toEqual({
      metadata: { description: 'contains the AES key', geolocation: '12.3456, -98.7654' },
    });
    const add = await demo.post(`/v1/secrets/${id}/metadata`, { key: 'extra', value: 'extra value' });
    expect(add.status).toBe(201);
    expect(add.body).toEqual({ key: 'extra', value: 'extra value' });
    expect(add.headers.location).toBe(`${s.body.secret_ref}/metadata/extra`);
    error(await demo.post(`/v1/secrets/${id}/metadata`, { key: 'extra', value: 'again' }), 409, 'Conflict. Key in request is already in the secret metadata');
    expect((await demo.get(`/v1/secrets/${id}/metadata/extra`)).body).toEqual({ key: 'extra', value: 'extra value' });
    const upd = await demo.put(`/v1/secrets/${id}/metadata/extra`, { key: 'extra', value: 'new value' });
    expect(upd).toMatchObject({ status: 200, body: { key: 'extra', value: 'new value' } });
    error(await demo.put(`/v1/secrets/${id}/metadata/extra`, { key: 'other', value: 'v' }), 409, 'Key in request data does not match key in the ');
    error(await demo.put(`/v1/secrets/${id}/metadata/missing`, { key: 'missing', value: 'v' }), 404, 'Secret metadata not found.');
    expect((await demo.delete(`/v1/secrets/${id}/metadata/extra`)).status).toBe(204);
    expect((await demo.delete(`/v1/secrets/${id}/metadata/extra`)).status).toBe(204);
    error(await demo.get(`/v1/secrets/${id}/metadata/extra`), 404, 'Secret metadata not found.');
    expect(Object.keys((await demo.get(`/v1/secrets/${id}/metadata`)).body.metadata)).toHaveLength(2);
    // PUT replaces the whole set.
    await demo.put(`/v1/secrets/${id}/metadata`, { metadata: { only: 'one' } });
    expect((await demo.get(`/v1/secrets/${id}/metadata`)).body).toEqual({ metadata: { only: 'one' } });
    expect((await demo.request('POST', `/v1/secrets/${id}/metadata/only`, { key: 'only', value: 'x' })).status).toBe(405);
  });

  it('refuses bad metadata and other projects', async () => {
    const s = await demo.post('/v1/secrets', { name: 'meta-errors' });
    const id = idOf(s.body.secret_ref);
    error(await demo.put(`/v1/secrets/${id}/metadata`, { metadata: { 'a b': 'x' } }), 400, 'Invalid Key. Key must be URL safe.');
    error(await demo.put(`/v1/secrets/${id}/metadata`, { metadata: { a: 1 } }), 400, 'Invalid Metadata. Keys and Values must be Strings.');
    error(
      await demo.put(`/v1/secrets/${id}/metadata`, { meta: {} }),
      400,
      "Provided object does not match schema 'SecretMetadata': 'metadata' is a required property. Invalid property: 'metadata'",
    );
    error(
      await demo.post(`/v1/secrets/${id}/metadata`, { key: 'k', value: 'v', x: 1 }),
      400,
      "Provided object does not match schema 'SecretMetadatum': Additional properties are not allowed ('x' was unexpected). Invalid property: 'None'",
    );
    error(
      await demo.post(`/v1/secrets/${id}/metadata`, { key: 'k' }),
      400,
      "Provided object does not match schema 'SecretMetadatum': 'value' is a required property. Invalid property: 'value'",
    );
    error(
      await other.client.get(`/v1/secrets/${id}/metadata`),
      403,
      'Secret metadata retrieval attempt not allowed - please review your user/project privileges',
    );
    error(
      await other.client.put(`/v1/secrets/${id}/metadata`, { metadata: {} }),
      403,
      'Secret metadata creation attempt not allowed - please review your user/project privileges',
    );
    error(await demo.get('/v1/secrets/not-a-uuid/metadata'), 404, 'Not Found. Provided secret id is invalid.');
  });
});

describe('secret consumers (microversion 1.1)', () => {
  it('registers, lists and drops consumers; the secret shows them at 1.1 only', async () => {
    const s = await demo.post('/v1/secrets', { name: 'consumed' });
    const id = idOf(s.body.secret_ref);
    expect((await demo.get(`/v1/secrets/${id}/consumers`, v11)).body).toEqual({ consumers: [], total: 0 });
    const c1 = { service: 'service1', resource_type: 'resource_type1', resource_id: 'resource_id1' };
    const add = await demo.post(`/v1/secrets/${id}/consumers`, c1, v11);
    expect(add.status).toBe(200);
    expect(add.body).toMatchObject({ secret_ref: s.body.secret_ref, consumers: [c1] });
    expect(add.headers['openstack-api-version']).toBe('key-manager 1.1');
    // Idempotent: the same registration twice is one consumer.
    await demo.post(`/v1/secrets/${id}/consumers`, c1, v11);
    const c2 = { service: 'service2', resource_type: 'resource_type2', resource_id: 'resource_id2' };
    expect((await demo.post(`/v1/secrets/${id}/consumers`, c2, v11)).body.consumers).toHaveLength(2);
    const list = await demo.get(`/v1/secrets/${id}/consumers`, v11);
    expect(list.body.total).toBe(2);
    expect(list.body.consumers.map((c: any) => c.service).sort()).toEqual(['service1', 'service2']);
    expect(list.body.consumers[0]).toMatchObject({ status: 'ACTIVE', created: expect.any(String) });
    expect((await demo.get(`/v1/secrets/${id}`, v11)).body.consumers).toHaveLength(2);
    const at10 = await demo.get(`/v1/secrets/${id}`);
    expect(at10.body).not.toHaveProperty('consumers');
    expect(at10.headers['openstack-api-version']).toBe('key-manager 1.0');
    const del = await demo.request('DELETE', `/v1/secrets/${id}/consumers`, c1, v11);
    expect(del.status).toBe(200);
    expect(del.body.consumers).toEqual([c2]);
    error(await demo.request('DELETE', `/v1/secrets/${id}/consumers`, c1, v11), 404, 'Consumer not found.');
    // Deleting the secret drops its consumers with it.
    expect((await demo.delete(`/v1/secrets/${id}`)).status).toBe(204);
  });

  it('refuses bad consumers, other projects, and microversions it does not serve', async () => {
    const s = await demo.post('/v1/secrets', { name: 'consumer-errors' });
    const id = idOf(s.body.secret_ref);
    error(
      await demo.post(`/v1/secrets/${id}/consumers`, { service: 'a', resource_type: 'b' }, v11),
      400,
      "Provided object does not match schema 'Secret Consumer': 'resource_id' is a required property. Invalid property: 'None'",
    );
    error(
      await demo.post(`/v1/secrets/${id}/consumers`, { service: '', resource_type: 'b', resource_id: 'c' }, v11),
      400,
      "Provided object does not match schema 'Secret Consumer': '' should be non-empty. Invalid property: 'service'",
    );
    error(
      await other.client.post(`/v1/secrets/${id}/consumers`, { service: 'a', resource_type: 'b', resource_id: 'c' }, v11),
      403,
      'SecretConsumer creation attempt not allowed - please review your user/project privileges',
    );
    const bad = await demo.get('/v1/secrets', { 'openstack-api-version': 'key-manager 1.7' });
    expect(bad.status).toBe(406);
    expect((await demo.get('/v1/secrets', { 'openstack-api-version': 'key-manager one' })).status).toBe(400);
    expect((await demo.get('/v1/secrets', { 'openstack-api-version': 'key-manager latest' })).headers['openstack-api-version']).toBe('key-manager 1.1');
  });
});

describe('container consumers', () => {
  it('are validated as Barbican validates them and count against the consumers quota', async () => {
    const c = await demo.post('/v1/containers', { type: 'generic', name: 'consumed' });
    const id = idOf(c.body.container_ref);
    error(
      await demo.post(`/v1/containers/${id}/consumers`, { name: 'x'.repeat(37), URL: 'http://a' }),
      400,
      `Provided object does not match schema 'Consumer': '${'x'.repeat(37)}' is too long. Invalid property: 'name'`,
    );
    error(
      await demo.post(`/v1/containers/${id}/consumers`, { name: 'lb' }),
      400,
      "Provided object does not match schema 'Consumer': 'URL' is a required property. Invalid property: 'None'",
    );
    const projectId = (await tc.cloud.store.db.selectFrom('km_containers').select('project_id').where('id', '=', id).executeTakeFirstOrThrow()).project_id;
    expect((await serviceAdmin.client.put(`/v1/project-quotas/${projectId}`, { project_quotas: { consumers: 1 } })).status).toBe(204);
    expect((await demo.post(`/v1/containers/${id}/consumers`, { name: 'lb', URL: 'http://one' })).status).toBe(200);
    error(
      await demo.post(`/v1/containers/${id}/consumers`, { name: 'lb', URL: 'http://two' }),
      403,
      'ContainerConsumer creation issue seen - Creation not allowed because a quota has been reached.',
    );
    expect((await serviceAdmin.client.delete(`/v1/project-quotas/${projectId}`)).status).toBe(204);
    expect((await demo.post(`/v1/containers/${id}/consumers`, { name: 'lb', URL: 'http://two' })).body.consumers).toHaveLength(2);
  });
});

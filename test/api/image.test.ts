import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Client, cloudForFile } from '../support/cloud.js';

const { tc, admin, demo, anon } = await cloudForFile('image', { config: { imageSizeCap: 64 * 1024 } });

const PATCH = { 'content-type': 'application/openstack-images-v2.1-json-patch' };
const JSON_ACCEPT = { accept: 'application/json' };

async function create(client: Client, body: Record<string, unknown> = {}) {
  const res = await client.post('/v2/images', { container_format: 'bare', disk_format: 'raw', ...body }, JSON_ACCEPT);
  expect(res.status).toBe(201);
  return res.body;
}

describe('discovery and the bootstrap image', () => {
  it('lists versions at / (300) and /versions (200)', async () => {
    const root = await anon.get('/');
    expect(root.status).toBe(300);
    // Glance's own order with multiple stores and no cache: 2.15 first, 2.17 CURRENT, no 2.16/2.14.
    expect(root.body.versions[0]).toEqual({ id: 'v2.15', status: 'SUPPORTED', links: [{ rel: 'self', href: 'http://localhost:80/v2/' }] });
    expect(root.body.versions.filter((v: any) => v.status === 'CURRENT').map((v: any) => v.id)).toEqual(['v2.17']);
    expect(root.body.versions.map((v: any) => v.id)).toEqual([
      'v2.15',
      'v2.13',
      'v2.12',
      'v2.11',
      'v2.10',
      'v2.9',
      'v2.8',
      'v2.17',
      'v2.7',
      'v2.6',
      'v2.5',
      'v2.4',
      'v2.3',
      'v2.2',
      'v2.1',
      'v2.0',
    ]);
    expect((await anon.get('/versions')).status).toBe(200);
    expect((await anon.get('/v2/images')).status).toBe(401);
  });

  it('has the public cirros image on first start, visible to every project', async () => {
    const list = (await demo.get('/v2/images')).body;
    const cirros = list.images.find((i: any) => i.name === 'cirros-0.3.3-x86_64-disk');
    expect(cirros).toMatchObject({
      visibility: 'public',
      status: 'active',
      disk_format: 'qcow2',
      container_format: 'bare',
      protected: false,
      os_hidden: false,
    });
    expect(list).toMatchObject({ first: '/v2/images', schema: '/v2/schemas/images' });
    expect((await demo.get('/v2/schemas/image')).body.name).toBe('image');
    expect((await demo.get('/v2/schemas/images')).body.name).toBe('images');
  });
});

describe('images', () => {
  it("records the virtual size the data's format gives, as Glance's in-flight inspection does", async () => {
    const qcow2 = Buffer.alloc(4096);
    Buffer.from([0x51, 0x46, 0x49, 0xfb]).copy(qcow2, 0);
    qcow2.writeUInt32BE(3, 4);
    qcow2.writeBigUInt64BE(1n << 30n, 24);
    const upload = async (body: Record<string, unknown>, data: Buffer) => {
      const img = await create(demo, body);
      expect((await demo.put(`/v2/images/${img.id}/file`, data)).status).toBe(204);
      return (await demo.get(`/v2/images/${img.id}`)).body;
    };
    expect(await upload({ disk_format: 'qcow2' }, qcow2)).toMatchObject({ status: 'active', size: 4096, virtual_size: 1024 ** 3 });
    expect((await upload({ disk_format: 'raw' }, qcow2)).virtual_size).toBe(4096);
    // Not the format claimed, a container Glance does not look into, a format it has no reader for.
    expect((await upload({ disk_format: 'vhd' }, qcow2)).virtual_size).toBeNull();
    expect((await upload({ disk_format: 'qcow2', container_format: 'ova' }, qcow2)).virtual_size).toBeNull();
    expect((await upload({ disk_format: 'iso' }, qcow2)).virtual_size).toBeNull();
  });

  it('creates with Glance defaults and streams data in and out with checksums', async () => {
    const img = await create(demo, { name: 'blob', ramdisk_id: '00000000-1111-2222-3333-444455556666', tags: ['a'] });
    expect(img).toMatchObject({
      name: 'blob',
      status: 'queued',
      visibility: 'shared',
      size: null,
      checksum: null,
      ramdisk_id: '00000000-1111-2222-3333-444455556666',
      tags: ['a'],
    });
    expect(img.self).toBe(`/v2/images/${img.id}`);
    const empty = await demo.get(`/v2/images/${img.id}/file`);
    expect(empty.status).toBe(204);

    const data = randomBytes(4096);
    const up = await demo.put(`/v2/images/${img.id}/file`, data);
    expect(up.status).toBe(204);
    const shown = (await demo.get(`/v2/images/${img.id}`)).body;
    expect(shown).toMatchObject({
      status: 'active',
      size: 4096,
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(data).digest('hex'),
    });
    expect(existsSync(join(tc.dir, 'images', img.id))).toBe(true);

    const down = await tc.cloud.apps.get('image')!.inject({ method: 'GET', url: `/v2/images/${img.id}/file`, headers: { 'x-auth-token': demoToken() } });
    expect(down.statusCode).toBe(200);
    expect(down.headers['content-md5']).toBe(shown.checksum);
    expect(Buffer.compare(down.rawPayload, data)).toBe(0);
    const part = await tc.cloud.apps
      .get('image')!
      .inject({ method: 'GET', url: `/v2/images/${img.id}/file`, headers: { 'x-auth-token': demoToken(), range: 'bytes=10-19' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 10-19/4096');
    expect(Buffer.compare(part.rawPayload, data.subarray(10, 20))).toBe(0);

    const again = await demo.put(`/v2/images/${img.id}/file`, data, JSON_ACCEPT);
    expect(again.status).toBe(409);
    expect(again.body.message).toBe('Image status transition from active to saving is not allowed<br /><br />\n\n\n');
  });

  it('refuses uploads over the size cap and leaves the image queued with no partial file', async () => {
    const img = await create(demo, { name: 'big' });
    const res = await demo.put(`/v2/images/${img.id}/file`, randomBytes(64 * 1024 + 1), JSON_ACCEPT);
    expect(res.status).toBe(413);
    expect((await demo.get(`/v2/images/${img.id}`)).body.status).toBe('queued');
    expect(readdirSync(join(tc.dir, 'images')).filter((f) => f.startsWith(img.id))).toEqual([]);
    const noFormat = (await demo.post('/v2/images', { name: 'nf' })).body;
    const refused = await demo.put(`/v2/images/${noFormat.id}/file`, Buffer.from('x'), JSON_ACCEPT);
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/^Properties disk_format, container_format must be set prior to saving data\./);
    const wrongType = await demo.put(`/v2/images/${img.id}/file`, 'text', { 'content-type': 'text/plain', ...JSON_ACCEPT });
    expect(wrongType.status).toBe(415);
  });

  it('updates with JSON-patch (draft 10 and 4)', async () => {
    const img = await create(demo, { name: 'p1' });
    const res = await demo.patch(
      `/v2/images/${img.id}`,
      [
        { op: 'replace', path: '/name', value: 'p2' },
        { op: 'add', path: '/hypervisor_type', value: 'qemu' },
        { op: 'add', path: '/min_ram', value: 64 },
      ],
      PATCH,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'p2', hypervisor_type: 'qemu', min_ram: 64 });
    const removed = await demo.patch(`/v2/images/${img.id}`, [{ op: 'remove', path: '/hypervisor_type' }], PATCH);
    expect(removed.body).not.toHaveProperty('hypervisor_type');
    const d4 = await demo.patch(`/v2/images/${img.id}`, [{ replace: '/name', value: 'p3' }], {
      'content-type': 'application/openstack-images-v2.0-json-patch',
    });
    expect(d4.body.name).toBe('p3');

    const errors: Array<[unknown, number, string]> = [
      [[{ op: 'replace', path: '/status', value: 'active' }], 403, "Attribute 'status' is read-only."],
      [[{ op: 'replace', path: '/nothere', value: 'x' }], 409, 'Property nothere does not exist.'],
      [[{ op: 'remove', path: '/name' }], 403, 'Property name may not be removed.'],
      [[{ op: 'move', path: '/name' }], 400, 'Invalid operation: `move`. It must be one of the following: add, remove, replace.'],
      [{ op: 'replace' }, 400, 'Request body must be a JSON array of operation objects.'],
      [[{ op: 'replace', path: 'name', value: 'x' }], 400, 'Pointer `name` does not start with "/".'],
      [[{ op: 'replace', path: '/visibility', value: 'public' }], 403, 'You are not authorized to complete publicize_image action.'],
      [
        [{ op: 'replace', path: '/visibility', value: 'everyone' }],
        400,
        "Provided object does not match schema 'image': 'everyone' is not one of ['community', 'public', 'private', 'shared']",
      ],
    ];
    for (const [body, status, msg] of errors) {
      const r = await demo.patch(`/v2/images/${img.id}`, body, { ...PATCH, ...JSON_ACCEPT });
      expect([r.status, r.body.message]).toEqual([status, expect.stringContaining(msg)]);
    }
    const wrongType = await demo.patch(`/v2/images/${img.id}`, [], JSON_ACCEPT);
    expect(wrongType.status).toBe(415);
    expect(wrongType.headers['accept-patch']).toBe('application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch');
  });

  it('answers bad creates in Glance words and formats (JSON, HTML, text)', async () => {
    const ro = await demo.post('/v2/images', { name: 'x', self: '/x' }, JSON_ACCEPT);
    expect(ro.status).toBe(403);
    expect(ro.body).toEqual({ message: "Attribute 'self' is read-only.<br /><br />\n\n\n", code: '403 Forbidden', title: 'Forbidden' });
    const schema = await demo.post('/v2/images', { name: 'x', disk_format: 'floppy' }, JSON_ACCEPT);
    expect(schema.status).toBe(400);
    expect(schema.body.message).toMatch(/^Provided object does not match schema 'image': 'floppy' is not one of \[None, 'ami'/);
    const status = await demo.post('/v2/images', { name: 'x', status: 'active' }, JSON_ACCEPT);
    expect([status.status, status.body.message]).toEqual([403, "Attribute 'status' is read-only.<br /><br />\n\n\n"]);
    const prop = await demo.post('/v2/images', { name: 'x', foo: 1 }, JSON_ACCEPT);
    expect(prop.status).toBe(400);
    const html = await demo.get('/v2/images/00000000-0000-0000-0000-000000000000');
    expect(html.status).toBe(404);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.body).toContain('<h1>404 Not Found</h1>');
    expect(html.body).toContain('No image found with ID 00000000-0000-0000-0000-000000000000');
    expect((await demo.get('/v2/images/', JSON_ACCEPT)).status).toBe(404);
    const text = await demo.get('/v2/images/00000000-0000-0000-0000-000000000000', { accept: 'text/plain' });
    expect(text.body).toBe('404 Not Found\n\nNo image found with ID 00000000-0000-0000-0000-000000000000\n\n\n');
    const malformed = await demo.request('POST', '/v2/images', '{"name":', JSON_ACCEPT);
    expect(malformed.body.message).toBe('Malformed JSON in request body.<br /><br />\n\n\n');
  });

  it('lists with filters, sorting and next links', async () => {
    for (const [name, size] of [
      ['l-a', 10],
      ['l-b', 20],
      ['l-c', 30],
    ] as const) {
      const img = await create(demo, { name, tags: ['listing'] });
      await demo.put(`/v2/images/${img.id}/file`, randomBytes(size));
    }
    const bySize = (await demo.get('/v2/images?tag=listing&sort=size:desc')).body.images.map((i: any) => i.name);
    expect(bySize).toEqual(['l-c', 'l-b', 'l-a']);
    const classic = (await demo.get('/v2/images?tag=listing&sort_key=name&sort_dir=asc')).body.images.map((i: any) => i.name);
    expect(classic).toEqual(['l-a', 'l-b', 'l-c']);
    const page = (await demo.get('/v2/images?tag=listing&sort_key=name&sort_dir=asc&limit=2')).body;
    expect(page.images.map((i: any) => i.name)).toEqual(['l-a', 'l-b']);
    expect(page.first).toBe('/v2/images?tag=listing&sort_key=name&sort_dir=asc&limit=2');
    const next = (await demo.get(page.next)).body;
    expect(next.images.map((i: any) => i.name)).toEqual(['l-c']);
    expect(next.next).toBeUndefined();
    expect((await demo.get('/v2/images?tag=listing&size_min=15&size_max=25')).body.images.map((i: any) => i.name)).toEqual(['l-b']);
    expect((await demo.get('/v2/images?name=in:l-a,l-c&sort_key=name&sort_dir=asc')).body.images.map((i: any) => i.name)).toEqual(['l-a', 'l-c']);
    expect((await demo.get('/v2/images?status=queued&tag=listing')).body.images).toEqual([]);
    expect((await demo.get('/v2/images?sort_key=colour', JSON_ACCEPT)).body.message).toMatch(
      /^Invalid sort key: colour\. It must be one of the following: name, status/,
    );
    expect((await demo.get('/v2/images?limit=x', JSON_ACCEPT)).body.message).toMatch(/^limit param must be an integer/);
    expect((await demo.get('/v2/images?visibility=everyone', JSON_ACCEPT)).body.message).toMatch(/^Invalid visibility value: everyone/);
  });
});

describe('visibility and sharing', () => {
  it('keeps private images in their project, shares through members, publishes only for admins', async () => {
    const priv = await create(admin, { name: 'admin-private', visibility: 'private' });
    expect((await demo.get(`/v2/images/${priv.id}`)).status).toBe(404);
    expect((await demo.get('/v2/images')).body.images.map((i: any) => i.id)).not.toContain(priv.id);
    expect((await demo.delete(`/v2/images/${priv.id}`)).status).toBe(404);

    const shared = await create(admin, { name: 'admin-shared' });
    const demoProject = (await tc.cloud.store.db.selectFrom('projects').select('id').where('name', '=', 'demo').executeTakeFirstOrThrow()).id;
    const member = await admin.post(`/v2/images/${shared.id}/members`, { member: demoProject });
    expect(member.body).toMatchObject({ image_id: shared.id, member_id: demoProject, status: 'pending', schema: '/v2/schemas/member' });
    // A pending share is visible by id, listed only when asked for.
    expect((await demo.get(`/v2/images/${shared.id}`)).status).toBe(200);
    expect((await demo.get('/v2/images')).body.images.map((i: any) => i.id)).not.toContain(shared.id);
    // Glance lists the caller's own shared images too, and other projects' only by membership status.
    const pending = (await demo.get('/v2/images?visibility=shared&member_status=pending')).body.images;
    expect(pending.map((i: any) => i.id)).toContain(shared.id);
    expect(pending.filter((i: any) => i.owner !== demoProject).map((i: any) => i.id)).toEqual([shared.id]);
    expect((await demo.get('/v2/images?visibility=shared&member_status=accepted')).body.images.map((i: any) => i.id)).not.toContain(shared.id);
    expect((await demo.put(`/v2/images/${shared.id}/members/${demoProject}`, { status: 'accepted' })).body.status).toBe('accepted');
    expect((await demo.get('/v2/images')).body.images.map((i: any) => i.id)).toContain(shared.id);
    // The member may read, not change.
    const denied = await demo.patch(`/v2/images/${shared.id}`, [{ op: 'replace', path: '/name', value: 'mine' }], { ...PATCH, ...JSON_ACCEPT });
    expect([denied.status, denied.body.message]).toEqual([403, 'You do not own this image<br /><br />\n\n\n']);

    const community = await create(admin, { name: 'admin-community', visibility: 'community' });
    expect((await demo.get('/v2/images')).body.images.map((i: any) => i.id)).not.toContain(community.id);
    expect((await demo.get('/v2/images?visibility=community')).body.images.map((i: any) => i.id)).toContain(community.id);

    const pub = await demo.post('/v2/images', { name: 'mine', visibility: 'public' }, JSON_ACCEPT);
    expect(pub.status).toBe(403);
    const made = await create(admin, { name: 'admin-public', visibility: 'public' });
    expect((await demo.get(`/v2/images/${made.id}`)).body.visibility).toBe('public');
  });

  it('protects, deactivates and deletes', async () => {
    const img = await create(demo, { name: 'guarded', protected: true });
    await demo.put(`/v2/images/${img.id}/file`, Buffer.from('data'));
    const refused = await demo.delete(`/v2/images/${img.id}`, JSON_ACCEPT);
    expect([refused.status, refused.body.message]).toEqual([403, `Image ${img.id} is protected and cannot be deleted.<br /><br />\n\n\n`]);
    expect((await demo.post(`/v2/images/${img.id}/actions/deactivate`)).status).toBe(204);
    expect((await demo.get(`/v2/images/${img.id}`)).body.status).toBe('deactivated');
    expect((await demo.get(`/v2/images/${img.id}/file`)).status).toBe(403);
    expect((await admin.get(`/v2/images/${img.id}/file`)).status).toBe(200);
    expect((await demo.post(`/v2/images/${img.id}/actions/reactivate`)).status).toBe(204);
    await demo.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/protected', value: false }], PATCH);
    expect((await demo.delete(`/v2/images/${img.id}`)).status).toBe(204);
    expect((await demo.get(`/v2/images/${img.id}`)).status).toBe(404);
    expect(existsSync(join(tc.dir, 'images', img.id))).toBe(false);
  });
});

let cachedToken: string | undefined;
function demoToken(): string {
  return cachedToken!;
}
beforeAll(async () => {
  const { tokenFor, DEMO_PASSWORD } = await import('../support/cloud.js');
  cachedToken = await tokenFor(tc, 'demo', DEMO_PASSWORD);
});

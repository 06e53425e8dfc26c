import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemContext } from '../../src/core/context.js';
import { type Client, cloudForFile, freePort } from '../support/cloud.js';

/**
 * Glance's interoperable import, stores and locations, against a loopback web server this file
 * starts (the only place web-download and the http store fetch from here).
 */
const web: { server: Server; port: number; data: Buffer } = await (async () => {
  const data = randomBytes(3000);
  const port = await freePort();
  const server = createServer((req, res) => {
    if (req.url === '/image.raw') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
      res.end(req.method === 'HEAD' ? undefined : data);
    } else if (req.url === '/moved') {
      res.writeHead(302, { location: '/image.raw' });
      res.end();
    } else if (req.url === '/away') {
      res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' });
      res.end();
    } else {
      res.writeHead(404);
      res.end('not here');
    }
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, port, data };
})();
afterAll(() => new Promise<void>((r) => web.server.close(() => r())));

const URL_OK = `http://127.0.0.1:${web.port}/image.raw`;

const { tc, admin, demo } = await cloudForFile('image', {
  config: {
    image: {
      stores: [
        { id: 'cheap', type: 'file' },
        { id: 'fast', type: 'file' },
        { id: 'web', type: 'http' },
      ],
      defaultStore: 'fast',
      importMethods: ['glance-direct', 'web-download', 'copy-image'],
      importFilter: {
        allowedSchemes: ['http', 'https'],
        disallowedSchemes: [],
        allowedHosts: ['127.0.0.1'],
        disallowedHosts: [],
        allowedPorts: [web.port],
        disallowedPorts: [],
      },
      showMultipleLocations: true,
      showDirectUrl: false,
    },
  },
});

const PATCH = { 'content-type': 'application/openstack-images-v2.1-json-patch' };
const JSON_ACCEPT = { accept: 'application/json' };
const service = tc.cloud.services.image;

async function create(client: Client, body: Record<string, unknown> = {}) {
  const res = await client.post('/v2/images', { container_format: 'bare', disk_format: 'raw', ...body }, JSON_ACCEPT);
  expect(res.status).toBe(201);
  return res.body;
}

const show = async (client: Client, id: string) => (await client.get(`/v2/images/${id}`)).body;

describe('discovery', () => {
  it('offers the import methods and the stores, as Glance does with enabled_backends', async () => {
    expect((await demo.get('/v2/info/import')).body).toEqual({
      'import-methods': { description: 'Import methods available.', type: 'array', value: ['glance-direct', 'web-download', 'copy-image'] },
    });
    expect((await demo.get('/v2/info/stores')).body).toEqual({
      stores: [{ id: 'cheap' }, { id: 'fast', default: 'true' }, { id: 'web', 'read-only': 'true' }],
    });
    const detail = await admin.get('/v2/info/stores/detail');
    expect(detail.body.stores[0]).toEqual({
      id: 'cheap',
      type: 'file',
      properties: { data_dir: join(tc.dir, 'stores', 'cheap'), chunk_size: 65536, thin_provisioning: false },
      weight: 0,
    });
    expect(detail.body.stores[2]).toMatchObject({ id: 'web', type: 'http', properties: {} });
    const denied = await demo.get('/v2/info/stores/detail', JSON_ACCEPT);
    expect([denied.status, denied.body.message]).toEqual([403, 'You are not authorized to complete stores_info_detail action.<br /><br />\n\n\n']);
    expect((await demo.get('/v2/info/usage')).body).toEqual({ usage: {} });
    const made = await demo.post('/v2/images', { name: 'hdr' });
    expect(made.headers['openstack-image-import-methods']).toBe('glance-direct,web-download,copy-image');
    expect(made.headers['openstack-image-store-ids']).toBe('cheap,fast,web');
  });
});

describe('glance-direct', () => {
  it('stages, imports into every store with a task, and answers as Glance when refused', async () => {
    const img = await create(demo, { name: 'direct' });
    const early = await demo.post(`/v2/images/${img.id}/import`, { method: { name: 'glance-direct' } }, JSON_ACCEPT);
    expect([early.status, early.body.message]).toEqual([409, "Image needs to be staged before 'glance-direct' method can be used<br /><br />\n\n\n"]);

    const data = randomBytes(5000);
    expect((await demo.put(`/v2/images/${img.id}/stage`, data)).status).toBe(204);
    expect(await show(demo, img.id)).toMatchObject({ status: 'uploading', size: 5000, checksum: null });
    expect(existsSync(join(tc.dir, 'staging', img.id))).toBe(true);
    const again = await demo.put(`/v2/images/${img.id}/stage`, data, JSON_ACCEPT);
    expect([again.status, again.body.message]).toEqual([409, 'Image status transition from uploading to uploading is not allowed<br /><br />\n\n\n']);

    const bad = [
      [{}, 400, "Import request requires a 'method' field."],
      [{ method: {} }, 400, "Import request requires a 'name' field."],
      [{ method: { name: 'glance-download' } }, 400, "Unknown import method name 'glance-download'."],
      [{ method: { name: 'glance-direct' }, all_stores: 'yes' }, 400, "'all_stores' must be boolean value only"],
      [{ method: { name: 'glance-direct' }, stores: ['nowhere'] }, 409, 'Store for identifier nowhere not found'],
      [
        { method: { name: 'glance-direct' }, stores: ['fast'], all_stores: true },
        400,
        "All_stores parameter can't be used with x-image-meta-store header or stores parameter",
      ],
    ] as const;
    for (const [body, status, msg] of bad) {
      const r = await demo.post(`/v2/images/${img.id}/import`, body, JSON_ACCEPT);
      expect([r.status, r.body.message]).toEqual([status, `${msg}<br /><br />\n\n\n`]);
    }
    const other = await admin.post('/v2/images', { name: 'not-yours', container_format: 'bare', disk_format: 'raw', visibility: 'public' });
    await admin.put(`/v2/images/${other.body.id}/stage`, data);
    const notOwner = await demo.post(`/v2/images/${other.body.id}/import`, { method: { name: 'glance-direct' } }, JSON_ACCEPT);
    expect([notOwner.status, notOwner.body.message]).toEqual([403, 'You do not own this image<br /><br />\n\n\n']);

    const res = await demo.post(`/v2/images/${img.id}/import`, { method: { name: 'glance-direct' }, all_stores: true });
    expect(res.status).toBe(202);
    await service.stop();
    const done = await show(demo, img.id);
    expect(done).toMatchObject({
      status: 'active',
      size: 5000,
      // Raw data inspected on its way into the stores (Glance's set_data), not when staged.
      virtual_size: 5000,
      stores: 'cheap,fast',
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_value: createHash('sha512').update(data).digest('hex'),
      os_glance_importing_to_stores: '',
      os_glance_failed_import: '',
    });
    expect(done.os_glance_import_task).toBeUndefined();
    expect(done.locations.map((l: any) => l.metadata.store)).toEqual(['cheap', 'fast']);
    expect(existsSync(join(tc.dir, 'staging', img.id))).toBe(false);
    const tasks = (await demo.get(`/v2/images/${img.id}/tasks`)).body.tasks;
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({
      type: 'api_image_import',
      status: 'success',
      image_id: img.id,
      request_id: res.headers['x-openstack-request-id'],
      deleted: false,
      deleted_at: null,
      result: { image_id: img.id },
      input: { image_id: img.id, import_req: { method: { name: 'glance-direct' }, all_stores: true }, backend: ['cheap', 'fast'] },
    });
    expect(tasks[0].created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    const down = await tc.cloud.apps
      .get('image')!
      .inject({ method: 'GET', url: `/v2/images/${img.id}/file`, headers: { 'x-auth-token': (demo as any).token } });
    expect(Buffer.compare(down.rawPayload, data)).toBe(0);
    expect((await demo.get('/v2/images/00000000-0000-0000-0000-000000000000/tasks', JSON_ACCEPT)).status).toBe(404);
    const active = await demo.post(`/v2/images/${img.id}/import`, { method: { name: 'glance-direct' } }, JSON_ACCEPT);
    expect([active.status, active.body.message]).toEqual([409, 'Image with status active cannot be target for import<br /><br />\n\n\n']);
  });

  it('refuses a stage over the size cap or shorter than announced, and an image without formats', async () => {
    const img = await create(demo, { name: 'short' });
    const short = await demo.request('PUT', `/v2/images/${img.id}/stage`, Buffer.from('abc'), { 'x-openstack-image-size': '10', ...JSON_ACCEPT });
    expect([short.status, short.body.message]).toEqual([400, 'Size mismatch: expected 10 bytes, got 3 bytes<br /><br />\n\n\n']);
    expect((await show(demo, img.id)).status).toBe('queued');
    const noFormat = (await demo.post('/v2/images', { name: 'nf' })).body;
    expect((await demo.put(`/v2/images/${noFormat.id}/stage`, Buffer.from('x'))).status).toBe(500);
    expect((await show(demo, noFormat.id)).status).toBe('queued');
  });
});

describe('web-download', () => {
  it('downloads from an allowed URL (redirects vetted) into the default store', async () => {
    const img = await create(demo, { name: 'web' });
    expect((await demo.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/moved` } })).status).toBe(202);
    await service.stop();
    expect(await show(demo, img.id)).toMatchObject({ status: 'active', size: web.data.length, stores: 'fast' });
  });

  it('refuses what the import filter refuses, and fails the task on what cannot be fetched', async () => {
    const img = await create(demo, { name: 'web-bad' });
    for (const uri of [`http://127.0.0.1:1/x`, 'ftp://127.0.0.1/x', 'http://localhost.invalid/x', undefined]) {
      const r = await demo.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri } }, JSON_ACCEPT);
      expect([r.status, r.body.message]).toEqual([400, `URI for web-download does not pass filtering: ${uri ?? 'None'}<br /><br />\n\n\n`]);
    }
    expect((await demo.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/missing` } })).status).toBe(
      202,
    );
    await service.stop();
    expect(await show(demo, img.id)).toMatchObject({ status: 'queued', os_glance_failed_import: 'fast', os_glance_importing_to_stores: '' });
    const [task] = (await demo.get(`/v2/images/${img.id}/tasks`)).body.tasks;
    expect(task).toMatchObject({ status: 'failure', message: 'Task failed due to Internal Error' });
    // A redirect out of the allowed hosts and ports fails the same way.
    expect((await demo.post(`/v2/images/${img.id}/import`, { method: { name: 'web-download', uri: `http://127.0.0.1:${web.port}/away` } })).status).toBe(202);
    await service.stop();
    expect((await show(demo, img.id)).status).toBe('queued');
  });
});

describe('copy-image', () => {
  it('copies an active image into another store (admin only), and answers as Glance when there is nothing to copy', async () => {
    const img = await create(demo, { name: 'copy' });
    await demo.put(`/v2/images/${img.id}/file`, Buffer.from('copy me'));
    expect((await show(demo, img.id)).stores).toBe('fast');
    const refused = await demo.post(`/v2/images/${img.id}/import`, { method: { name: 'copy-image' }, stores: ['cheap'] }, JSON_ACCEPT);
    expect([refused.status, refused.body.message]).toEqual([403, 'You are not authorized to complete copy_image action.<br /><br />\n\n\n']);
    const there = await admin.post(`/v2/images/${img.id}/import`, { method: { name: 'copy-image' }, stores: ['fast'] }, JSON_ACCEPT);
    expect([there.status, there.body.message]).toEqual([400, "Image is already present at store 'fast'<br /><br />\n\n\n"]);
    expect((await admin.post(`/v2/images/${img.id}/import`, { method: { name: 'copy-image' }, all_stores: true, all_stores_must_succeed: false })).status).toBe(
      202,
    );
    await service.stop();
    const copied = await show(demo, img.id);
    expect(copied).toMatchObject({ status: 'active', stores: 'fast,cheap', os_glance_importing_to_stores: '', os_glance_failed_import: '' });
    // In every store already: 202, and no task starts.
    expect((await admin.post(`/v2/images/${img.id}/import`, { method: { name: 'copy-image' }, all_stores: true })).status).toBe(202);
    // The copy task is the admin's project's: the image's owner does not see it (_is_task_visible).
    expect((await demo.get(`/v2/images/${img.id}/tasks`)).body.tasks).toHaveLength(0);
    expect((await admin.get(`/v2/images/${img.id}/tasks`)).body.tasks).toHaveLength(1);
    // Data leaves a store: admin only, never the last copy.
    const notAdmin = await demo.delete(`/v2/stores/cheap/${img.id}`, JSON_ACCEPT);
    expect(notAdmin.status).toBe(403);
    expect((await admin.delete(`/v2/stores/cheap/${img.id}`)).status).toBe(204);
    expect((await show(demo, img.id)).stores).toBe('fast');
    const last = await admin.delete(`/v2/stores/fast/${img.id}`, JSON_ACCEPT);
    expect([last.status, last.body.message]).toEqual([
      403,
      'Cannot delete image data from the only store containing it. Consider deleting the image instead.<br /><br />\n\n\n',
    ]);
    const unknown = await admin.delete(`/v2/stores/nowhere/${img.id}`, JSON_ACCEPT);
    expect([unknown.status, unknown.body.message]).toEqual([409, 'The selected store nowhere is not available on this node.<br /><br />\n\n\n']);
    const queued = await create(demo, { name: 'not-active' });
    const notActive = await admin.post(`/v2/images/${queued.id}/import`, { method: { name: 'copy-image' }, all_stores: true }, JSON_ACCEPT);
    expect([notActive.status, notActive.body.message]).toEqual([409, 'Only images with status active can be targeted for copying<br /><br />\n\n\n']);
  });
});

describe('locations', () => {
  it('adds, replaces and removes http locations as Glance allows (show_multiple_locations)', async () => {
    const img = await create(demo, { name: 'loc' });
    expect((await show(demo, img.id)).locations).toEqual([]);
    const gopher = await demo.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value: { url: 'gopher://info.cern.ch', metadata: {} } }], {
      ...PATCH,
      ...JSON_ACCEPT,
    });
    expect([gopher.status, gopher.body.message]).toEqual([400, 'Invalid location<br /><br />\n\n\n']);
    const added = await demo.patch(
      `/v2/images/${img.id}`,
      [
        {
          op: 'add',
          path: '/locations/-',
          value: {
            url: URL_OK,
            metadata: { foo: 'bar' },
            validation_data: { checksum: '1'.repeat(32), os_hash_algo: 'sha512', os_hash_value: 'ab'.repeat(64) },
          },
        },
      ],
      PATCH,
    );
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({
      status: 'active',
      size: web.data.length,
      checksum: '1'.repeat(32),
      locations: [{ url: URL_OK, metadata: { foo: 'bar', store: 'web' } }],
      stores: 'web',
    });
    const conflicting = await demo.patch(
      `/v2/images/${img.id}`,
      [
        {
          op: 'add',
          path: '/locations/-',
          value: { url: `${URL_OK}#2`, metadata: {}, validation_data: { checksum: '2'.repeat(32), os_hash_algo: 'sha512', os_hash_value: 'ab'.repeat(64) } },
        },
      ],
      { ...PATCH, ...JSON_ACCEPT },
    );
    expect([conflicting.status, conflicting.body.message]).toEqual([409, 'checksum is already set with a different value<br /><br />\n\n\n']);
    await demo.patch(`/v2/images/${img.id}`, [{ op: 'add', path: '/locations/-', value: { url: `${URL_OK}#2`, metadata: {} } }], PATCH);
    const two = (await show(demo, img.id)).locations;
    expect(two).toHaveLength(2);
    const swapped = await demo.patch(`/v2/images/${img.id}`, [{ op: 'replace', path: '/locations', value: [two[0], { url: `${URL_OK}#3`, metadata: {} }] }], {
      ...PATCH,
      ...JSON_ACCEPT,
    });
    expect(swapped.status).toBe(400);
    expect(swapped.body.message).toMatch(/^Original locations is not empty: \[\{'id': 1, 'url': /);
    const remove = await demo.patch(`/v2/images/${img.id}`, [{ op: 'remove', path: '/locations/0' }], { ...PATCH, ...JSON_ACCEPT });
    expect([remove.status, remove.body.message]).toEqual([403, 'You are not authorized to complete delete_image_location action.<br /><br />\n\n\n']);
    expect((await admin.patch(`/v2/images/${img.id}`, [{ op: 'remove', path: '/locations/0' }], PATCH)).status).toBe(200);
    const last = await admin.patch(`/v2/images/${img.id}`, [{ op: 'remove', path: '/locations/0' }], { ...PATCH, ...JSON_ACCEPT });
    expect([last.status, last.body.message]).toEqual([403, 'Cannot remove last location in the image.<br /><br />\n\n\n']);
    // The data of an http location is fetched from it.
    const down = await tc.cloud.apps
      .get('image')!
      .inject({ method: 'GET', url: `/v2/images/${img.id}/file`, headers: { 'x-auth-token': (demo as any).token } });
    expect(Buffer.compare(down.rawPayload, web.data)).toBe(0);
  });

  it('adds a location through the 2.17 location API, hashing the data in a task', async () => {
    const img = await create(demo, { name: 'loc-api' });
    const hash = createHash('sha512').update(web.data).digest('hex');
    expect((await demo.post(`/v2/images/${img.id}/locations`, { url: URL_OK, validation_data: { os_hash_algo: 'sha512', os_hash_value: hash } })).status).toBe(
      202,
    );
    await service.stop();
    expect(await show(demo, img.id)).toMatchObject({ status: 'active', os_hash_value: hash, checksum: createHash('md5').update(web.data).digest('hex') });
    const [task] = (await demo.get(`/v2/images/${img.id}/tasks`)).body.tasks;
    expect(task).toMatchObject({ type: 'location_import', status: 'success' });
    const fetched = await demo.get(`/v2/images/${img.id}/locations`, JSON_ACCEPT);
    expect([fetched.status, fetched.body.message]).toEqual([403, 'You are not authorized to complete fetch_image_location action.<br /><br />\n\n\n']);
    expect((await admin.get(`/v2/images/${img.id}/locations`)).body).toEqual([{ url: URL_OK, metadata: { store: 'web' } }]);
    const again = await demo.post(`/v2/images/${img.id}/locations`, { url: URL_OK }, JSON_ACCEPT);
    expect([again.status, again.body.message]).toEqual([409, "It's not allowed to add locations if image status is active.<br /><br />\n\n\n"]);
  });
});

describe('tasks, cache and methods', () => {
  it('keeps the tasks API for admins, never deletes a task by hand', async () => {
    const denied = await demo.get('/v2/tasks', JSON_ACCEPT);
    expect([denied.status, denied.body.message]).toEqual([403, 'You are not authorized to complete tasks_api_access action.<br /><br />\n\n\n']);
    const list = (await admin.get('/v2/tasks')).body;
    expect(list).toMatchObject({ first: '/v2/tasks', schema: '/v2/schemas/tasks' });
    const one = list.tasks[0];
    expect(Object.keys(one).sort()).toEqual(['created_at', 'expires_at', 'id', 'owner', 'schema', 'self', 'status', 'type', 'updated_at']);
    const shown = (await admin.get(`/v2/tasks/${one.id}`)).body;
    expect(shown).toMatchObject({ id: one.id, self: `/v2/tasks/${one.id}`, schema: '/v2/schemas/task' });
    const del = await admin.delete(`/v2/tasks/${one.id}`, JSON_ACCEPT);
    expect(del.status).toBe(405);
    expect(del.headers.allow).toBe('GET');
    expect(del.body.message).toBe(
      'This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time based on their expires_at property.',
    );
    expect((await admin.get('/v2/tasks?status=bogus', JSON_ACCEPT)).body.message).toMatch(/^Invalid status value: bogus/);
    expect((await admin.get('/v2/tasks/00000000-0000-0000-0000-000000000000', JSON_ACCEPT)).body.message).toMatch(/^Could not find task 00000000/);
    const legacy = await admin.post('/v2/tasks', { type: 'import', input: { import_from: 'file:///etc/passwd' } }, JSON_ACCEPT);
    expect([legacy.status, legacy.body.message]).toEqual([
      400,
      'File based imports are not allowed. Please use a non-local source of image data.<br /><br />\n\n\n',
    ]);
    const made = await admin.post('/v2/tasks', {
      type: 'import',
      input: { import_from: URL_OK, import_from_format: 'raw', image_properties: { name: 'legacy' } },
    });
    expect(made.status).toBe(201);
    expect(made.headers.location).toBe(`/v2/tasks/${made.body.id}`);
    await service.stop();
    const finished = (await admin.get(`/v2/tasks/${made.body.id}`)).body;
    expect(finished.status).toBe('success');
    expect((await admin.get(`/v2/images/${finished.result.image_id}`)).body).toMatchObject({ name: 'legacy', status: 'active', disk_format: null });
  });

  it('answers the cache API as Glance without a cache, and a known path with a wrong method with 405', async () => {
    expect((await demo.get('/v2/cache', JSON_ACCEPT)).body).toEqual({
      message: 'Access was denied to this resource.<br /><br />\n\n\n',
      code: '403 Forbidden',
      title: 'Forbidden',
    });
    expect((await admin.get('/v2/cache', JSON_ACCEPT)).body.message).toBe('Caching via API is not supported at this site.<br /><br />\n\n\n');
    expect((await admin.put('/v2/cache/00000000-0000-0000-0000-000000000000', undefined, JSON_ACCEPT)).body.message).toBe(
      'Image 00000000-0000-0000-0000-000000000000 not found.<br /><br />\n\n\n',
    );
    const wrong = await demo.request('PUT', '/v2/images', undefined, JSON_ACCEPT);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET, POST');
    expect(wrong.body.message).toBe('The method PUT is not allowed for this resource. <br /><br />\n');
    expect((await demo.request('GET', '/v2/nothing', undefined, JSON_ACCEPT)).status).toBe(404);
    // body_reject routes refuse a body.
    const withBody = await demo.request('DELETE', '/v2/images/00000000-0000-0000-0000-000000000000', { a: 1 }, JSON_ACCEPT);
    expect([withBody.status, withBody.body.message]).toEqual([400, 'A body is not expected with this request.<br /><br />\n\n\n']);
  });
});

describe('restart', () => {
  it('fails an import a stop interrupted and puts its image back to queued, unlocked', async () => {
    const img = await create(demo, { name: 'cut' });
    await demo.put(`/v2/images/${img.id}/stage`, Buffer.from('interrupted'));
    // What a stop leaves: a task processing, the image importing and locked by it.
    const task = await tc.cloud.store.db.transaction().execute(async (trx) => {
      const t = await service.tasks.create(trx, { ...systemContext('req-x'), projectId: img.owner }, 'api_image_import', img.id, {
        image_id: img.id,
        import_req: { method: { name: 'glance-direct' } },
        backend: ['fast'],
      });
      await trx.updateTable('image_tasks').set({ status: 'processing' }).where('id', '=', t.id).execute();
      await trx.updateTable('images').set({ status: 'importing' }).where('id', '=', img.id).execute();
      await trx.insertInto('image_properties').values({ image_id: img.id, name: 'os_glance_import_task', value: t.id }).execute();
      return t;
    });
    await service.imports.recover();
    const after = await show(demo, img.id);
    expect(after.status).toBe('queued');
    expect(after.os_glance_import_task).toBeUndefined();
    expect(existsSync(join(tc.dir, 'staging', img.id))).toBe(false);
    expect((await admin.get(`/v2/tasks/${task.id}`)).body).toMatchObject({ status: 'failure', message: 'Task failed due to Internal Error' });
    // The image takes a new stage.
    expect((await demo.put(`/v2/images/${img.id}/stage`, Buffer.from('again'))).status).toBe(204);
  });
});

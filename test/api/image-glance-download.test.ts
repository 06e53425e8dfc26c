import { describe, expect, it } from 'vitest';
import { DEFAULT_IMPORT_FILTER } from '../../src/core/image/options.js';
import { freeServicePorts } from '../../src/util/ports.js';
import { ADMIN_PASSWORD, startCloud } from '../support/cloud.js';
import { http, passwordToken } from '../support/http.js';
import { afterAll } from 'vitest';

/**
 * glance-download: an image filled from a Glance found in the service catalog by region and
 * interface, with the caller's token. This cloud's own image endpoint serves as that Glance (the
 * catalog has one region), so it listens on real loopback ports.
 */
const ports = await freeServicePorts();
const tc = await startCloud({
  listen: true,
  config: {
    ports,
    image: {
      stores: [{ id: 'file', type: 'file' }],
      defaultStore: 'file',
      importMethods: ['glance-direct', 'glance-download'],
      importFilter: { ...DEFAULT_IMPORT_FILTER, allowedHosts: ['127.0.0.1'], allowedPorts: [ports.image] },
      showMultipleLocations: false,
      showDirectUrl: false,
    },
  },
});
afterAll(() => tc.stop());

const base = `http://127.0.0.1:${ports.image}`;
const token = await passwordToken(`http://127.0.0.1:${ports.identity}`, 'admin', ADMIN_PASSWORD);
const call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
  http(method, `${base}${path}`, { token, body, headers: { accept: 'application/json', ...headers } });
const PATCH = { 'content-type': 'application/openstack-images-v2.1-json-patch' };

async function makeImage(body: Record<string, unknown> = {}): Promise<string> {
  const r = await call('POST', '/v2/images', { container_format: 'bare', disk_format: 'raw', ...body });
  expect(r.status).toBe(201);
  return r.body.id;
}

describe('glance-download', () => {
  it('copies the data, formats and the configured properties of a remote image', async () => {
    const src = await makeImage({ container_format: 'ovf', disk_format: 'qcow2' });
    const res = await fetch(`${base}/v2/images/${src}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
      body: Buffer.from('remote data'),
    });
    expect(res.status).toBe(204);
    await call(
      'PATCH',
      `/v2/images/${src}`,
      [
        { op: 'add', path: '/hw_cpu_cores', value: '5' },
        { op: 'add', path: '/trait:STORAGE_DISK_SSD', value: 'required' },
        { op: 'add', path: '/os_distro', value: 'rhel' },
        { op: 'add', path: '/speed', value: '88mph' },
      ],
      PATCH,
    );
    const dst = await makeImage({ os_distro: 'windows' });
    const bad = await call('POST', `/v2/images/${dst}/import`, { method: { name: 'glance-download', glance_image_id: 'foo', glance_region: 'RegionOne' } });
    expect([bad.status, bad.body.message]).toEqual([400, 'Remote image id does not look like a UUID: foo<br /><br />\n\n\n']);
    const imp = await call('POST', `/v2/images/${dst}/import`, { method: { name: 'glance-download', glance_image_id: src, glance_region: 'RegionOne' } });
    expect(imp.status).toBe(202);
    await tc.cloud.services.image.stop();
    const got = (await call('GET', `/v2/images/${dst}`)).body;
    expect(got).toMatchObject({
      status: 'active',
      size: 11,
      disk_format: 'qcow2',
      container_format: 'ovf',
      hw_cpu_cores: '5',
      'trait:STORAGE_DISK_SSD': 'required',
      os_distro: 'rhel',
    });
    expect(got.speed).toBeUndefined();
    const [task] = (await call('GET', `/v2/images/${dst}/tasks`)).body.tasks;
    expect(task).toMatchObject({ status: 'success', input: { import_req: { method: { glance_service_interface: 'public' } } } });
  });

  it('fails the task, the image queued with its own properties, for an unknown region or a missing image', async () => {
    for (const method of [
      { glance_image_id: '36d4b546-64a2-4bb9-bdd0-ba676aa48f2c', glance_region: 'not a region', glance_service_interface: 'not an interface' },
      { glance_image_id: '36d4b546-64a2-4bb9-bdd0-ba676aa48f2c', glance_region: 'RegionOne' },
    ]) {
      const img = await makeImage({ os_distro: 'windows', hw_cpu_cores: '1' });
      expect((await call('POST', `/v2/images/${img}/import`, { method: { name: 'glance-download', ...method } })).status).toBe(202);
      await tc.cloud.services.image.stop();
      expect((await call('GET', `/v2/images/${img}`)).body).toMatchObject({ status: 'queued', os_distro: 'windows', hw_cpu_cores: '1' });
      const [task] = (await call('GET', `/v2/images/${img}/tasks`)).body.tasks;
      expect(task.status).toBe('failure');
    }
  });
});

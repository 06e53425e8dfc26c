/**
 * Compute over an instance host that runs servers as machines (issue 15), without the kernel: a
 * stand-in InstanceHost gives the machine's disk, as the netns data plane's snapshotDisk does.
 * createImage uploads that disk (a root file system tar: `docker`/`raw`), or the base image when
 * the host cannot read one; what the guest posts to the metadata service's `password` is what
 * os-server-password shows, stored where Nova stores it.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuestMetadata } from '../../src/core/compute/guest/service.js';
import type { InstanceHost } from '../../src/core/compute/host.js';
import { type Client, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';

const V = { 'openstack-api-version': 'compute 2.96' };

let tc: TestCloud;
let demo: Client;
let images: Client;
let imageId = '';
let netId = '';
/** Servers whose disk the stand-in host can read, and what it holds. */
const disks = new Map<string, Buffer>();

const host: InstanceHost = {
  async snapshotDisk(serverId) {
    const disk = disks.get(serverId);
    if (!disk) throw new Error('the instance has never booted');
    return Readable.from([disk]);
  },
  serialConsole() {
    throw new Error('no console here');
  },
};

async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await tc.cloud.services.computeManager.idle();
    await tc.cloud.services.dataplane.idle();
  }
}

async function boot(name: string): Promise<string> {
  const res = await demo.post('/v2.1/servers', { server: { name, flavorRef: '42', imageRef: imageId, networks: [{ uuid: netId }] } }, V);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  await settle();
  return res.body.server.id;
}

async function snapshot(id: string, name: string): Promise<Record<string, unknown>> {
  const res = await demo.post(`/v2.1/servers/${id}/action`, { createImage: { name } }, V);
  expect(res.status).toBe(202);
  await settle();
  return (await images.get(`/v2/images/${res.body.image_id}`)).body;
}

beforeAll(async () => {
  tc = await startCloud();
  tc.cloud.services.compute.attachHost(host);
  ({ demo } = await serviceClients(tc, 'compute'));
  images = (await serviceClients(tc, 'image')).demo;
  const network = (await serviceClients(tc, 'network')).demo;
  imageId = (await images.get('/v2/images?name=cirros-0.3.3-x86_64-disk')).body.images[0].id;
  const net = (await network.post('/v2.0/networks', { network: { name: 'machines' } })).body.network;
  await network.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.30.0.0/24', ip_version: 4 } });
  netId = net.id;
}, 60_000);
afterAll(async () => tc.stop());

describe('servers as machines', () => {
  it("createImage uploads the machine's root file system as a tar image", async () => {
    const id = await boot('disk');
    disks.set(id, Buffer.from('a root file system, as tar'));
    const img = await snapshot(id, 'disk-snap');
    expect(img).toMatchObject({ status: 'active', container_format: 'docker', disk_format: 'raw', instance_uuid: id, image_type: 'snapshot' });
    const data = await images.get(`/v2/images/${img.id}/file`);
    expect(data.body).toBe('a root file system, as tar');
  });

  it("createBackup labels the machine's disk as what it is, whatever the base image's formats", async () => {
    const id = await boot('backup');
    disks.set(id, Buffer.from('another root file system'));
    const res = await demo.post(`/v2.1/servers/${id}/action`, { createBackup: { name: 'b', backup_type: 'daily', rotation: 1 } }, V);
    expect(res.status).toBe(202);
    await settle();
    const img = (await images.get(`/v2/images/${res.body.image_id}`)).body;
    expect(img).toMatchObject({ status: 'active', container_format: 'docker', disk_format: 'raw', image_type: 'backup' });
  });

  it('an instance whose disk the host cannot read is snapshotted as the image it boots', async () => {
    const id = await boot('never-booted');
    const img = await snapshot(id, 'base-snap');
    const base = (await images.get(`/v2/images/${imageId}`)).body;
    expect(img).toMatchObject({ status: 'active', container_format: 'bare', disk_format: base.disk_format, checksum: base.checksum });
  });

  it("what the guest posts to the metadata service's password is os-server-password's, once until cleared", async () => {
    const id = await boot('password');
    const server = (await demo.get(`/v2.1/servers/${id}`, V)).body.server;
    const address = server.addresses.machines[0].addr;
    const guest = new GuestMetadata(tc.cloud.services.network.uow);
    const post = (body: string) => guest.answer({ networkId: netId }, address, 'POST', '/openstack/latest/password', Buffer.from(body));
    const long = 'x'.repeat(600);
    expect((await post(long)).status).toBe(200);
    expect((await post('again')).status).toBe(409);
    expect((await demo.get(`/v2.1/servers/${id}/os-server-password`, V)).body.password).toBe(long);
    const got = await guest.answer({ networkId: netId }, address, 'GET', '/openstack/latest/password', Buffer.alloc(0));
    expect(got.status === 200 && got.body.toString()).toBe(long);
    expect((await demo.delete(`/v2.1/servers/${id}/os-server-password`, V)).status).toBe(204);
    expect((await demo.get(`/v2.1/servers/${id}/os-server-password`, V)).body.password).toBe('');
    expect((await post('new')).status).toBe(200);
  });
});

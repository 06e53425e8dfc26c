import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { restartableStore, serviceClients, startCloud } from '../support/cloud.js';

const dir = mkdtempSync(join(tmpdir(), 'pocketstack-compute-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('finishes building servers after a restart: the build works from the store', async () => {
  const store = await restartableStore('pocketstack_restart');
  let tc = await startCloud({ dir, config: store.config });
  // No compute manager running: the server is recorded (BUILD/scheduling) and nothing else happens.
  await tc.cloud.services.computeManager.stop();
  let compute = (await serviceClients(tc, 'compute')).demo;
  const network = (await serviceClients(tc, 'network')).demo;
  const net = (await network.post('/v2.0/networks', { network: { name: 'n' } })).body.network;
  await network.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.1.0.0/24', ip_version: 4 } });
  const image = (await (await serviceClients(tc, 'image')).demo.get('/v2/images')).body.images[0].id;
  const res = await compute.post(
    '/v2.1/servers',
    { server: { name: 'survivor', flavorRef: '1', imageRef: image, networks: [{ uuid: net.id }] } },
    { 'openstack-api-version': 'compute 2.46' },
  );
  expect(res.status).toBe(202);
  const id = res.body.server.id;
  expect((await compute.get(`/v2.1/servers/${id}`)).body.server.status).toBe('BUILD');
  await tc.stop();

  tc = await startCloud({ dir, config: store.config });
  try {
    compute = (await serviceClients(tc, 'compute')).demo;
    let status = '';
    for (let i = 0; i < 50 && status !== 'ACTIVE'; i++) {
      await tc.cloud.services.computeManager.idle();
      await tc.cloud.services.dataplane.idle();
      status = (await compute.get(`/v2.1/servers/${id}`)).body.server.status;
    }
    expect(status).toBe('ACTIVE');
    const ports = (await (await serviceClients(tc, 'network')).admin.get(`/v2.0/ports?device_id=${id}`)).body.ports;
    expect(ports).toHaveLength(1);
    expect(ports[0].status).toBe('ACTIVE');
  } finally {
    await tc.stop();
    await store.drop();
  }
});

it('carries out server actions accepted before a restart', async () => {
  const store = await restartableStore('pocketstack_restart');
  const V = { 'openstack-api-version': 'compute 2.96' };
  let tc = await startCloud({ dir: mkdtempSync(join(dir, 'actions-')), config: store.config });
  const dataDir = tc.dir;
  let compute = (await serviceClients(tc, 'compute')).demo;
  const network = (await serviceClients(tc, 'network')).demo;
  const net = (await network.post('/v2.0/networks', { network: { name: 'n' } })).body.network;
  await network.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.1.0.0/24', ip_version: 4 } });
  const image = (await (await serviceClients(tc, 'image')).demo.get('/v2/images')).body.images[0].id;
  const settle = async () => {
    for (let i = 0; i < 4; i++) {
      await tc.cloud.services.computeManager.idle();
      await tc.cloud.services.dataplane.idle();
    }
  };
  const ids: string[] = [];
  for (const name of ['paused', 'resized', 'snapped']) {
    const res = await compute.post('/v2.1/servers', { server: { name, flavorRef: '42', imageRef: image, networks: [{ uuid: net.id }] } }, V);
    ids.push(res.body.server.id);
  }
  await settle();
  // The manager stops: the actions are accepted (task states set, instance actions recorded) and wait.
  await tc.cloud.services.computeManager.stop();
  const [paused, resized, snapped] = ids;
  expect((await compute.post(`/v2.1/servers/${paused}/action`, { pause: null }, V)).status).toBe(202);
  expect((await compute.post(`/v2.1/servers/${resized}/action`, { resize: { flavorRef: '84' } }, V)).status).toBe(202);
  const snap = await compute.post(`/v2.1/servers/${snapped}/action`, { createImage: { name: 'snap' } }, V);
  expect(snap.status).toBe(202);
  expect((await compute.get(`/v2.1/servers/${resized}`, V)).body.server['OS-EXT-STS:task_state']).toBe('resize_prep');
  await tc.stop();

  tc = await startCloud({ dir: dataDir, config: store.config });
  try {
    compute = (await serviceClients(tc, 'compute')).demo;
    const status = async (id: string) => (await compute.get(`/v2.1/servers/${id}`, V)).body.server;
    let done = false;
    for (let i = 0; i < 50 && !done; i++) {
      await settle();
      const [a, b, c] = await Promise.all(ids.map(status));
      done = a.status === 'PAUSED' && b.status === 'VERIFY_RESIZE' && c.status === 'ACTIVE' && c['OS-EXT-STS:task_state'] === null;
    }
    const [a, b, c] = await Promise.all(ids.map(status));
    expect([a.status, b.status, c.status]).toEqual(['PAUSED', 'VERIFY_RESIZE', 'ACTIVE']);
    expect(b.flavor.original_name).toBe('m1.micro');
    const img = (await (await serviceClients(tc, 'image')).demo.get(`/v2/images/${snap.body.image_id}`)).body;
    expect(img).toMatchObject({ status: 'active', image_type: 'snapshot', instance_uuid: snapped });
    const events = (
      await compute.get(
        `/v2.1/servers/${resized}/os-instance-actions/${(await compute.get(`/v2.1/servers/${resized}/os-instance-actions`, V)).body.instanceActions[0].request_id}`,
        V,
      )
    ).body.instanceAction.events;
    expect(events.every((e: { result: string }) => e.result === 'Success')).toBe(true);
  } finally {
    await tc.stop();
    await store.drop();
  }
}, 120_000);

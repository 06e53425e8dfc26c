/**
 * The scheduler's weight multipliers per host from aggregate metadata (Nova's
 * utils.get_weight_multiplier): a host's aggregates carrying `ram_weight_multiplier` (or any
 * weigher's option name) override the configured multiplier for that host, the smallest value
 * winning, and a value that is not a number leaving the option's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ComputeHost, startComputeHost } from '../../src/core/compute/nodes.js';
import { pythonFloat } from '../../src/core/compute/scheduler.js';
import { type Client, type TestCloud, serviceClients, startCloud } from '../support/cloud.js';

const V96 = { 'openstack-api-version': 'compute 2.96' };
let tc: TestCloud;
let admin: Client;
let imageId = '';
const hosts: ComputeHost[] = [];
const servers: string[] = [];

async function boot(name: string): Promise<string> {
  const res = await admin.post('/v2.1/servers', { server: { name, flavorRef: '42', imageRef: imageId, networks: 'none' } }, V96);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  for (let i = 0; i < 4; i++) await tc.cloud.services.computeManager.idle();
  const server = (await admin.get(`/v2.1/servers/${res.body.server.id}`, V96)).body.server;
  expect(server.status).toBe('ACTIVE');
  servers.push(server.id);
  return server['OS-EXT-SRV-ATTR:host'];
}

async function aggregate(name: string, host: string, metadata: Record<string, string>): Promise<number> {
  const agg = (await admin.post('/v2.1/os-aggregates', { aggregate: { name } }, V96)).body.aggregate;
  expect((await admin.post(`/v2.1/os-aggregates/${agg.id}/action`, { add_host: { host } }, V96)).status).toBe(200);
  expect((await admin.post(`/v2.1/os-aggregates/${agg.id}/action`, { set_metadata: { metadata } }, V96)).status).toBe(200);
  return agg.id;
}

async function dropAggregate(id: number, host: string): Promise<void> {
  expect((await admin.post(`/v2.1/os-aggregates/${id}/action`, { remove_host: { host } }, V96)).status).toBe(200);
  expect((await admin.delete(`/v2.1/os-aggregates/${id}`)).status).toBe(200);
}

beforeAll(async () => {
  tc = await startCloud();
  ({ admin } = await serviceClients(tc, 'compute'));
  imageId = (await (await serviceClients(tc, 'image')).admin.get('/v2/images?name=cirros-0.3.3-x86_64-disk')).body.images[0].id;
  const own = (await admin.get('/v2.1/os-services?binary=nova-compute', V96)).body.services[0];
  await admin.put(`/v2.1/os-services/${own.id}`, { status: 'disabled', disabled_reason: 'controller' }, V96);
  for (const host of ['w1', 'w2'])
    hosts.push(await startComputeHost(tc.cloud.services.network.uow, { host, capacity: { vcpus: 4, memoryMb: 4096, diskGb: 40 } }));
}, 60_000);

afterAll(async () => {
  for (const h of hosts) h.stop();
  await tc.stop();
});

describe('weight multipliers from aggregate metadata', () => {
  it('spread by default, packed where an aggregate makes the emptier host weigh its free resources negatively', async () => {
    // Equal hosts: the first registered wins the tie, the second server spreads to the other.
    expect(await boot('a')).toBe('w1');
    expect(await boot('b')).toBe('w2');
    expect(await boot('c')).toBe('w1');
    // w2 is now the emptier host; an aggregate turns its RAM weigher against it (and a second
    // aggregate's larger value does not win: the smallest does).
    const neg = await aggregate('pack', 'w2', { ram_weight_multiplier: '-10.0' });
    const pos = await aggregate('pack-too', 'w2', { ram_weight_multiplier: '5' });
    expect(await boot('d')).toBe('w1');
    // A value that is not a number makes Nova use the option for that host: spreading again.
    await dropAggregate(neg, 'w2');
    const bad = await aggregate('broken', 'w2', { ram_weight_multiplier: 'lots' });
    expect(await boot('e')).toBe('w2');
    await dropAggregate(bad, 'w2');
    await dropAggregate(pos, 'w2');
  });
});

describe("Python's float() of metadata", () => {
  it('reads what Python reads and refuses what it refuses', () => {
    expect(['1', ' -10.0 ', '1_000', '.5', '1.', '2e3', '+Inf', 'infinity', '-inf'].map(pythonFloat)).toEqual([
      1,
      -10,
      1000,
      0.5,
      1,
      2000,
      Infinity,
      Infinity,
      -Infinity,
    ]);
    expect(Number.isNaN(pythonFloat('NaN'))).toBe(true);
    expect(['', '.', 'e5', '0x10', '1__0', '_1', '1_', 'lots', '1,5'].map(pythonFloat)).toEqual(Array(9).fill(null));
  });
});

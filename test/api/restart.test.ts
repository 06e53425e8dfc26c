import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { http, passwordToken } from '../support/http.js';
import { freeServicePorts } from '../../src/util/ports.js';
import { startServerProcess } from '../support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'pocketstack-restart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('keeps state and allocations across kill -9, mid-write, and never hands out an address twice', async () => {
  const ports = await freeServicePorts();
  const env = { POCKETSTACK_ADMIN_PASSWORD: 'pw-admin', POCKETSTACK_DEMO_PASSWORD: 'pw-demo' };
  let server = await startServerProcess(dir, ports, env);
  let token = await passwordToken(server.identityUrl, 'demo', 'pw-demo');
  const net = (await http('POST', `${server.networkUrl}/v2.0/networks`, { token, body: { network: { name: 'survivor' } } })).body.network;
  const sub = (
    await http('POST', `${server.networkUrl}/v2.0/subnets`, { token, body: { subnet: { network_id: net.id, ip_version: 4, cidr: '10.60.0.0/26' } } })
  ).body.subnet;

  // Fire creates and kill the server while they are in flight.
  const confirmed: Array<{ id: string; ip: string }> = [];
  const writes = Array.from({ length: 40 }, async () => {
    try {
      const res = await http('POST', `${server.networkUrl}/v2.0/ports`, { token, body: { port: { network_id: net.id } } });
      if (res.status === 201) confirmed.push({ id: res.body.port.id, ip: res.body.port.fixed_ips[0].ip_address });
    } catch {
      /* connection cut by the kill */
    }
  });
  await new Promise((r) => setTimeout(r, 15));
  await server.kill9();
  await Promise.all(writes);

  server = await startServerProcess(dir, ports, env);
  try {
    token = await passwordToken(server.identityUrl, 'demo', 'pw-demo');
    const ports1 = (await http('GET', `${server.networkUrl}/v2.0/ports?network_id=${net.id}`, { token })).body.ports as Array<{
      id: string;
      fixed_ips: Array<{ ip_address: string }>;
    }>;
    // Everything the client was told exists, exists, with the same address.
    for (const c of confirmed) expect(ports1.find((p) => p.id === c.id)?.fixed_ips[0].ip_address).toBe(c.ip);
    // Fill the rest of the pool: every address distinct, exhaustion exactly at the pool size (61).
    const all = new Set(ports1.map((p) => p.fixed_ips[0].ip_address));
    expect(all.size).toBe(ports1.length);
    for (;;) {
      const res = await http('POST', `${server.networkUrl}/v2.0/ports`, { token, body: { port: { network_id: net.id } } });
      if (res.status === 409) {
        expect(res.body.NeutronError.type).toBe('IpAddressGenerationFailure');
        break;
      }
      expect(res.status).toBe(201);
      const ip = res.body.port.fixed_ips[0].ip_address;
      expect(all.has(ip)).toBe(false);
      all.add(ip);
    }
    expect(all.size).toBe(61);
    const subnet = (await http('GET', `${server.networkUrl}/v2.0/subnets/${sub.id}`, { token })).body.subnet;
    expect(subnet.cidr).toBe('10.60.0.0/26');
  } finally {
    await server.stop();
  }
});

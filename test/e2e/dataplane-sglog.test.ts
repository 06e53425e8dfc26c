import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Vm, bootServer, eventually, makeNetwork, netnsSuite } from '../support/dataplane.js';
import { httpGet, serveHttp } from '../support/netns.js';

/**
 * Security-group logging on the real kernel (root): a log object for a group makes the
 * connections the group admits appear as ACCEPT lines and the ones it blocks as DROP lines, in
 * the OVS log driver's format, in <dataDir>/log/security-groups.log; disabling the log stops them.
 */
const s = netnsSuite();
const skip = s.skip;

const lines = (): string[] => {
  const file = join(s.tc.dir, 'log', 'security-groups.log');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
};

describe.skipIf(skip)(`netns data plane: security-group logging${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let a: Vm;
  let b: Vm;
  let log: { id: string; project_id: string };

  it('writes an ACCEPT line for a connection the group admits and a DROP line for one it blocks, naming the port and the addresses', async () => {
    const net = await makeNetwork(s, 'lognet', '10.90.7.0/24');
    a = await bootServer(s, 'a', { network: net.net });
    b = await bootServer(s, 'b', { network: net.net });
    const web = (await s.demo.post('/v2.0/security-groups', { security_group: { name: 'web' } })).body.security_group;
    const rule = await s.demo.post('/v2.0/security-group-rules', {
      security_group_rule: { security_group_id: web.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 80, port_range_max: 80 },
    });
    expect(rule.status).toBe(201);
    expect((await s.demo.put(`/v2.0/ports/${b.port.id}`, { port: { security_groups: [web.id] } })).status).toBe(200);
    const res = await s.admin.post('/v2.0/log/logs', { log: { name: 'web', resource_type: 'security_group', resource_id: web.id, event: 'ALL' } });
    expect(res.status).toBe(201);
    log = res.body.log;
    await s.dp.idle();

    await serveHttp(b.ns, 80, 'web');
    await serveHttp(b.ns, 8080, 'secret');
    expect(await httpGet(`http://${b.ip}/`, { ns: a.ns })).toBe(`web ${a.ip}`);
    expect(await httpGet(`http://${b.ip}:8080/`, { ns: a.ns, timeoutS: 1 })).toBeNull();

    const head = `project_id=${log.project_id} log_resource_ids=['${log.id}'] vm_port=${b.port.id} pkt=`;
    const to = (port: number) => (l: string) =>
      l.includes(`src='${a.ip}'`) && l.includes(`dst='${b.ip}'`) && l.includes(`dst_port=${port},`) && l.includes('tcp(');
    const found = await eventually(
      async () => lines(),
      (ls) => ls.some((l) => l.startsWith(`action=ACCEPT ${head}`) && to(80)(l)) && ls.some((l) => l.startsWith(`action=DROP ${head}`) && to(8080)(l)),
    );
    const accept = found.find((l) => l.startsWith('action=ACCEPT') && to(80)(l));
    expect(accept).toMatch(
      new RegExp(
        `^action=ACCEPT ${head.replace(/[[\]]/g, '\\$&')}ethernet\\(dst='${b.port.mac_address}',ethertype=2048,src='${a.port.mac_address}'\\), ipv4\\(`,
      ),
    );
    // The SYN only: the accepted connection's later packets are not logged (first packet, as ct_state +new-est).
    expect(found.filter((l) => l.startsWith('action=ACCEPT') && to(80)(l))).toHaveLength(1);
    expect(found.some((l) => l.startsWith(`action=DROP ${head}`) && to(8080)(l))).toBe(true);
    expect(statSync(join(s.tc.dir, 'log', 'security-groups.log')).mode & 0o777).toBe(0o600);
  });

  it('writes nothing more once the log is disabled', async () => {
    expect((await s.admin.put(`/v2.0/log/logs/${log.id}`, { log: { enabled: false } })).status).toBe(200);
    await s.dp.idle();
    const before = lines().length;
    expect(await httpGet(`http://${b.ip}/`, { ns: a.ns })).toBe(`web ${a.ip}`);
    expect(await httpGet(`http://${b.ip}:8080/`, { ns: a.ns, timeoutS: 1 })).toBeNull();
    await new Promise((r) => setTimeout(r, 500));
    expect(lines().length).toBe(before);
  });
});

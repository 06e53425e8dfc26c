/**
 * `pocketstack lab` (src/lab/lab.ts): the simulated hosts' names, underlay addresses and data-plane
 * prefixes, and the agent command each one runs — distinct per host, since they share one machine.
 */
import { describe, expect, it } from 'vitest';
import { PREFIX_RE } from '../../src/dataplane/netns/names.js';
import { agentArgs, labHost, labHostIndex, labHosts } from '../../src/lab/lab.js';

describe('the lab of simulated hosts', () => {
  it('gives each host its own namespace, underlay address and prefix', () => {
    const hosts = labHosts(3);
    expect(hosts.map((h) => [h.name, h.ns, h.tunnelIp, h.prefix])).toEqual([
      ['host1', 'pslab-h1', '198.18.0.11', 'l1'],
      ['host2', 'pslab-h2', '198.18.0.12', 'l2'],
      ['host3', 'pslab-h3', '198.18.0.13', 'l3'],
    ]);
    for (const h of labHosts(9)) expect(h.prefix).toMatch(PREFIX_RE);
    expect(() => labHosts(0)).toThrow(/1 to 9 hosts/);
    expect(() => labHosts(10)).toThrow(/1 to 9 hosts/);
    expect(() => labHosts(1.5)).toThrow(/1 to 9 hosts/);
  });

  it('knows its hosts by their namespaces, and nothing else', () => {
    expect(labHostIndex('pslab-h4')).toBe(4);
    for (const other of ['pslab', 'pslab-h0', 'pslab-h10', 'ps-sw', 'l1-sw', 'xpslab-h1']) expect(labHostIndex(other)).toBeNull();
  });

  it("runs each host's agent on the shared store with its host name, prefix, tunnel endpoint, public interface and data directory", () => {
    expect(agentArgs(labHost(2), 'postgres://u:p@db/cloud', '/var/lib/ps')).toEqual([
      'agent',
      '--host',
      'host2',
      '--database',
      'postgres://u:p@db/cloud',
      '--dataplane',
      'netns',
      '--dataplane-prefix',
      'l2',
      '--tunnel-ip',
      '198.18.0.12',
      '--underlay-netns',
      'pslab-h2',
      '--physical-interface-mappings',
      'public:eth1',
      '--data-dir',
      '/var/lib/ps/lab/host2',
    ]);
  });

  it('gives every agent --arp-responder with `lab hosts N --arp-responder`, and none without', () => {
    expect(agentArgs(labHost(1), 'postgres://db/c', '/d', { arpResponder: true }).at(-1)).toBe('--arp-responder');
    expect(agentArgs(labHost(1), 'postgres://db/c', '/d', { arpResponder: false })).not.toContain('--arp-responder');
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { PortRec, SgLogRec } from '../../src/dataplane/netns/model.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { PcapNflogReader } from '../../src/dataplane/netns/nflog.js';
import { pktRepr, pyBytes } from '../../src/dataplane/netns/pktrepr.js';
import { renderFilter } from '../../src/dataplane/netns/secgroups.js';
import { planSgLogging, sgLogSpec } from '../../src/dataplane/netns/sglog.js';
import { sgLogLine } from '../../src/dataplane/netns/sglogwriter.js';

const names = new Names('ps');
const A = 'aaaaaaaa-0000-0000-0000-00000000000a';
const B = 'bbbbbbbb-0000-0000-0000-00000000000b';
const P1 = '0a000001-0000-0000-0000-000000000001';
const P2 = '0a000002-0000-0000-0000-000000000002';
const P3 = '0a000003-0000-0000-0000-000000000003';

const port = (id: string, groups: string[]): PortRec => ({
  id,
  networkId: 'net',
  mac: 'fa:16:3e:00:00:01',
  adminUp: true,
  status: 'ACTIVE',
  deviceId: 'vm',
  deviceOwner: 'compute:nova',
  bindingHost: 'h',
  portSecurity: true,
  fixedIps: [{ subnetId: 's', ipAddress: `10.0.0.${id.slice(-1)}` }],
  allowedAddressPairs: [],
  securityGroups: groups,
  createdAt: '',
  extraDhcpOpts: [],
});
const log = (id: string, l: Partial<SgLogRec>): SgLogRec => ({ id, projectId: 'p1', resourceId: null, targetId: null, event: 'ALL', ...l });
const ports = [port(P1, [A]), port(P2, [A, B]), port(P3, [B])];
const projects = new Map([
  [A, 'p1'],
  [B, 'p2'],
]);

describe('security-group logging plan (neutron/services/logapi/common/db_api.py)', () => {
  it("resource_id selects the group's ports and logs accepts of that group's rules only", () => {
    const plan = planSgLogging([log('l1', { resourceId: A })], ports, projects);
    expect([...plan.keys()]).toEqual([P1, P2]);
    expect(plan.get(P2)!.accept!.groups).toEqual(new Set([A]));
    expect(plan.get(P2)!.drop).toEqual({ logIds: ['l1'], projectId: 'p1' });
  });

  it("target_id selects one port; no resource and no target selects the ports of the log's project's groups", () => {
    expect([...planSgLogging([log('l1', { targetId: P3, event: 'ACCEPT' })], ports, projects)]).toEqual([
      [P3, { accept: { logIds: ['l1'], projectId: 'p1', groups: new Set([B]) }, drop: null }],
    ]);
    const plan = planSgLogging([log('l2', { projectId: 'p2', event: 'DROP' })], ports, projects);
    expect([...plan.keys()]).toEqual([P2, P3]);
    expect(plan.get(P2)).toEqual({ accept: null, drop: { logIds: ['l2'], projectId: 'p2' } });
  });

  it("several logs on one port share its event (log_resource_ids), with the first log's project", () => {
    const plan = planSgLogging([log('l2', { resourceId: B, projectId: 'p2' }), log('l1', { resourceId: A })], ports, projects);
    expect(plan.get(P2)!.accept).toEqual({ logIds: ['l1', 'l2'], projectId: 'p1', groups: new Set([A, B]) });
    const spec = sgLogSpec('ps-sw', plan);
    expect([...spec.events.keys()].sort()).toEqual([`ACCEPT ${P1}`, `ACCEPT ${P2}`, `ACCEPT ${P3}`, `DROP ${P1}`, `DROP ${P2}`, `DROP ${P3}`].sort());
  });

  it('puts the logged groups first in the port chain, each with its NFLOG of new connections and its return', () => {
    const groups = new Map(
      [A, B].map((id) => [
        id,
        {
          id,
          stateful: true,
          rules: [
            {
              id: 'r',
              direction: 'ingress' as const,
              ethertype: 'IPv4' as const,
              protocol: 'tcp',
              portMin: 22,
              portMax: 22,
              remoteIpPrefix: null,
              remoteGroupId: null,
            },
          ],
        },
      ]),
    );
    const logging = planSgLogging([log('l1', { resourceId: B, event: 'ACCEPT' })], ports, projects);
    const f = renderFilter(
      { filtered: ports, allPorts: ports, groups, zones: new Map([['net', 1]]), bridges: new Map(), protocolNames: new Map(), logging },
      names,
    );
    const chain = f.v4.filter.get(names.portIngressChain(P2))!;
    const start = chain.indexOf('-j MARK --set-xmark 0x0/0x1');
    expect(chain.slice(start)).toEqual([
      '-j MARK --set-xmark 0x0/0x1',
      `-j ${names.groupChain(B, 'ingress')}`,
      `-m mark --mark 0x1/0x1 -m conntrack --ctstate NEW -m hashlimit --hashlimit-upto 100/sec --hashlimit-burst 25 --hashlimit-name ps-sglog -j NFLOG --nflog-prefix "ACCEPT ${P2}" --nflog-group 1`,
      '-m mark --mark 0x1/0x1 -j RETURN',
      `-j ${names.groupChain(A, 'ingress')}`,
      '-m mark --mark 0x1/0x1 -j RETURN',
      '-j DROP',
    ]);
    // A port the log does not select keeps its chain as without logging.
    expect(f.v4.filter.get(names.portIngressChain(P1))!.join('\n')).not.toContain('NFLOG');
  });
});

describe('NFLOG capture → Neutron log lines', () => {
  // Captured on this kernel: `tcpdump -i nflog:1 -U -w -` in a bridge namespace with br_netfilter,
  // iptables NFLOG rules in FORWARD (a TCP SYN accepted, two SYNs dropped, a UDP datagram).
  const capture = readFileSync(new URL('../fixtures/nflog/bridged-forward.pcap', import.meta.url));

  it('reads the pcap stream in any chunking: prefix, Ethernet header and IP packet of each record', () => {
    const whole = new PcapNflogReader().push(capture);
    const r = new PcapNflogReader();
    const pieces = [];
    for (let i = 0; i < capture.length; i += 7) pieces.push(...r.push(capture.subarray(i, i + 7)));
    expect(pieces).toEqual(whole);
    expect(whole.map((p) => p.prefix)).toEqual([
      'ACCEPT 11111111-2222-3333-4444-555555555555',
      'DROP 66666666-2222-3333-4444-555555555555',
      'DROP 66666666-2222-3333-4444-555555555555',
      'ACCEPT 11111111-2222-3333-4444-555555555555',
    ]);
    expect(whole.every((p) => p.family === 2 && p.hwHeader?.length === 14)).toBe(true);
    expect(whole[0].payload.length).toBe(60);
  });

  it('writes the line as the OVS log driver does (ryu packet repr)', () => {
    const [syn, drop, , udp] = new PcapNflogReader().push(capture);
    expect(sgLogLine({ event: 'ACCEPT', portId: P1, logIds: ['l1', 'l2'], projectId: 'proj' }, syn)).toBe(
      `action=ACCEPT project_id=proj log_resource_ids=['l1', 'l2'] vm_port=${P1} pkt=` +
        "ethernet(dst='fa:16:3e:00:00:02',ethertype=2048,src='fa:16:3e:00:00:01'), " +
        "ipv4(csum=9729,dst='10.9.0.2',flags=2,header_length=5,identification=167,offset=0,option=None,proto=6,src='10.9.0.1',tos=0,total_length=60,ttl=64,version=4), " +
        'tcp(ack=0,bits=2,csum=5187,dst_port=8080,offset=10,option=[TCPOptionMaximumSegmentSize(kind=2,length=4,max_seg_size=1460), TCPOptionSACKPermitted(kind=4,length=2), ' +
        'TCPOptionTimestamps(kind=8,length=10,ts_ecr=0,ts_val=2435059953), TCPOptionNoOperation(kind=1,length=1), TCPOptionWindowScale(kind=3,length=3,shift_cnt=10)],' +
        'seq=2922258947,src_port=39248,urgent=0,window_size=64240)',
    );
    expect(pktRepr(drop.hwHeader, drop.payload)).toContain("src='10.9.0.2'");
    expect(pktRepr(drop.hwHeader, drop.payload)).toContain('dst_port=9,');
    expect(pktRepr(udp.hwHeader, udp.payload)).toMatch(/, udp\(csum=\d+,dst_port=53,src_port=\d+,total_length=12\), b'ping'$/);
  });

  it("prints bytes as Python's repr", () => {
    expect(pyBytes(Buffer.from([0x61, 0x27, 0x00, 0x5c, 0x0a, 0xff]))).toBe('b"a\'\\x00\\\\\\n\\xff"');
    expect(pyBytes(Buffer.from('it"s'))).toBe("b'it\"s'");
  });

  it('refuses a capture that is not NFLOG', () => {
    const ether = Buffer.from(capture.subarray(0, 24));
    ether.writeUInt32LE(1, 20);
    expect(() => new PcapNflogReader().push(ether)).toThrow(/link type 1, not NFLOG/);
  });
});

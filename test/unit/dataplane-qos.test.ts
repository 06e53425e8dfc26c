import { describe, expect, it } from 'vitest';
import type { NatSpec, PortQosSpec } from '../../src/dataplane/netns/model.js';
import { parseNatState, planNat, planNatChange, renderNatTable } from '../../src/dataplane/netns/nat.js';
import { parseQosState, planQos, qosFingerprint, qosStateOf, renderQosTable, withoutDevices } from '../../src/dataplane/netns/qos.js';

const shaped: PortQosSpec = {
  portId: 'p1',
  owner: 'port:p1',
  dev: 'tap0a000001-00',
  ingressBw: { rate: 1_000_000, burst: 12_500 },
  egressBw: { rate: 2_000_000, burst: 25_000 },
  dscp: 26,
};

describe('port QoS planner', () => {
  it('shapes traffic to the instance with tbf and polices and marks what it sends in its own netdev table', () => {
    const plan = planQos([shaped], { tbf: new Map(), tables: new Map() });
    expect(plan.tc.map((l) => l.cmd)).toEqual(['qdisc replace dev tap0a000001-00 root tbf rate 1000000bit burst 12500b latency 50ms']);
    expect(plan.nft).toHaveLength(1);
    const t = plan.nft[0].script;
    expect(t).toBe(renderQosTable(shaped));
    expect(t).toContain('table netdev psq-0a000001-00 {');
    expect(t).toContain('type filter hook ingress device "tap0a000001-00" priority 0; policy accept;');
    expect(t).toContain('limit rate over 250000 bytes/second burst 25000 bytes drop');
    expect(t).toContain('meta protocol ip ip dscp set 26');
    expect(t).not.toContain('hook egress');
    expect(t).toContain(`comment "ps:${qosFingerprint(shaped)}"`);
  });

  it('does nothing when the switch holds what is wanted (tc rounding included), and only what changed otherwise', () => {
    const held = qosStateOf([shaped]);
    expect(planQos([shaped], held)).toEqual({ tc: [], nft: [] });
    // tc reads the rate back in bytes per second, a little off.
    const read = { tbf: new Map([['tap0a000001-00', { rate: 125_001, burst: 12_499 }]]), tables: held.tables };
    expect(planQos([shaped], read)).toEqual({ tc: [], nft: [] });
    // A new DSCP mark replaces the table in one transaction; the shaper stays.
    const remarked = { ...shaped, dscp: 10 };
    const plan = planQos([remarked], held);
    expect(plan.tc).toEqual([]);
    expect(plan.nft[0].script.startsWith('table netdev psq-0a000001-00 {}\ndelete table netdev psq-0a000001-00\ntable netdev psq-0a000001-00 {')).toBe(true);
    // No QoS any more: shaper and table go, owned by the port the tap is named for.
    const gone = planQos([], held, new Map([['tap0a000001-00', 'p1']]));
    expect(gone.tc).toEqual([{ cmd: 'qdisc del dev tap0a000001-00 root', owner: 'port:p1', tolerant: true }]);
    expect(gone.nft).toEqual([{ owner: 'stale:psq-0a000001-00', script: 'delete table netdev psq-0a000001-00\n' }]);
  });

  it('re-applies on taps that were recreated, and a packet rate limit to the instance hooks egress', () => {
    const held = qosStateOf([shaped]);
    const plan = planQos([shaped], withoutDevices(held, new Set(['tap0a000001-00'])));
    expect(plan.tc).toHaveLength(1);
    expect(plan.nft).toHaveLength(1);
    const pps: PortQosSpec = { portId: 'p2', owner: 'port:p2', dev: 'tap0a000002-00', ingressPps: { rate: 1000, burst: 800 } };
    const t = renderQosTable(pps);
    expect(t).toContain('type filter hook egress device "tap0a000002-00" priority 0; policy accept;');
    expect(t).toContain('limit rate over 1000/second burst 800 packets drop');
  });

  it('reads tc and nft JSON back', () => {
    const state = parseQosState(
      JSON.stringify([
        { kind: 'tbf', dev: 'tap0a000001-00', root: true, options: { rate: 125000, burst: 12500 } },
        { kind: 'noqueue', dev: 'tap0a000002-00', root: true },
      ]),
      JSON.stringify({
        nftables: [
          { table: { family: 'netdev', name: 'psq-0a000001-00' } },
          { table: { family: 'netdev', name: 'other' } },
          { rule: { family: 'netdev', table: 'psq-0a000001-00', chain: 'fp', comment: `ps:${qosFingerprint(shaped)}` } },
        ],
      }),
    );
    expect(state).toEqual(qosStateOf([shaped]));
  });
});

describe('port forwarding NAT', () => {
  const spec: NatSpec = {
    gatewayIf: 'qg-aaaa',
    gatewayIp: '172.24.4.13',
    enableSnat: true,
    fips: [],
    forwards: [{ floating: '172.24.4.103', protocol: 'tcp', port: 2280, fixed: '10.0.2.11', fixedPort: 80, owner: 'floatingip:f3' }],
  };

  it('maps floating IP, protocol and port to address and port, in prerouting and output', () => {
    const t = renderNatTable(spec);
    expect(t).toContain(
      'map pf_dnat { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; elements = { 172.24.4.103 . tcp . 2280 : 10.0.2.11 . 80 }; }',
    );
    expect(t.match(/dnat ip to ip daddr \. meta l4proto \. th dport map @pf_dnat/g)).toHaveLength(2);
  });

  it('adds and removes forwardings as elements, forgetting the connections of one that moved', () => {
    const fp = /comment "ps:([0-9a-f]+)"/.exec(renderNatTable(spec))?.[1];
    const loaded = parseNatState(
      JSON.stringify({
        nftables: [
          { map: { name: 'pf_dnat', elem: [[{ concat: ['172.24.4.103', 'tcp', 2280] }, { concat: ['10.0.2.11', 80] }]] } },
          { rule: { chain: 'prerouting', comment: `ps:${fp}` } },
        ],
      }),
    );
    expect(planNat(spec, loaded)).toBeNull();
    const moved: NatSpec = { ...spec, forwards: [{ ...(spec.forwards?.[0] as NonNullable<NatSpec['forwards']>[0]), port: 2281 }] };
    expect(planNat(moved, loaded)).toBe(
      [
        'delete element ip pocketstack pf_dnat { 172.24.4.103 . tcp . 2280 }',
        'add element ip pocketstack pf_dnat { 172.24.4.103 . tcp . 2281 : 10.0.2.11 . 80 }',
        '',
      ].join('\n'),
    );
    expect(planNatChange(moved, loaded).forgotten).toEqual(['172.24.4.103']);
    expect(planNatChange(spec, loaded).forgotten).toEqual([]);
  });
});

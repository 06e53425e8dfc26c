/**
 * ML2's choice of a port's segment on its host (core/network/binding.ts), as the Linux bridge
 * mechanism driver makes it: the first of the network's segments the host's agent reaches.
 */
import { describe, expect, it } from 'vitest';
import { type BindableSegment, HOST_LEG_PHYSNET, chooseSegment, segmentReachable } from '../../src/core/network/binding.js';
import { agentAlive } from '../../src/core/network/liveness.js';

const vlanA: BindableSegment = { id: 'seg-a', networkType: 'vlan', physicalNetwork: 'physnetA' };
const vlanB: BindableSegment = { id: 'seg-b', networkType: 'vlan', physicalNetwork: 'physnetB' };
const vxlan: BindableSegment = { id: 'seg-x', networkType: 'vxlan', physicalNetwork: null };
const flatOther: BindableSegment = { id: 'seg-f', networkType: 'flat', physicalNetwork: 'physnet1' };
const flatPublic: BindableSegment = { id: 'seg-p', networkType: 'flat', physicalNetwork: HOST_LEG_PHYSNET };

const agent = (physnets: string[], tunnelTypes: string[] = ['vxlan']) => ({ tunnelTypes, physnets: new Set(physnets) });

describe('port binding: the segment each host reaches (mech_agent check_segment_for_agent)', () => {
  it("binds each host to the first of the network's segments its mappings reach", () => {
    expect(chooseSegment([vlanA, vlanB], agent(['physnetA']))?.id).toBe('seg-a');
    expect(chooseSegment([vlanA, vlanB], agent(['physnetB']))?.id).toBe('seg-b');
    // Both mapped: the network's order decides.
    expect(chooseSegment([vlanB, vlanA], agent(['physnetA', 'physnetB']))?.id).toBe('seg-b');
  });

  it('a host mapping none of the physical networks has no segment (binding_failed)', () => {
    expect(chooseSegment([vlanA, vlanB], agent([]))).toBeUndefined();
    expect(chooseSegment([flatOther], agent(['physnetA']))).toBeUndefined();
  });

  it('a vxlan segment needs vxlan among the tunnel types the agent reports', () => {
    expect(chooseSegment([vlanA, vxlan], agent([]))?.id).toBe('seg-x');
    expect(chooseSegment([vxlan], agent([], []))).toBeUndefined();
    expect(segmentReachable({ id: null, networkType: 'gre', physicalNetwork: null }, agent([]))).toBe(false);
  });

  it('the public flat network is reached without a mapping (the routed host leg), a VLAN on it is not', () => {
    expect(segmentReachable(flatPublic, agent([]))).toBe(true);
    expect(segmentReachable({ id: 's', networkType: 'vlan', physicalNetwork: HOST_LEG_PHYSNET }, agent([]))).toBe(false);
    expect(segmentReachable({ id: 's', networkType: 'vlan', physicalNetwork: HOST_LEG_PHYSNET }, agent([HOST_LEG_PHYSNET]))).toBe(true);
  });

  it("only segments of the port's subnets are candidates when they name one (routed networks)", () => {
    const both = agent(['physnetA', 'physnetB']);
    expect(chooseSegment([vlanA, vlanB], both, ['seg-b'])?.id).toBe('seg-b');
    expect(chooseSegment([vlanA, vlanB], agent(['physnetA']), ['seg-b'])).toBeUndefined();
    // A subnet on no segment leaves every segment a candidate.
    expect(chooseSegment([vlanA, vlanB], both, [null])?.id).toBe('seg-a');
  });
});

describe('an agent is alive for binding until agent_down_time has passed (is_agent_down)', () => {
  it('is alive at exactly agent_down_time since its heartbeat, dead a moment later', () => {
    const beat = '2026-12-04T10:00:00.000Z';
    const t = Date.parse(beat);
    expect(agentAlive(beat, t + 75_000, 75)).toBe(true);
    expect(agentAlive(beat, t + 75_001, 75)).toBe(false);
    expect(agentAlive(beat, t + 8_000, 8)).toBe(true);
    expect(agentAlive(beat, t + 9_000, 8)).toBe(false);
  });
});

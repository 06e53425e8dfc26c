import { describe, expect, it } from 'vitest';
import { type HaBinding, L3_HA_DEFAULTS, checkL3HaOptions, electActive, statesForDeadAgents } from '../../src/core/network/l3ha.js';

const b = (agentId: string, address: string, state: HaBinding['state'], eligible = true): HaBinding => ({
  portId: `port-${agentId}`,
  agentId,
  host: `host-${agentId}`,
  state,
  eligible,
  address,
});

describe("the agents' VRRP election (keepalived with Neutron's configuration)", () => {
  it('without a master, the highest address wins (169.254.192.10 beats .9: numbers, not text)', () => {
    expect(electActive([b('a', '169.254.192.9', 'standby'), b('b', '169.254.192.10', 'standby'), b('c', '169.254.192.2', 'standby')])).toBe('b');
  });

  it('keeps a live master (nopreempt), and of two masters the higher address', () => {
    expect(electActive([b('a', '169.254.200.1', 'standby'), b('b', '169.254.192.5', 'active')])).toBe('b');
    expect(electActive([b('a', '169.254.200.1', 'active'), b('b', '169.254.192.5', 'active')])).toBe('a');
  });

  it('never elects an agent that is dead or disabled; none eligible, none elected', () => {
    expect(electActive([b('a', '169.254.200.1', 'active', false), b('b', '169.254.192.5', 'standby')])).toBe('b');
    expect(electActive([b('a', '169.254.200.1', 'standby', false)])).toBeUndefined();
  });
});

describe('the dead-agent rule (_get_bindings_and_update_router_state_for_dead_agents)', () => {
  it('shows a dead active agent standby while another lives, unknown when all are dead', () => {
    expect([...statesForDeadAgents([b('a', '1.1.1.1', 'active', false), b('b', '1.1.1.2', 'standby')])]).toEqual([['port-a', 'standby']]);
    expect([...statesForDeadAgents([b('a', '1.1.1.1', 'active', false), b('b', '1.1.1.2', 'standby', false)])]).toEqual([['port-a', 'unknown']]);
  });

  it('changes nothing when no active agent is dead', () => {
    expect(statesForDeadAgents([b('a', '1.1.1.1', 'standby', false), b('b', '1.1.1.2', 'active')]).size).toBe(0);
  });
});

describe('the l3_ha options (_verify_configuration)', () => {
  it("accepts Neutron's defaults and refuses a CIDR that is not a network, or a negative agent count", () => {
    expect(() => checkL3HaOptions(L3_HA_DEFAULTS)).not.toThrow();
    expect(() => checkL3HaOptions({ ...L3_HA_DEFAULTS, maxAgentsPerRouter: 0 })).not.toThrow();
    expect(() => checkL3HaOptions({ ...L3_HA_DEFAULTS, netCidr: '169.254.192.1/18' })).toThrow(
      "The HA Network CIDR specified in the configuration file isn't valid; 169.254.192.1/18.",
    );
    expect(() => checkL3HaOptions({ ...L3_HA_DEFAULTS, netCidr: '169.254.192.0' })).toThrow(/isn't valid/);
    expect(() => checkL3HaOptions({ ...L3_HA_DEFAULTS, maxAgentsPerRouter: -1 })).toThrow(
      'max_l3_agents_per_router -1 config parameter is not valid as it cannot be negative. It must be 1 or greater. Alternatively, it can be 0 to mean unlimited.',
    );
  });
});

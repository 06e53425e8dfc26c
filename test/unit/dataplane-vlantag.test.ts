import { describe, expect, it } from 'vitest';
import type { LinkState } from '../../src/dataplane/netns/state.js';
import { taggerName } from '../../src/dataplane/netns/names.js';
import { type TaggedVlan, parseClsact, parseIngressFilters, planVlanTags } from '../../src/dataplane/netns/vlantag.js';
import { bpfObjectName } from '../support/fakekernel.js';

const link = (name: string, ifindex: number): LinkState => ({
  ifindex,
  name,
  kind: 'veth',
  mtu: 1500,
  mac: '',
  up: true,
  master: null,
  linkIndex: null,
  linkNetnsid: null,
  addrs: [],
});
const links = (...l: LinkState[]) => new Map(l.map((x) => [x.name, x]));
const V101: TaggedVlan = { name: 'eth0.101', peer: 'vt-eth0.101', parent: 'eth0', vid: 101, owner: 'port:sub' };
const LINKS = links(link('eth0', 2), link('eth0.101', 7), link('vt-eth0.101', 8));
const cmds = (lines: ReturnType<typeof planVlanTags>) => lines.map((l) => l.cmd);

describe('VLANs with tc-BPF (vlantag.ts)', () => {
  it("names the hidden peer within IFNAMSIZ, a tap's by its port", () => {
    expect(taggerName('eth0.101')).toBe('vt-eth0.101');
    expect(taggerName('tap0a000031-00')).toBe('vt-0a000031-00');
    expect(taggerName('eth12.4094').length).toBeLessThanOrEqual(15);
  });

  it('loads a push program on the peer and a pop program on the parent, naming the other end', () => {
    const lines = planVlanTags([V101], LINKS, { clsact: new Set(), filters: [] });
    expect(cmds(lines)).toEqual([
      'qdisc add dev vt-eth0.101 clsact',
      'filter replace dev vt-eth0.101 ingress pref 1 handle 1 bpf direct-action obj @OBJECT sec tc',
      'qdisc add dev eth0 clsact',
      'filter replace dev eth0 ingress pref 101 handle 1 bpf direct-action obj @OBJECT sec tc',
    ]);
    expect(lines.filter((l) => l.object).map((l) => bpfObjectName(l.object!))).toEqual(['pst065.00000002', 'psp065.00000008']);
    expect(new Set(lines.map((l) => l.owner))).toEqual(new Set(['port:sub']));
  });

  it('leaves what is loaded alone, and replaces a program naming an index that changed', () => {
    const loaded = {
      clsact: new Set(['eth0', 'vt-eth0.101']),
      filters: [
        { dev: 'vt-eth0.101', pref: 1, name: 'pst065.00000002' },
        { dev: 'eth0', pref: 101, name: 'psp065.00000008' },
      ],
    };
    expect(planVlanTags([V101], LINKS, loaded)).toEqual([]);
    const moved = links(link('eth0', 3), link('eth0.101', 7), link('vt-eth0.101', 8));
    const lines = planVlanTags([V101], moved, loaded);
    expect(cmds(lines)).toEqual(['filter replace dev vt-eth0.101 ingress pref 1 handle 1 bpf direct-action obj @OBJECT sec tc']);
    expect(bpfObjectName(lines[0].object!)).toBe('pst065.00000003');
  });

  it('removes our programs no VLAN wants, keeping filters of others; a clsact left empty goes', () => {
    const state = {
      clsact: new Set(['eth0', 'eth1']),
      filters: [
        { dev: 'eth0', pref: 101, name: 'psp065.00000008' },
        { dev: 'eth0', pref: 102, name: 'psp066.00000009' },
        { dev: 'eth1', pref: 5, name: 'psp005.0000000a' },
        { dev: 'eth1', pref: 6, name: 'guest_prog' },
      ],
    };
    const all = links(link('eth0', 2), link('eth1', 3), link('eth0.101', 7), link('vt-eth0.101', 8));
    expect(
      cmds(
        planVlanTags([V101], all, {
          ...state,
          clsact: new Set([...state.clsact, 'vt-eth0.101']),
          filters: [...state.filters, { dev: 'vt-eth0.101', pref: 1, name: 'pst065.00000002' }],
        }),
      ),
    ).toEqual(['filter del dev eth0 ingress pref 102', 'filter del dev eth1 ingress pref 5']);
    expect(cmds(planVlanTags([], all, state))).toEqual(['qdisc del dev eth0 clsact', 'filter del dev eth1 ingress pref 5']);
  });

  it('plans nothing for a VLAN whose pair or parent is missing (the link batch said why)', () => {
    expect(planVlanTags([V101], links(link('eth0', 2)), { clsact: new Set(), filters: [] })).toEqual([]);
  });

  it("reads tc's JSON: clsact qdiscs, and ingress bpf filters with their programs' names", () => {
    expect(parseClsact('[{"kind":"clsact","handle":"ffff:","dev":"va","parent":"ffff:fff1","options":{}},{"kind":"noqueue","dev":"lo"}]')).toEqual(
      new Set(['va']),
    );
    const json =
      '[{"protocol":"all","pref":7,"kind":"bpf","chain":0},{"protocol":"all","pref":7,"kind":"bpf","chain":0,"options":{"handle":"0x1","bpf_name":"x.o:[tc]","direct-action":true,"not_in_hw":true,"prog":{"id":124,"name":"pst065.00000005","tag":"4b1c4e6aca4f373d","jited":1}}}]';
    expect(parseIngressFilters('va', json)).toEqual([{ dev: 'va', pref: 7, name: 'pst065.00000005' }]);
    expect(parseIngressFilters('va', '')).toEqual([]);
  });
});

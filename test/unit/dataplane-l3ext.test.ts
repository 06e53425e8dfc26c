import { describe, expect, it } from 'vitest';
import { l3Fingerprint, l3StateOf, parseL3State, planL3, renderL3Table } from '../../src/dataplane/netns/l3ext.js';
import type { L3ExtrasSpec } from '../../src/dataplane/netns/model.js';

const OWNER = 'router:r1';
const spec = (over: Partial<L3ExtrasSpec> = {}): L3ExtrasSpec => ({
  helpers: [
    { protocol: 'tcp', port: 21, helper: 'ftp' },
    { protocol: 'udp', port: 69, helper: 'tftp' },
  ],
  ndp: { gatewayIf: 'qg-1', subnets: ['2001:db8:1::/64'], proxies: [{ ip: '2001:db8:1::5', owner: OWNER }] },
  ...over,
});

describe("a router's conntrack helpers and NDP proxies (l3ext)", () => {
  it("renders the L3 agent's CT --helper per helper for both families and the NDP chain's drop with its exceptions", () => {
    const table = renderL3Table(spec())!;
    expect(table).toContain('table inet pocketstack-l3 {');
    expect(table).toContain('ct helper ftp-tcp { type "ftp" protocol tcp; l3proto inet; }');
    expect(table).toContain(`meta l4proto tcp th dport 21 ct helper set "ftp-tcp" comment "ps:${l3Fingerprint(spec())}"`);
    expect(table).toContain('meta l4proto udp th dport 69 ct helper set "tftp-udp"');
    expect(table).toContain('iifname "qg-1" ip6 daddr { 2001:db8:1::/64 } ip6 daddr != { 2001:db8:1::5 } drop');
    // Nothing to hold: no table.
    expect(renderL3Table({ helpers: [], ndp: null })).toBeNull();
    expect(renderL3Table({ helpers: [], ndp: { gatewayIf: 'qg-1', subnets: [], proxies: [] } })).toBeNull();
  });

  it('keeps what nft is given to names it accepts', () => {
    const table = renderL3Table(spec({ helpers: [{ protocol: 'tcp', port: 21, helper: 'ftp"; flush ruleset; "' }], ndp: null }));
    expect(table ?? '').not.toContain('flush');
  });

  it('loads the table whole when it differs, adds and removes proxy entries, and does nothing once applied', () => {
    const first = planL3(spec(), null, OWNER);
    expect(first.script).toContain('table inet pocketstack-l3 {');
    expect(first.script).not.toContain('delete table');
    expect(first.neigh).toEqual([{ cmd: 'neigh add proxy 2001:db8:1::5 dev qg-1', owner: OWNER }]);
    const applied = l3StateOf(spec());
    expect(planL3(spec(), applied, OWNER)).toEqual({ script: null, neigh: [] });

    const changed = spec({ helpers: [{ protocol: 'tcp', port: 2121, helper: 'ftp' }], ndp: { gatewayIf: 'qg-1', subnets: ['2001:db8:1::/64'], proxies: [] } });
    const next = planL3(changed, applied, OWNER);
    expect(next.script?.startsWith('table inet pocketstack-l3 {}\ndelete table inet pocketstack-l3\n')).toBe(true);
    expect(next.script).toContain('th dport 2121');
    expect(next.neigh).toEqual([{ cmd: 'neigh del proxy 2001:db8:1::5 dev qg-1', owner: OWNER, tolerant: true }]);
    expect(planL3(undefined, applied, OWNER).script).toBe('delete table inet pocketstack-l3\n');
  });

  it('reads what nft and ip print back', () => {
    const nft = JSON.stringify({ nftables: [{ metainfo: {} }, { table: {} }, { rule: { chain: 'prerouting', comment: 'ps:0123abcd' } }] });
    const neigh = '[{"dst":"2001:db8:1:0::5","dev":"qg-1","proxy":null}]';
    expect(parseL3State(nft, neigh)).toEqual({ fingerprint: '0123abcd', proxies: ['2001:db8:1::5 qg-1'] });
    expect(parseL3State('', '[]')).toEqual({ fingerprint: null, proxies: [] });
    // A table of ours without our mark is replaced.
    expect(parseL3State(JSON.stringify({ nftables: [{ table: {} }] }), '[]').fingerprint).toBe('');
  });
});

import { createHash } from 'node:crypto';
import type { NatSpec } from './model.js';
import { NAT_TABLE } from './names.js';

/**
 * A router's NAT, Neutron's L3-agent semantics in one nftables table. The rules depend only on
 * the router (gateway leg, its address, enable_snat); floating IPs are elements of two maps, so
 * associating one is data, not a rule change, and costs one small transaction.
 *
 *   prerouting/output: floating → fixed (DNAT) by map lookup
 *   postrouting:       east-west (neither leg external, not DNATed) is routed without NAT;
 *                      a floating IP's owner leaves as its floating IP (1:1 SNAT, also hairpin);
 *                      what comes from a subnet in the gateway subnet's address scope leaves
 *                      with its own address; with enable_snat everything else leaving by the
 *                      gateway leg leaves as the gateway address; DNATed traffic that came from inside (hairpin to another
 *                      instance's floating IP) is SNATed to the gateway so replies return here.
 *   forward/input:     the router is no transit between addresses of the external network, and
 *                      from outside only its gateway address is its own. A packet for a floating
 *                      IP that arrives before the floating IP's DNAT exists is dropped here, so
 *                      it leaves no conntrack entry that would keep its flow un-NATed afterwards.
 *
 * Port forwardings are a third map (floating IP, protocol, port → fixed IP, port), looked up in
 * prerouting and output like floating IPs: data as well, so adding one is an element, not a rule.
 * Neutron's L3 agent writes one DNAT rule per forwarding (port_forwarding.py's
 * `-d <fip>/32 -p <proto> -m <proto> --dport <ext> -j DNAT --to-destination <ip>:<port>`); a range
 * is unrolled here into one element per port, which nft matches the same way.
 */

/** Fingerprint of the rule part; stored as a rule comment so a pass can tell what is loaded. */
export function natFingerprint(spec: NatSpec): string {
  const key = JSON.stringify([4, spec.gatewayIf, spec.gatewayIp, spec.enableSnat, ...(spec.sameScope?.length ? [spec.sameScope] : [])]);
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

const elements = (pairs: Array<[string, string]>): string => (pairs.length ? ` elements = { ${pairs.map(([k, v]) => `${k} : ${v}`).join(', ')} };` : '');

/** The whole table, for a first load or when the rule part changed. */
export function renderNatTable(spec: NatSpec): string {
  const qg = JSON.stringify(spec.gatewayIf);
  const dnat = spec.fips.map((f): [string, string] => [f.floating, f.fixed]);
  const snat = spec.fips.map((f): [string, string] => [f.fixed, f.floating]);
  const pf = [...forwardsOf(spec)];
  const post: string[] = [
    // `ct status != dnat` would compare the whole status word; the bit is what matters.
    `iifname != ${qg} oifname != ${qg} ct status & dnat == 0 accept`,
    'snat to ip saddr map @fip_snat',
  ];
  if (spec.gatewayIp) {
    // Address scopes: what comes from a subnet in the external subnet's scope leaves with its own
    // address, as the L3 agent's `-o qg-… -m connmark --mark <scope mark> -j ACCEPT` keeps it
    // out of SNAT (after floating IPs, which still apply, before the default SNAT).
    if (spec.enableSnat && spec.sameScope?.length) post.push(`oifname ${qg} ip saddr { ${spec.sameScope.join(', ')} } accept`);
    if (spec.enableSnat) post.push(`oifname ${qg} snat to ${spec.gatewayIp}`);
    post.push(`iifname != ${qg} ct status dnat snat to ${spec.gatewayIp}`);
  }
  return [
    `table ip ${NAT_TABLE} {`,
    `  map fip_dnat { type ipv4_addr : ipv4_addr;${elements(dnat)} }`,
    `  map fip_snat { type ipv4_addr : ipv4_addr;${elements(snat)} }`,
    `  map pf_dnat { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;${elements(pf)} }`,
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    dnat to ip daddr map @fip_dnat comment "ps:${natFingerprint(spec)}"`,
    '    dnat ip to ip daddr . meta l4proto . th dport map @pf_dnat',
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    '    dnat to ip daddr map @fip_dnat',
    '    dnat ip to ip daddr . meta l4proto . th dport map @pf_dnat',
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    ...post.map((l) => `    ${l}`),
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    iifname ${qg} oifname ${qg} drop`,
    '  }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    ...(spec.gatewayIp ? [`    iifname ${qg} ip daddr != ${spec.gatewayIp} drop`] : []),
    '  }',
    '}',
    '',
  ].join('\n');
}

export interface NatState {
  fingerprint: string | null;
  dnat: Map<string, string>;
  snat: Map<string, string>;
  /** Port forwardings: `floating . protocol . port` → `fixed . port`. */
  pf: Map<string, string>;
}

/** A router's forwardings as map elements. */
function forwardsOf(spec: NatSpec | undefined): Map<string, string> {
  return new Map((spec?.forwards ?? []).map((f) => [`${f.floating} . ${f.protocol} . ${f.port}`, `${f.fixed} . ${f.fixedPort}`]));
}

/** What `nft -j list table` prints, as far as we read it: one object per map, chain or rule. */
interface NftJson {
  nftables: Array<{ map?: { name?: string; elem?: unknown[] }; rule?: { chain?: string; comment?: unknown } }>;
}

/** One side of a map element as nft -j prints it: a value, or `{"concat": [...]}`. */
function elementText(v: unknown): string {
  if (typeof v === 'object' && v !== null && Array.isArray((v as { concat?: unknown }).concat))
    return (v as { concat: unknown[] }).concat.map(String).join(' . ');
  return String(v);
}

/** Read `nft -j list table ip pocketstack` output. */
export function parseNatState(json: string): NatState {
  const state: NatState = { fingerprint: null, dnat: new Map(), snat: new Map(), pf: new Map() };
  const doc = JSON.parse(json) as NftJson;
  for (const item of doc.nftables) {
    if (item.map && (item.map.name === 'fip_dnat' || item.map.name === 'fip_snat' || item.map.name === 'pf_dnat')) {
      const target = item.map.name === 'fip_dnat' ? state.dnat : item.map.name === 'fip_snat' ? state.snat : state.pf;
      for (const e of item.map.elem ?? []) {
        if (Array.isArray(e) && e.length === 2) target.set(elementText(e[0]), elementText(e[1]));
      }
    }
    if (item.rule?.chain === 'prerouting' && typeof item.rule.comment === 'string') {
      const m = /^ps:([0-9a-f]+)$/.exec(item.rule.comment);
      if (m) state.fingerprint = m[1];
    }
  }
  return state;
}

/**
 * The `nft -f` input that makes the kernel match `spec`, or null when it already does. The rule
 * part is replaced whole (atomically) when its fingerprint differs; otherwise only map elements
 * are added and removed, all in one transaction (each element deletion waits for an RCU grace
 * period, so batching them matters).
 */
export function planNat(spec: NatSpec | undefined, actual: NatState | null): string | null {
  return planNatChange(spec, actual).script;
}

/**
 * The script, and the floating IPs whose mapping it removes or changes: their connections must
 * be forgotten too (conntrack), or established flows would outlive the association, as Neutron's
 * L3 agent also prevents.
 */
export function planNatChange(spec: NatSpec | undefined, actual: NatState | null): { script: string | null; forgotten: string[] } {
  const forgotten = actual ? [...actual.dnat].filter(([k, v]) => !spec?.fips.some((f) => f.floating === k && f.fixed === v)).map(([k]) => k) : [];
  // A forwarding that went or moved: its floating IP's connections are forgotten too.
  const wantPf = forwardsOf(spec);
  for (const [k, v] of actual?.pf ?? []) {
    const floating = k.split(' . ')[0];
    if (wantPf.get(k) !== v && !forgotten.includes(floating)) forgotten.push(floating);
  }
  return { script: planNatScript(spec, actual), forgotten };
}

function planNatScript(spec: NatSpec | undefined, actual: NatState | null): string | null {
  if (!spec) return actual ? `delete table ip ${NAT_TABLE}\n` : null;
  if (!actual || actual.fingerprint !== natFingerprint(spec)) {
    const reset = actual ? `table ip ${NAT_TABLE} {}\ndelete table ip ${NAT_TABLE}\n` : '';
    return reset + renderNatTable(spec);
  }
  const lines: string[] = [];
  for (const [mapName, want, have] of [
    ['fip_dnat', new Map(spec.fips.map((f) => [f.floating, f.fixed])), actual.dnat],
    ['fip_snat', new Map(spec.fips.map((f) => [f.fixed, f.floating])), actual.snat],
    ['pf_dnat', forwardsOf(spec), actual.pf],
  ] as const) {
    const del = [...have].filter(([k, v]) => want.get(k) !== v).map(([k]) => k);
    const add = [...want].filter(([k, v]) => have.get(k) !== v);
    if (del.length) lines.push(`delete element ip ${NAT_TABLE} ${mapName} { ${del.join(', ')} }`);
    if (add.length) lines.push(`add element ip ${NAT_TABLE} ${mapName} { ${add.map(([k, v]) => `${k} : ${v}`).join(', ')} }`);
  }
  return lines.length ? `${lines.join('\n')}\n` : null;
}

/** The state the kernel holds once `spec` is loaded (null: no table). */
export function natStateOf(spec: NatSpec | undefined): NatState | null {
  if (!spec) return null;
  return {
    fingerprint: natFingerprint(spec),
    dnat: new Map(spec.fips.map((f) => [f.floating, f.fixed])),
    snat: new Map(spec.fips.map((f) => [f.fixed, f.floating])),
    pf: forwardsOf(spec),
  };
}

import { createHash } from 'node:crypto';
import { ipToString, parseIp } from '../../util/ip.js';
import type { L3ExtrasSpec } from './model.js';
import type { Owner } from './owners.js';
import type { Line } from './plan.js';
import { scopeChains } from './scopes.js';

/**
 * What the L3 agent's extensions add to a router, in one nftables table of the router's
 * namespace (`inet pocketstack-l3`, replaced whole and atomically when it changes) plus the
 * kernel's NDP proxy entries:
 *
 *   conntrack helpers (`l3-conntrack-helper`): Neutron's ConntrackHelperAgentExtension puts
 *       `-p <protocol> --dport <port> -j CT --helper <helper>` in the raw PREROUTING of both
 *       families; here a `ct helper` object per helper and protocol and a prerouting rule per
 *       helper, for IPv4 and IPv6 alike.
 *   NDP proxies (`l3-ndp-proxy`, a router with `enable_ndp_proxy`): NDPProxyAgentExtension adds
 *       `ip -6 neigh add proxy <address> dev <qg->` per proxy, and in ip6tables drops what comes in
 *       by the gateway for an internal IPv6 subnet of the gateway's address scope unless it is for
 *       a proxied address (chain NDP: `-i qg- --destination <address> -j ACCEPT`, then
 *       `-i qg- -j DROP`); here the same drop in the table's forward chain.
 *   address scopes: the L3 agent's mangle marks per scope and its filter `scope` chain, as a
 *       wall between the router's legs of different scopes (scopes.ts): chains `scope_mark`,
 *       `scope_float`, `scope_save` and `scope` of the same table.
 */

export const L3_TABLE = 'pocketstack-l3';

/** What the kernel holds of it: the loaded table's fingerprint and the proxy entries (`ip dev`). */
export interface L3State {
  fingerprint: string | null;
  proxies: string[];
}

/** Names nft accepts for a helper object (the API validated the helper; nothing else reaches nft). */
const SAFE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/;

export function l3Fingerprint(spec: L3ExtrasSpec): string {
  const rules = [
    spec.helpers.map((h) => [h.protocol, h.port, h.helper]),
    spec.ndp ? [spec.ndp.gatewayIf, spec.ndp.subnets, spec.ndp.proxies.map((p) => p.ip)] : null,
    ...(spec.scopes ? [spec.scopes] : []),
  ];
  return createHash('sha256').update(JSON.stringify(rules)).digest('hex').slice(0, 16);
}

/** Whether the table has anything to hold (an empty one is deleted). */
const hasTable = (spec: L3ExtrasSpec | undefined): spec is L3ExtrasSpec => !!spec && (spec.helpers.length > 0 || !!spec.ndp?.subnets.length || !!spec.scopes);

/** The whole table (null: the router needs none). */
export function renderL3Table(spec: L3ExtrasSpec | undefined): string | null {
  if (!hasTable(spec)) return null;
  const objects = new Map<string, string>();
  const pre: string[] = [];
  for (const h of spec.helpers) {
    if (!SAFE.test(h.helper) || (h.protocol !== 'tcp' && h.protocol !== 'udp')) continue;
    const name = `${h.helper}-${h.protocol}`;
    // nft takes the object's name bare (SAFE keeps it to letters, digits, `_.-`), its type quoted.
    objects.set(name, `  ct helper ${name} { type ${JSON.stringify(h.helper)} protocol ${h.protocol}; l3proto inet; }`);
    pre.push(`meta l4proto ${h.protocol} th dport ${h.port} ct helper set ${JSON.stringify(name)}`);
  }
  const forward: string[] = [];
  const ndp = spec.ndp;
  if (ndp?.subnets.length) {
    const qg = JSON.stringify(ndp.gatewayIf);
    const proxied = ndp.proxies.map((p) => p.ip);
    const except = proxied.length ? ` ip6 daddr != { ${proxied.join(', ')} }` : '';
    forward.push(`iifname ${qg} ip6 daddr { ${ndp.subnets.join(', ')} }${except} drop`);
  }
  const chains = [
    { name: 'prerouting', hook: 'prerouting priority filter', rules: pre },
    { name: 'forward', hook: 'forward priority filter', rules: forward },
    ...(spec.scopes ? scopeChains(spec.scopes) : []),
  ];
  // The fingerprint rides on a rule comment, as the NAT table's does: a pass can tell what is loaded.
  const first = chains.find((c) => c.rules.length)?.rules;
  if (first) first[0] += ` comment "ps:${l3Fingerprint(spec)}"`;
  return [
    `table inet ${L3_TABLE} {`,
    ...objects.values(),
    ...chains.flatMap((c) => [`  chain ${c.name} {`, `    type filter hook ${c.hook}; policy accept;`, ...c.rules.map((l) => `    ${l}`), '  }']),
    '}',
    '',
  ].join('\n');
}

/**
 * The nft script and the `ip -batch` lines (NDP proxy entries on the gateway leg) that make the
 * kernel match `spec`; `script` null when the table is already right.
 */
export function planL3(spec: L3ExtrasSpec | undefined, actual: L3State | null, owner: Owner): { script: string | null; neigh: Line[] } {
  let script: string | null = null;
  const table = renderL3Table(spec);
  const loaded = actual?.fingerprint ?? null;
  if (!table) script = loaded !== null ? `delete table inet ${L3_TABLE}\n` : null;
  else if (loaded !== l3Fingerprint(spec!)) script = (loaded !== null ? `table inet ${L3_TABLE} {}\ndelete table inet ${L3_TABLE}\n` : '') + table;
  const want = new Map((spec?.ndp?.proxies ?? []).map((p) => [`${p.ip} ${spec!.ndp!.gatewayIf}`, p.owner]));
  const have = new Set(actual?.proxies ?? []);
  const neigh: Line[] = [];
  for (const key of have) {
    if (want.has(key)) continue;
    const [ip, dev] = key.split(' ');
    neigh.push({ cmd: `neigh del proxy ${ip} dev ${dev}`, owner, tolerant: true });
  }
  for (const [key, o] of want) {
    if (have.has(key)) continue;
    const [ip, dev] = key.split(' ');
    neigh.push({ cmd: `neigh add proxy ${ip} dev ${dev}`, owner: o });
  }
  return { script, neigh };
}

/** The state once `spec` is applied. */
export function l3StateOf(spec: L3ExtrasSpec | undefined): L3State {
  return {
    fingerprint: hasTable(spec) ? l3Fingerprint(spec) : null,
    proxies: (spec?.ndp?.proxies ?? []).map((p) => `${p.ip} ${spec!.ndp!.gatewayIf}`),
  };
}

/** `nft -j list table inet pocketstack-l3` (empty: no table) and `ip -j -6 neigh show proxy`. */
export function parseL3State(nftJson: string, neighJson: string): L3State {
  let fingerprint: string | null = null;
  if (nftJson.trim()) {
    const doc = JSON.parse(nftJson) as { nftables: Array<{ rule?: { comment?: unknown } }> };
    for (const item of doc.nftables) {
      const m = typeof item.rule?.comment === 'string' ? /^ps:([0-9a-f]+)$/.exec(item.rule.comment) : null;
      if (m) fingerprint = m[1];
    }
    // A table without our mark (an older or foreign one) is replaced.
    if (fingerprint === null) fingerprint = '';
  }
  const proxies: string[] = [];
  for (const n of JSON.parse(neighJson || '[]') as Array<{ dst?: unknown; dev?: unknown }>) {
    const ip = typeof n.dst === 'string' ? parseIp(n.dst) : null;
    if (ip && typeof n.dev === 'string') proxies.push(`${ipToString(ip)} ${n.dev}`);
  }
  return { fingerprint, proxies };
}

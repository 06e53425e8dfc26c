import { createHash } from 'node:crypto';
import type { PortQosSpec, PortRec, QosRuleRec, Snapshot, WiredPort } from './model.js';
import type { Names } from './names.js';
import { ownerKey } from './owners.js';
import type { Line } from './plan.js';

/**
 * A port's QoS on its switch-side veth (the tap), as Neutron's agents enforce a policy's rules:
 *
 *   ingress bandwidth (to the instance)   leaves the tap: shaped by a tbf qdisc on its root, as
 *                                         the Linux bridge agent's tc_lib does
 *   egress bandwidth (from the instance)  enters the tap: policed, as the OVS agent's
 *                                         ingress_policing_rate and the bridge agent's police
 *                                         filter do, by an nftables `limit` in a netdev table
 *   packet rates, both directions         policed by nftables `limit` on the tap's ingress and
 *                                         egress hooks (OVS's meters)
 *   DSCP marking                          set on what the instance sends (OVS's mod_nw_tos)
 *
 * One netdev table per port (`psq-<port>`), replaced atomically when its rules change, so a rule
 * the kernel refuses leaves that port's previous QoS in place and only that port in ERROR. A
 * burst left at 0 is 80 % of the rate, as Neutron's agents default it (DEFAULT_BURST_RATE).
 * Pure: the pass reads the kernel, this plans, the pass applies.
 */

/** qos_consts.DEFAULT_BURST_RATE. */
const DEFAULT_BURST_RATE = 0.8;
/** tbf's latency: how long a packet may wait in the shaper (Neutron's tc_lib uses 50 ms too). */
const TBF_LATENCY_MS = 50;
/** A shaper's bucket must hold a full frame, or nothing passes. */
const MIN_BURST_BYTES = 3028;

/** The policy that applies to a port: its own, else (for instances' ports, not Neutron's own) its network's. */
function policyOf(p: PortRec, networkPolicy: Map<string, string | null | undefined>): string | null {
  if (p.qosPolicyId) return p.qosPolicyId;
  // The agents' QoS extensions leave network devices (router, DHCP ports) out of a network's policy.
  if (p.deviceOwner.startsWith('network:')) return null;
  return networkPolicy.get(p.networkId) ?? null;
}

const bytes = (kbit: number) => Math.round((kbit * 1000) / 8);

/** The QoS of every wired port whose policy has a rule the kernel enforces. */
export function buildQos(s: Snapshot, names: Names, wired: ReadonlyMap<string, WiredPort>): PortQosSpec[] {
  const policies = s.qosPolicies;
  if (!policies?.size) return [];
  const networkPolicy = new Map(s.networks.map((n) => [n.id, n.qosPolicyId]));
  const out: PortQosSpec[] = [];
  for (const p of [...s.ports].sort((a, b) => a.id.localeCompare(b.id))) {
    if (!wired.has(p.id)) continue;
    const policy = policyOf(p, networkPolicy);
    const rules: QosRuleRec[] = policy ? (policies.get(policy) ?? []) : [];
    if (!rules.length) continue;
    const spec: PortQosSpec = { portId: p.id, owner: ownerKey.port(p.id), dev: names.tap(p.id) };
    for (const r of rules) {
      if (r.type === 'dscp_marking') {
        spec.dscp = r.mark;
        continue;
      }
      // A limit of 0 is no limit (the agents skip it).
      if (r.max <= 0) continue;
      const burst = r.burst > 0 ? r.burst : r.max * DEFAULT_BURST_RATE;
      if (r.type === 'bandwidth_limit') {
        const limit = { rate: r.max * 1000, burst: Math.max(bytes(burst), MIN_BURST_BYTES) };
        if (r.direction === 'ingress') spec.ingressBw = limit;
        else spec.egressBw = limit;
      } else {
        const limit = { rate: r.max * 1000, burst: Math.max(1, Math.round(burst * 1000)) };
        if (r.direction === 'ingress') spec.ingressPps = limit;
        else spec.egressPps = limit;
      }
    }
    if (spec.ingressBw || spec.egressBw || spec.egressPps || spec.ingressPps || spec.dscp !== undefined) out.push(spec);
  }
  return out;
}

// ---------------------------------------------------------------- the kernel's side

/** What the switch holds of QoS: tbf shapers on taps' roots, and our netdev tables (name → fingerprint). */
export interface QosState {
  tbf: Map<string, { rate: number; burst: number }>;
  tables: Map<string, string | null>;
}

/** Our netdev tables are named after the port (`psq-` and Neutron's 11-character fragment). */
export const QOS_TABLE_PREFIX = 'psq-';
const tableOf = (spec: PortQosSpec) => `${QOS_TABLE_PREFIX}${spec.dev.slice(3)}`;
const needsTable = (spec: PortQosSpec) =>
  spec.egressBw !== undefined || spec.egressPps !== undefined || spec.ingressPps !== undefined || spec.dscp !== undefined;

/** The table's chains (without the fingerprint), as nft reads them. */
function tableBody(spec: PortQosSpec): string[] {
  const dev = JSON.stringify(spec.dev);
  const lines: string[] = [];
  const ingress: string[] = [];
  if (spec.egressBw) ingress.push(`limit rate over ${Math.round(spec.egressBw.rate / 8)} bytes/second burst ${spec.egressBw.burst} bytes drop`);
  if (spec.egressPps) ingress.push(`limit rate over ${spec.egressPps.rate}/second burst ${spec.egressPps.burst} packets drop`);
  if (spec.dscp !== undefined) ingress.push(`meta protocol ip ip dscp set ${spec.dscp}`, `meta protocol ip6 ip6 dscp set ${spec.dscp}`);
  if (ingress.length) {
    lines.push('  chain in {', `    type filter hook ingress device ${dev} priority 0; policy accept;`, ...ingress.map((l) => `    ${l}`), '  }');
  }
  if (spec.ingressPps) {
    lines.push(
      '  chain out {',
      `    type filter hook egress device ${dev} priority 0; policy accept;`,
      `    limit rate over ${spec.ingressPps.rate}/second burst ${spec.ingressPps.burst} packets drop`,
      '  }',
    );
  }
  return lines;
}

/** Fingerprint of a port's table: kept as a rule comment, so a pass can tell what is loaded. */
export function qosFingerprint(spec: PortQosSpec): string {
  return createHash('sha256')
    .update(JSON.stringify([1, spec.dev, tableBody(spec)]))
    .digest('hex')
    .slice(0, 16);
}

/** The whole table of a port. */
export function renderQosTable(spec: PortQosSpec): string {
  return [`table netdev ${tableOf(spec)} {`, ...tableBody(spec), '  chain fp {', `    return comment "ps:${qosFingerprint(spec)}"`, '  }', '}', ''].join('\n');
}

/** Bits per second and bytes as tc takes them (`bit`, `b`). */
const tbfLine = (spec: PortQosSpec & { ingressBw: { rate: number; burst: number } }): Line => ({
  cmd: `qdisc replace dev ${spec.dev} root tbf rate ${spec.ingressBw.rate}bit burst ${spec.ingressBw.burst}b latency ${TBF_LATENCY_MS}ms`,
  owner: spec.owner,
});

/** tc reports a shaper's rate and burst back rounded (to its clock's ticks): close is the same. */
const near = (a: number, b: number) => Math.abs(a - b) <= Math.max(2, b * 0.02);

export interface QosPlan {
  /** One `tc -batch` in the switch. */
  tc: Line[];
  /** One `nft -f` per port (atomic each). */
  nft: Array<{ owner: PortQosSpec['owner']; script: string }>;
}

/**
 * What makes the switch hold `specs`: shapers added, changed or removed, and each port's table
 * replaced whole when its fingerprint differs (or removed when the port has no QoS any more).
 * `owner` of a leftover is the port it was named for, when known.
 */
export function planQos(specs: PortQosSpec[], actual: QosState, ports: ReadonlyMap<string, string> = new Map()): QosPlan {
  const plan: QosPlan = { tc: [], nft: [] };
  const byDev = new Map(specs.map((s) => [s.dev, s]));
  for (const spec of specs) {
    const have = actual.tbf.get(spec.dev);
    if (spec.ingressBw) {
      if (!have || !near(have.rate, spec.ingressBw.rate / 8) || !near(have.burst, spec.ingressBw.burst))
        plan.tc.push(tbfLine({ ...spec, ingressBw: spec.ingressBw }));
    }
  }
  for (const dev of actual.tbf.keys()) {
    if (byDev.get(dev)?.ingressBw) continue;
    const port = ports.get(dev);
    plan.tc.push({ cmd: `qdisc del dev ${dev} root`, owner: port ? ownerKey.port(port) : ownerKey.stale(dev), tolerant: true });
  }
  const wanted = new Map(specs.filter(needsTable).map((s) => [tableOf(s), s]));
  for (const [name, spec] of wanted) {
    const fp = qosFingerprint(spec);
    if (actual.tables.get(name) === fp) continue;
    const reset = actual.tables.has(name) ? `table netdev ${name} {}\ndelete table netdev ${name}\n` : '';
    plan.nft.push({ owner: spec.owner, script: reset + renderQosTable(spec) });
  }
  for (const name of actual.tables.keys()) {
    if (wanted.has(name)) continue;
    plan.nft.push({ owner: ownerKey.stale(name), script: `delete table netdev ${name}\n` });
  }
  return plan;
}

/** The state the switch holds once `specs` are applied. */
export function qosStateOf(specs: PortQosSpec[]): QosState {
  const state: QosState = { tbf: new Map(), tables: new Map() };
  for (const s of specs) {
    if (s.ingressBw) state.tbf.set(s.dev, { rate: s.ingressBw.rate / 8, burst: s.ingressBw.burst });
    if (needsTable(s)) state.tables.set(tableOf(s), qosFingerprint(s));
  }
  return state;
}

/** What `tc -j qdisc show` prints, as far as we read it. */
interface TcQdiscJson {
  kind: string;
  dev: string;
  root?: boolean;
  options?: { rate?: number; burst?: number };
}

/** What `nft -j list ruleset netdev` prints, as far as we read it. */
interface NftNetdevJson {
  nftables: Array<{ table?: { family?: string; name?: string }; rule?: { family?: string; table?: string; chain?: string; comment?: unknown } }>;
}

/** Read `tc -j qdisc show` (tbf roots) and `nft -j list ruleset netdev` (our tables). */
export function parseQosState(qdiscJson: string, nftJson: string): QosState {
  const state: QosState = { tbf: new Map(), tables: new Map() };
  for (const q of JSON.parse(qdiscJson || '[]') as TcQdiscJson[]) {
    if (q.kind === 'tbf' && q.root) state.tbf.set(q.dev, { rate: Number(q.options?.rate ?? 0), burst: Number(q.options?.burst ?? 0) });
  }
  const doc = JSON.parse(nftJson || '{"nftables":[]}') as NftNetdevJson;
  for (const item of doc.nftables) {
    const t = item.table;
    if (t?.family === 'netdev' && t.name?.startsWith(QOS_TABLE_PREFIX) && !state.tables.has(t.name)) state.tables.set(t.name, null);
    const r = item.rule;
    if (r?.family === 'netdev' && r.table?.startsWith(QOS_TABLE_PREFIX) && r.chain === 'fp' && typeof r.comment === 'string') {
      const m = /^ps:([0-9a-f]+)$/.exec(r.comment);
      if (m) state.tables.set(r.table, m[1]);
    }
  }
  return state;
}

/** The state after taps were (re)created: their shapers went with them, and their tables may have. */
export function withoutDevices(state: QosState, devs: ReadonlySet<string>): QosState {
  if (!devs.size) return state;
  const out: QosState = { tbf: new Map(state.tbf), tables: new Map(state.tables) };
  for (const dev of devs) {
    out.tbf.delete(dev);
    const table = `${QOS_TABLE_PREFIX}${dev.slice(3)}`;
    if (out.tables.has(table)) out.tables.set(table, null);
  }
  return out;
}

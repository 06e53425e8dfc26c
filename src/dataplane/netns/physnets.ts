/**
 * Physical networks mapped to an interface of this host (issue 18): the Linux bridge agent's
 * `physical_interface_mappings`. For a flat network on a mapped physical network its
 * LinuxBridgeManager.ensure_flat_bridge enslaves the interface itself to the network's bridge
 * (`brq<net>`), so every host so mapped is on one L2 segment with the outside (the upstream
 * gateway answers there), instead of each host's own bridge behind a routed host leg.
 *
 * Here the bridges live in the switch namespace, so the interface moves into it while a network
 * of its physical network has a bridge on this host, and back to its home namespace (the host's
 * own, or a lab host's) when none has: the kernel enslaves only within one namespace. It is never
 * deleted (it is the host's, not ours: in the lab it is the host's cable to the public switch),
 * as the agent's delete_bridge leaves the mapped interfaces alone.
 *
 * A VLAN network on a mapped physical network is the agent's ensure_vlan_bridge instead: the
 * VLAN device `<interface>.<vid>` (names.ts vlanDeviceName) on the network's bridge. That device
 * is a link of the switch's spec (plan.ts makes it, as a VLAN device or, without 802.1Q, a veth
 * pair joined to the interface by tc-BPF: vlantag.ts); here the interface is only brought into
 * the switch as its parent, up and on no bridge, before the switch's links are applied (pass.ts
 * `physnetParents`), and sent home with the rest once no network here wants it.
 *
 * Pure: the plan from the spec and what the switch holds; a pass runs it (pass.ts `physnets`).
 */
import type { PhysnetSpec } from './model.js';
import type { LinkState } from './state.js';
import { ROOT_NS } from './model.js';
import { ownerKey } from './owners.js';
import type { Line } from './plan.js';

export interface PhysnetPlan {
  /** In the switch, first: interfaces no network wants here any more, sent home. */
  release: Line[];
  /** In the home namespace: the wanted interfaces not in the switch yet, moved in. */
  adopt: Line[];
  /** In the switch: each onto its bridge, up. */
  apply: Line[];
}

/**
 * `ip link set … netns` names its target by a name or a pid; the root namespace has no name, and
 * pid 1 (init) is in it (`ip -n` enters the network namespace only).
 */
const netnsArg = (ns: string) => (ns === ROOT_NS ? '1' : ns);

/** `links`: the switch's links as read (or predicted); only the mapped interfaces matter. */
export function planPhysnets(spec: PhysnetSpec, links: ReadonlyMap<string, LinkState>, switchNs: string): PhysnetPlan {
  const plan: PhysnetPlan = { release: [], adopt: [], apply: [] };
  const wanted = new Map(spec.ports.map((p) => [p.dev, p]));
  const parents = new Map(spec.vlanParents.map((p) => [p.dev, p]));
  for (const dev of spec.mapped) {
    const l = links.get(dev);
    if (!l || wanted.has(dev) || parents.has(dev)) continue;
    const owner = ownerKey.stale(dev);
    if (l.master) plan.release.push({ cmd: `link set ${dev} nomaster`, owner, tolerant: true });
    plan.release.push({ cmd: `link set ${dev} netns ${netnsArg(spec.home)}`, owner });
  }
  for (const p of spec.ports) {
    const l = links.get(p.dev);
    if (!l) plan.adopt.push({ cmd: `link set ${p.dev} netns ${netnsArg(switchNs)}`, owner: p.owner });
    if (l?.master !== p.bridge) plan.apply.push({ cmd: `link set ${p.dev} master ${p.bridge}`, owner: p.owner });
    if (!l?.up) plan.apply.push({ cmd: `link set ${p.dev} up`, owner: p.owner });
  }
  // Only a parent: in the switch, up (its VLANs carry nothing while it is down), on no bridge
  // (one a flat network of its physical network had).
  for (const p of parents.values()) {
    if (wanted.has(p.dev)) continue;
    const l = links.get(p.dev);
    if (!l) plan.adopt.push({ cmd: `link set ${p.dev} netns ${netnsArg(switchNs)}`, owner: p.owner });
    if (l?.master) plan.apply.push({ cmd: `link set ${p.dev} nomaster`, owner: p.owner });
    if (!l?.up) plan.apply.push({ cmd: `link set ${p.dev} up`, owner: p.owner });
  }
  return plan;
}

import { createHash } from 'node:crypto';

/**
 * Deterministic kernel names, all within IFNAMSIZ-1 = 15 characters. Namespaces and the one
 * link in the host's root namespace carry the PocketStack prefix, so `dataplane down` and the
 * garbage collector can tell ours from everything else; links inside our own namespaces use
 * Neutron's names (`tap`, `qr-`, `qg-`, `brq` + the first 11 characters of the id) because the
 * namespace already says whose they are.
 */

/** The 11-character id fragment Neutron uses (`tapXXXXXXXX-XX`); non-UUID ids are hashed. */
export function idFragment(id: string): string {
  if (/^[0-9a-f]{8}-[0-9a-f]{2}/i.test(id)) return id.slice(0, 11).toLowerCase();
  return `h${createHash('sha256').update(id).digest('hex').slice(0, 10)}`;
}

export const PREFIX_RE = /^[a-z][a-z0-9]$/;

export class Names {
  constructor(readonly prefix = 'ps') {
    if (!PREFIX_RE.test(prefix)) throw new Error(`data-plane prefix must be two characters [a-z][a-z0-9], got '${prefix}'`);
  }

  /** The switch: one namespace holding a bridge per network. */
  get switchNs(): string {
    return `${this.prefix}-sw`;
  }

  instanceNs(serverId: string): string {
    return `${this.prefix}i-${idFragment(serverId)}`;
  }

  routerNs(routerId: string): string {
    return `${this.prefix}r-${idFragment(routerId)}`;
  }

  /** A network's DHCP server (Neutron's qdhcp-<network id>). */
  dhcpNs(networkId: string): string {
    return `${this.prefix}d-${idFragment(networkId)}`;
  }

  /** A load balancer's namespace, named after its VIP port (what the data plane knows it by). */
  loadBalancerNs(vipPortId: string): string {
    return `${this.prefix}l-${idFragment(vipPortId)}`;
  }

  /** An instance's namespace (a machine's, when compute runs servers). */
  isInstanceNs(name: string): boolean {
    return new RegExp(`^${this.prefix}i-[0-9a-z-]{11}$`).test(name);
  }

  /** Every namespace this data plane may create; nothing else is ever touched. */
  ownsNamespace(name: string): boolean {
    if (name === this.switchNs) return true;
    return new RegExp(`^${this.prefix}[irld]-[0-9a-z-]{11}$`).test(name);
  }

  /** The host end of the veth into the public bridge (root namespace). */
  hostLeg(networkId: string): string {
    return `${this.prefix}x-${idFragment(networkId)}`;
  }

  ownsHostLink(name: string): boolean {
    return new RegExp(`^${this.prefix}x-[0-9a-z-]{11}$`).test(name);
  }

  // Links inside the switch namespace.
  bridge(networkId: string): string {
    return `brq${idFragment(networkId)}`;
  }

  tap(portId: string): string {
    return `tap${idFragment(portId)}`;
  }

  /** The switch end of the host leg. */
  hostLegSwitchEnd(networkId: string): string {
    return `ex-${idFragment(networkId)}`;
  }

  /** A DHCP port's end inside its DHCP namespace (Neutron's linux bridge driver: `ns-`). */
  dhcpInterface(portId: string): string {
    return `ns-${idFragment(portId)}`;
  }

  // Links inside a router namespace.
  routerInterface(portId: string): string {
    return `qr-${idFragment(portId)}`;
  }

  routerGateway(portId: string): string {
    return `qg-${idFragment(portId)}`;
  }

  /** An HA router's port on its HA network (ha_router.py's HA_DEV_PREFIX `ha-`). */
  haInterface(portId: string): string {
    return `ha-${idFragment(portId)}`;
  }

  // iptables chains in the switch namespace (≤ 28 characters).
  portIngressChain(portId: string): string {
    return `ps-i${idFragment(portId)}`;
  }

  portEgressChain(portId: string): string {
    return `ps-o${idFragment(portId)}`;
  }

  portSpoofChain(portId: string): string {
    return `ps-s${idFragment(portId)}`;
  }

  groupChain(groupId: string, direction: 'ingress' | 'egress'): string {
    return `ps-g${idFragment(groupId)}-${direction === 'ingress' ? 'i' : 'o'}`;
  }
}

/** Linux's IFNAMSIZ less its terminating NUL: neutron_lib's DEVICE_NAME_MAX_LEN. */
const DEVICE_NAME_MAX_LEN = 15;
/** neutron_lib's INTERFACE_HASH_LEN. */
const INTERFACE_HASH_LEN = 6;

/**
 * neutron_lib plugins/utils.py get_interface_name: `prefix + name` when it fits, else the prefix,
 * the start of the name and the first 6 hex digits of the name's SHA-1 (interfaces may differ
 * only in their end, so plain truncation would merge them).
 */
export function interfaceName(name: string, prefix = '', maxLen = DEVICE_NAME_MAX_LEN): string {
  if (prefix.length + name.length <= maxLen) return prefix + name;
  const hash = createHash('sha1').update(name).digest('hex').slice(0, INTERFACE_HASH_LEN);
  return `${prefix}${name.slice(0, maxLen - prefix.length - INTERFACE_HASH_LEN)}${hash}`;
}

/**
 * The VLAN device of a VLAN provider network on a mapped interface, as Neutron's Linux bridge
 * agent names it (neutron/plugins/ml2/drivers/linuxbridge/agent/common/utils.py
 * get_vlan_device_name): `<interface>.<vid>`, the interface's part cut to 10 characters by
 * get_interface_name whatever the VLAN id's length (MAX_VLAN_POSTFIX_LEN 5), so every VLAN of
 * one interface shares its prefix: `eth1.100`, and `enp0s20f0u1u2` → `enp01a2b3c.100`.
 */
export function vlanDeviceName(dev: string, vid: number): string {
  return `${interfaceName(dev, '', DEVICE_NAME_MAX_LEN - 5)}.${vid}`;
}

/**
 * The hidden veth end of VLAN subinterface `name` (15 characters at most, as IFNAMSIZ allows):
 * `vt-` and the name (a tap's without `tap`), hashed as get_interface_name does when too long
 * (a provider VLAN's device name can have 15 characters itself).
 */
export function taggerName(name: string): string {
  return interfaceName(name.startsWith('tap') ? name.slice(3) : name, 'vt-');
}

/** A hidden peer's name: ours inside a machine too (`vt-eth0.101`). */
export const TAGGER_RE = /^vt-/;

/** Chains of ours in the switch namespace's filter table. */
export const SG_CHAIN = 'ps-sg-chain';
export const isOurChain = (name: string): boolean => name.startsWith('ps-');

/** The nftables table a router namespace holds. */
export const NAT_TABLE = 'pocketstack';

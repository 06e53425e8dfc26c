/**
 * Owner keys: every kernel object a pass creates, and every error it meets, is tagged with the
 * API object it serves (`port:<id>`, `router:<id>`…), so a refused line puts exactly that object
 * in ERROR. One type and one place that spells them, so a lookup can never miss by a typo.
 */

/** Objects that own kernel state, by the id the store knows them by. */
export type OwnerKind =
  | 'port'
  | 'router'
  | 'instance'
  /** A load balancer's namespace, named after its VIP port id. */
  | 'loadbalancer'
  /** A network's DHCP namespace (and its dnsmasq), by network id. */
  | 'dhcp'
  | 'floatingip'
  | 'network'
  /** A local IP (Neutron's `local_ip`, which has no status: its errors are logged). */
  | 'localip'
  /** The host end of the public network's bridge (DevStack's br-ex), by network id. */
  | 'hostleg'
  /** A link of ours nobody wants any more (by interface name). */
  | 'stale'
  /** A route nobody wants any more (by destination). */
  | 'stale-route';

/** The two namespaces that stand for no single object. */
type NamespaceOwner = 'switch' | 'root';

type OwnerOf<K extends OwnerKind> = `${K}:${string}`;

/** Who a kernel object serves, for error attribution. */
export type Owner = OwnerOf<OwnerKind> | NamespaceOwner;

const key =
  <K extends OwnerKind>(kind: K) =>
  (id: string): OwnerOf<K> =>
    `${kind}:${id}`;

/** Owner keys, one constructor per kind: `ownerKey.port(id)` is `port:<id>`. */
export const ownerKey = {
  port: key('port'),
  router: key('router'),
  instance: key('instance'),
  loadbalancer: key('loadbalancer'),
  dhcp: key('dhcp'),
  floatingip: key('floatingip'),
  network: key('network'),
  localip: key('localip'),
  hostleg: key('hostleg'),
  stale: key('stale'),
  staleRoute: key('stale-route'),
} as const;

/** An owner key taken apart; the switch and root namespaces have no id. */
export type ParsedOwner = { kind: OwnerKind; id: string } | { kind: NamespaceOwner; id: null };

export function parseOwner(o: Owner): ParsedOwner {
  if (o === 'switch' || o === 'root') return { kind: o, id: null };
  const i = o.indexOf(':');
  return { kind: o.slice(0, i) as OwnerKind, id: o.slice(i + 1) };
}

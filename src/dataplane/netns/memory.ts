import type { DesiredNs, OverlaySpec, PhysnetSpec } from './model.js';
import type { L3State } from './l3ext.js';
import type { NatState } from './nat.js';
import type { QosState } from './qos.js';

/** A namespace's desired state as last applied to it without error. */
export interface Applied {
  /** Fingerprint of the desired state (and the instance it runs) that was applied. */
  fp: string;
  /** Inode of the namespace it was applied to (a recreated namespace has another). */
  ino: number;
  spec: DesiredNs;
}

/**
 * What a pass may trust from earlier passes, and leaves for the next: an incremental pass looks
 * only at namespaces whose desired state changed since they were last applied cleanly, or that
 * are no longer the namespace it was applied to.
 */
export class PassMemory {
  /** Namespace → what was last applied to it without error. */
  readonly applied = new Map<string, Applied>();
  /** What each router's NAT table holds after our last successful apply (full passes re-read). */
  readonly nat = new Map<string, { ino: number; state: NatState | null }>();
  /** What each router's L3-extension table and NDP proxies hold, as last applied. */
  readonly l3 = new Map<string, { ino: number; state: L3State }>();
  /** What the switch's QoS holds after our last apply (by the switch's inode; full passes re-read). */
  qos: { ino: number; state: QosState } | null = null;
  /** The overlay (VXLAN devices, forwarding entries) as last applied to the switch without error. */
  overlay: { ino: number; spec: OverlaySpec } | null = null;
  /** The mapped interfaces as last put on their bridges without error (physnets.ts). */
  physnets: { ino: number; spec: PhysnetSpec } | null = null;
  /** Namespaces whose VLANs' tc-BPF programs were last loaded without error (vlantag.ts): inode, the VLANs. */
  readonly vlanTags = new Map<string, { ino: number; fp: string }>();
  /** The local IPs' programs as last loaded into the switch without error (localip.ts): inode, what was wanted. */
  localIps: { ino: number; fp: string } | null = null;
  /** `tc` refused the local IP programs on this kernel, and that was logged. */
  localIpsRefused = false;
  /** Switch-side link → the namespace its veth leads to (to re-read it when the link flaps). */
  linkOwners = new Map<string, string>();
  /** Links we are changing ourselves: their events are ours, not a flap (name → until when). */
  readonly quiet = new Map<string, number>();

  /** `ns` (with inode `ino`, undefined when it does not exist) still holds what fingerprint `fp` describes. */
  trusts(ns: string, ino: number | undefined, fp: string): boolean {
    const was = this.applied.get(ns);
    return ino !== undefined && was !== undefined && was.fp === fp && was.ino === ino;
  }

  /** `ns` is new or was recreated since its last clean apply (it lost its veths). */
  reborn(ns: string, ino: number | undefined): boolean {
    const was = this.applied.get(ns);
    return !was || ino === undefined || was.ino !== ino;
  }

  /** Nothing is known of `ns` any more (it was deleted, or must be read back). */
  forget(ns: string): void {
    this.applied.delete(ns);
    this.nat.delete(ns);
    this.l3.delete(ns);
    this.vlanTags.delete(ns);
  }

  /** A link event that is not ours: the namespace behind `link` (and the switch) must be read back. */
  flapped(link: string, switchNs: string, now: number): boolean {
    const ns = this.linkOwners.get(link);
    if (ns === undefined || (this.quiet.get(link) ?? 0) > now) return false;
    this.applied.delete(ns);
    this.applied.delete(switchNs);
    return true;
  }
}

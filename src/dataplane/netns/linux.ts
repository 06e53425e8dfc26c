import { watch } from 'node:fs';
import { execStats } from './exec.js';
import { sendGratuitousArp } from './garp.js';
import {
  NETNS_DIR,
  assignNsid,
  bridgeBatch,
  conntrackForget,
  conntrackForgetFloating,
  createNamespace,
  deleteNamespace,
  ipBatch,
  iptablesRestore,
  iptablesSave,
  listNamespaces,
  nftApply,
  readL3,
  readNat,
  readNs,
  readOverlay,
  readQos,
  readVlanTags,
  readClsact,
  localIpPrograms,
  tcBatch,
  vlanDevices,
} from './kernel.js';
import type { Closer, Kernel, OverlayKernel } from './machine.js';
import { LinkMonitor } from './monitor.js';
import { releaseLock, takeLock } from './preflight.js';

/** This machine's kernel, through its tools (kernel.ts) and /run/netns. */
export const linuxKernel: Kernel = {
  listNamespaces,
  createNamespace,
  deleteNamespace,
  assignNsid,
  readNamespace: readNs,
  ipBatch,
  readNat,
  readL3,
  nftApply,
  readQos,
  tcBatch,
  vlanDevices,
  readVlanTags,
  readClsact,
  localIpPrograms,
  iptablesSave,
  iptablesRestore,
  conntrackForget,
  conntrackForgetFloating,
  sendGratuitousArp,
  execCount: () => execStats.spawned,
  watchNamespaces(onChange: () => void): Closer | null {
    try {
      const watcher = watch(NETNS_DIR, () => onChange());
      watcher.on('error', () => undefined);
      watcher.unref();
      return watcher;
    } catch {
      // no /run/netns yet
      return null;
    }
  },
  monitorLinks(onLink: (ifname: string) => void): Closer {
    const monitor = new LinkMonitor(onLink);
    monitor.start();
    return { close: () => monitor.stop() };
  },
  lock: (prefix) => takeLock(prefix),
  unlock: (prefix) => releaseLock(prefix),
};

/** This machine's VXLAN devices and forwarding entries (`ip`, `bridge`). */
export const linuxOverlay: OverlayKernel = { readOverlay, bridgeBatch };

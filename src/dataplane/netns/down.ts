import { run } from './exec.js';
import { deleteNamespace, listNamespaces, readNs } from './kernel.js';
import { ROOT_NS } from './model.js';
import { teardownMachines } from './machines/down.js';
import type { Names } from './names.js';

/**
 * Remove every kernel object this data plane owns and nothing else: the namespaces named with
 * its prefix (processes inside are killed first; bridges, veths, nftables and iptables state go
 * with them), its host legs in the root namespace, and its machines (control groups, disks,
 * namespace files; with `dataDir`, their writes and image trees too).
 */
export async function teardown(names: Names, opts: { dataDir?: string } = {}): Promise<{ namespaces: string[]; links: string[]; machines: string[] }> {
  const namespaces = [...(await listNamespaces()).keys()].filter((n) => names.ownsNamespace(n)).sort();
  // Instances and routers first, the switch last (their veths die with either end).
  const order = [...namespaces.filter((n) => n !== names.switchNs), ...namespaces.filter((n) => n === names.switchNs)];
  for (const n of order) await deleteNamespace(n);
  const links = [...(await readNs(ROOT_NS)).links.keys()].filter((l) => names.ownsHostLink(l)).sort();
  for (const l of links) await run('ip', ['link', 'del', l], { allowFail: true });
  const machines = await teardownMachines(names.prefix, opts.dataDir);
  return { namespaces, links, machines };
}

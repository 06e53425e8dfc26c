import { run } from './exec.js';
import { deleteNamespace, listNamespaces, readNs } from './kernel.js';
import { ROOT_NS } from './model.js';
import type { Names } from './names.js';

/**
 * Remove every kernel object this data plane owns and nothing else: the namespaces named with
 * its prefix (processes inside are killed first; bridges, veths, nftables and iptables state go
 * with them) and its host legs in the root namespace.
 */
export async function teardown(names: Names): Promise<{ namespaces: string[]; links: string[] }> {
  const namespaces = [...(await listNamespaces()).keys()].filter((n) => names.ownsNamespace(n)).sort();
  // Instances and routers first, the switch last (their veths die with either end).
  const order = [...namespaces.filter((n) => n !== names.switchNs), ...namespaces.filter((n) => n === names.switchNs)];
  for (const n of order) await deleteNamespace(n);
  const links = [...(await readNs(ROOT_NS)).links.keys()].filter((l) => names.ownsHostLink(l)).sort();
  for (const l of links) await run('ip', ['link', 'del', l], { allowFail: true });
  return { namespaces, links };
}

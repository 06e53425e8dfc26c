import { runIn } from './exec.js';

/**
 * Gratuitous ARPs for the addresses a router adds to its legs, sent as Neutron's L3 agent sends
 * them (neutron/agent/linux/ip_lib.py `send_ip_addr_adv_notif` and `_arping`): `count` rounds
 * (`send_arp_for_ha`, 3 by default; 0 sends none), 2 s apart so that a neighbour's `locktime`
 * (1 s) cannot swallow the later ones, each round one unsolicited request (`arping -U`) and one
 * unsolicited reply (`arping -A`), because some kernels honour only one of the two. IPv4 only:
 * IPv6 neighbours learn from NDP and DAD. The rounds run in the background, so a pass never waits
 * for them; arping opens the raw socket, in the router's namespace.
 */

/** ip_lib's sleep between rounds, "hopefully enough for kernel to get out of locktime loop". */
const ROUND_GAP_MS = 2000;

/**
 * arping waits this long at most for each send. Neutron passes `-w 1.5`; Debian 12's iputils
 * arping (20221126) takes whole seconds only and refuses 1.5.
 */
const DEADLINE_S = '2';

/** The default of the L3 agent's `send_arp_for_ha`. */
export const SEND_ARP_FOR_HA = 3;

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    // Unreferenced: an announcement still under way never keeps the process alive.
    setTimeout(resolve, ms).unref();
  });

/**
 * Announce `ip` on `dev` in namespace `ns`. `onFailure` hears why the first round failed (the
 * agent logs it, as ip_lib logs an exception); a later round that fails ends the announcement
 * quietly, as the address or its device most likely went meanwhile (ip_lib logs that at info).
 */
export function sendGratuitousArp(ns: string, dev: string, ip: string, count: number, onFailure: (reason: string) => void): void {
  if (count <= 0 || ip.includes(':')) return;
  void (async () => {
    for (let round = 0; round < count; round++) {
      if (round > 0) await sleep(ROUND_GAP_MS);
      for (const mode of ['-U', '-A']) {
        let reason: string | null;
        try {
          const r = await runIn(ns, 'arping', [mode, '-I', dev, '-c', '1', '-w', DEADLINE_S, ip], { allowFail: true, timeoutMs: 10_000 });
          // No answer is expected: arping may exit 1 for that; 2 is its own error (no such device,
          // "bind: Cannot assign requested address" once the address is gone).
          reason = r.code <= 1 ? null : r.stderr.trim() || `arping exited ${r.code}`;
        } catch (e) {
          reason = (e as Error).message;
        }
        if (reason !== null) {
          if (round === 0) onFailure(reason);
          return;
        }
      }
    }
  })();
}

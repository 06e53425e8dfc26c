/**
 * Each network's dnsmasq, as Neutron's DHCP agent runs it: in the network's DHCP namespace, its
 * files under /run/pocketstack/<prefix>/dhcp/<network id>/ (readable by dnsmasq once it drops to
 * `nobody`), reloaded with SIGHUP when ports change (hosts and options files) and restarted when
 * its command line does (a subnet added or removed). Processes outlive PocketStack: a restart
 * finds them by their pid files and keeps them.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { daemonPid, namespaceInode, readText, removeOthers, replaceIfChanged, stopDaemon } from '../daemons.js';
import { runIn } from '../exec.js';
import type { DhcpServerSpec } from '../model.js';
import { type DnsmasqConfig, dnsmasqConfig } from './dnsmasq.js';

/** The dnsmasq serving `dir`, while it runs (its command line names its pid file). */
const runningPid = (dir: string): number | null => daemonPid(join(dir, 'pid'), `--pid-file=${join(dir, 'pid')}`);

export class DhcpServers {
  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  private netDir(networkId: string): string {
    return join(this.dir, networkId.replace(/[^A-Za-z0-9_-]/g, '_'));
  }

  /** Serve exactly `specs` (their namespaces exist); errors per network id. */
  async reconcile(specs: DhcpServerSpec[]): Promise<Map<string, string>> {
    const errors = new Map<string, string>();
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const keep = new Set<string>();
    await Promise.all(
      specs.map(async (spec) => {
        const dir = this.netDir(spec.networkId);
        keep.add(basename(dir));
        try {
          await this.serve(spec, dir);
        } catch (e) {
          errors.set(spec.networkId, `dnsmasq: ${(e as Error).message}`);
        }
      }),
    );
    await removeOthers(this.dir, keep, (dir) => this.stop(dir));
    return errors;
  }

  private async serve(spec: DhcpServerSpec, dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const cfg: DnsmasqConfig = dnsmasqConfig(spec.network, dir);
    let changed = replaceIfChanged(join(dir, 'host'), cfg.files.host, 0o644);
    changed = replaceIfChanged(join(dir, 'addn_hosts'), cfg.files.addnHosts, 0o644) || changed;
    changed = replaceIfChanged(join(dir, 'opts'), cfg.files.opts, 0o644) || changed;
    const argsChanged = replaceIfChanged(join(dir, 'args'), `${cfg.args.join('\n')}\n`, 0o644);
    let pid = runningPid(dir);
    // The namespace was recreated under it (a dnsmasq serving a namespace that is gone is no use).
    const ns = readText(join(dir, 'ns'));
    if (pid !== null && ns !== '' && ns !== namespaceInode(spec.ns)) {
      await this.stop(dir);
      pid = null;
    }
    if (pid !== null && argsChanged) {
      await this.stop(dir);
      pid = null;
    }
    if (pid === null) {
      rmSync(join(dir, 'pid'), { force: true });
      await runIn(spec.ns, 'dnsmasq', cfg.args);
      writeFileSync(join(dir, 'ns'), namespaceInode(spec.ns));
      this.log.info({ network: spec.networkId, namespace: spec.ns }, 'dnsmasq started');
      return;
    }
    if (changed) process.kill(pid, 'SIGHUP');
  }

  private async stop(dir: string): Promise<void> {
    await stopDaemon(() => runningPid(dir), { waitMs: 1000, kill: false });
  }

  /** Stop every dnsmasq of this data plane (teardown). */
  async stopAll(): Promise<void> {
    let entries: string[] = [];
    try {
      entries = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const e of entries) await this.stop(join(this.dir, e));
  }
}

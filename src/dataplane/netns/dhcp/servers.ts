/**
 * Each network's dnsmasq, as Neutron's DHCP agent runs it: in the network's DHCP namespace, its
 * files under /run/pocketstack/<prefix>/dhcp/<network id>/ (readable by dnsmasq once it drops to
 * `nobody`), reloaded with SIGHUP when ports change (hosts and options files) and restarted when
 * its command line does (a subnet added or removed). Processes outlive PocketStack: a restart
 * finds them by their pid files and keeps them.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { runIn } from '../exec.js';
import type { DhcpServerSpec } from '../model.js';
import { type DnsmasqConfig, dnsmasqConfig } from './dnsmasq.js';

/** The process of a pid file, when it is still the dnsmasq serving `dir`. */
function runningPid(dir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8').trim());
    if (!pid) return null;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(`--pid-file=${join(dir, 'pid')}`) ? pid : null;
  } catch {
    return null;
  }
}

function replaceIfChanged(file: string, text: string): boolean {
  try {
    if (readFileSync(file, 'utf8') === text) return false;
  } catch {
    // new
  }
  writeFileSync(`${file}.tmp`, text, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  return true;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
        keep.add(dir);
        try {
          await this.serve(spec, dir);
        } catch (e) {
          errors.set(spec.networkId, `dnsmasq: ${(e as Error).message}`);
        }
      }),
    );
    let entries: string[] = [];
    try {
      entries = readdirSync(this.dir);
    } catch {
      entries = [];
    }
    for (const e of entries) {
      const dir = join(this.dir, e);
      if (keep.has(dir)) continue;
      await this.stop(dir);
      rmSync(dir, { recursive: true, force: true });
    }
    return errors;
  }

  private async serve(spec: DhcpServerSpec, dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const cfg: DnsmasqConfig = dnsmasqConfig(spec.network, dir);
    let changed = replaceIfChanged(join(dir, 'host'), cfg.files.host);
    changed = replaceIfChanged(join(dir, 'addn_hosts'), cfg.files.addnHosts) || changed;
    changed = replaceIfChanged(join(dir, 'opts'), cfg.files.opts) || changed;
    const argsChanged = replaceIfChanged(join(dir, 'args'), `${cfg.args.join('\n')}\n`);
    let pid = runningPid(dir);
    // The namespace was recreated under it (a dnsmasq serving a namespace that is gone is no use).
    if (pid !== null && existsSync(join(dir, 'ns')) && readFileSync(join(dir, 'ns'), 'utf8') !== (await this.nsId(spec.ns))) {
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
      writeFileSync(join(dir, 'ns'), await this.nsId(spec.ns));
      this.log.info({ network: spec.networkId, namespace: spec.ns }, 'dnsmasq started');
      return;
    }
    if (changed) process.kill(pid, 'SIGHUP');
  }

  /** The namespace's identity (its inode), to notice one recreated under a running dnsmasq. */
  private async nsId(ns: string): Promise<string> {
    try {
      return String(statSync(`/run/netns/${ns}`).ino);
    } catch {
      return '';
    }
  }

  private async stop(dir: string): Promise<void> {
    const pid = runningPid(dir);
    if (pid === null) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 50 && runningPid(dir) === pid; i++) await sleep(20);
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

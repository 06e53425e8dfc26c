/**
 * Each HA router's keepalived, as Neutron's KeepalivedManager runs it: Debian's keepalived in the
 * router's namespace, `keepalived -P -f <conf> -p <pid> -r <vrrp pid>`, its files under
 * `<data dir>/ha_confs/<router id>/` (Neutron's `ha_confs_path`), reloaded with SIGHUP when the
 * configuration changes (reload_cfg), stopped with SIGTERM when the router leaves this host. The
 * command line is made of our own paths only; what comes from the API (addresses, device names)
 * is in the configuration file, already validated by the planner. Processes outlive the agent,
 * as Neutron's do: a restarted agent finds them by their pid files.
 *
 * The state is read as neutron-keepalived-state-change reads it: the router is the master where
 * its primary VIP is on its `ha-` device (keepalived adds it on becoming MASTER, removes it on
 * leaving), and a router whose keepalived is not running is not the master
 * (_check_and_set_real_state). As that daemon watches `ip monitor address` in the router's
 * namespace and tells the agent at once, `watch` hears every address event of the routers'
 * `ha-` devices (one monitor for all namespaces: each router's namespace gets an id in the
 * agent's when its keepalived starts), so a transition is read when keepalived makes it.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { daemonPid, namespaceInode, readText, removeOthers, replaceIfChanged, stopDaemon } from './daemons.js';
import { run, runIn } from './exec.js';
import { assignNsid } from './kernel.js';
import { Throttle } from '../../util/throttle.js';
import { checkScriptPath, renderCheckScript, renderKeepalivedConf } from './keepalivedconf.js';
import { HaAddressMonitor } from './monitor.js';
import type { VrrpSpec } from './model.js';

export type VrrpState = 'active' | 'standby';

/** An HA router's keepalived to run, in namespace `ns`. */
export interface KeepalivedSpec {
  ns: string;
  vrrp: VrrpSpec;
}

/** The keepalived of `dir`'s configuration (`file`: its main or its VRRP process's pid file), while it runs. */
const runningPid = (dir: string, file = 'pid'): number | null => daemonPid(join(dir, file), join(dir, 'keepalived.conf'));

/** Router ids are the store's UUIDs; anything else never names a directory. */
const safeId = (id: string) => /^[0-9A-Za-z_-]+$/.test(id);

/** ha_router.py's THROTTLER_MULTIPLIER: reloads of one router's keepalived at most once per 1.5 advertisement intervals. */
const THROTTLER_MULTIPLIER = 1.5;

/** The agent's `check_child_processes_interval` (s, 0: off) and `check_child_processes_action`. */
export interface ProcessMonitorOptions {
  intervalS: number;
  action: 'respawn' | 'exit';
  /** What `exit` does: stop the agent (ProcessMonitor's exit handler). */
  exit(): void;
}

export class KeepalivedRunner {
  /** Whether this keepalived knows `no_track` (2.0.3 and later; keepalived_use_no_track_support). */
  private noTrack: boolean | null = null;
  /** Namespaces (by inode) given an id here, so the address monitor hears them. */
  private readonly withNsid = new Set<string>();
  /** The routers whose keepalived runs here (what the process monitor watches). */
  private served = new Map<string, KeepalivedSpec>();
  /** Per router: its keepalived's reloads, throttled. */
  private readonly reloads = new Map<string, Throttle>();
  private monitorTimer: NodeJS.Timeout | null = null;
  /** reconcile and the process monitor's checks, one at a time (neither starts a keepalived the other is starting). */
  private busy: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    private readonly monitor?: ProcessMonitorOptions,
  ) {}

  private routerDir(routerId: string): string {
    return join(this.dir, routerId);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.busy.then(fn, fn);
    this.busy = next.catch(() => undefined);
    return next;
  }

  /** Run exactly `specs` (their namespaces exist); errors by router id. */
  reconcile(specs: KeepalivedSpec[]): Promise<Map<string, string>> {
    return this.exclusive(() => this.reconcileNow(specs));
  }

  private async reconcileNow(specs: KeepalivedSpec[]): Promise<Map<string, string>> {
    const errors = new Map<string, string>();
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const keep = new Set<string>();
    const served = new Map<string, KeepalivedSpec>();
    for (const spec of specs) {
      if (!safeId(spec.vrrp.routerId)) continue;
      keep.add(spec.vrrp.routerId);
      try {
        await this.serve(spec);
        served.set(spec.vrrp.routerId, spec);
      } catch (e) {
        errors.set(spec.vrrp.routerId, `keepalived: ${(e as Error).message}`);
      }
    }
    // Unregistered before they are stopped (ProcessMonitor.unregister's order), so none is respawned.
    this.served = served;
    for (const [id, t] of this.reloads) {
      if (keep.has(id)) continue;
      t.cancel();
      this.reloads.delete(id);
    }
    await removeOthers(this.dir, keep, (dir) => this.stop(dir));
    this.startMonitor();
    return errors;
  }

  private async serve(spec: KeepalivedSpec): Promise<void> {
    const dir = this.routerDir(spec.vrrp.routerId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // KeepalivedManager.spawn: the health check script (KeepalivedTrackScript.write_check_script), then the configuration.
    const script = renderCheckScript(spec.vrrp.instance);
    const scriptPath = checkScriptPath(dir, spec.vrrp.instance.vrid);
    let changed = script !== null && replaceIfChanged(scriptPath, script, 0o520);
    if (script === null) rmSync(scriptPath, { force: true });
    const conf = join(dir, 'keepalived.conf');
    changed = replaceIfChanged(conf, `${renderKeepalivedConf([spec.vrrp.instance], await this.knowsNoTrack(), dir)}\n`, 0o600) || changed;
    let pid = runningPid(dir);
    // The namespace was recreated under it: its keepalived watches devices that are gone.
    const nsId = namespaceInode(spec.ns);
    if (pid !== null && readText(join(dir, 'ns')) !== nsId) {
      await this.stop(dir);
      pid = null;
    }
    if (!this.withNsid.has(nsId)) {
      await assignNsid(spec.ns);
      this.withNsid.add(nsId);
    }
    if (pid === null) {
      // _get_keepalived_process_callback: a VRRP child left by a keepalived that died would keep
      // advertising beside the new one, and its pid file would stop keepalived from starting.
      const orphan = runningPid(dir, 'vrrp.pid');
      if (orphan !== null) process.kill(orphan, 'SIGKILL');
      rmSync(join(dir, 'pid'), { force: true });
      rmSync(join(dir, 'vrrp.pid'), { force: true });
      // keepalived daemonizes: the command returns once its VRRP child runs.
      await runIn(spec.ns, 'keepalived', ['-P', '-f', conf, '-p', join(dir, 'pid'), '-r', join(dir, 'vrrp.pid')]);
      writeFileSync(join(dir, 'ns'), nsId);
      this.log.info({ router: spec.vrrp.routerId, namespace: spec.ns }, 'keepalived started');
      return;
    }
    if (changed) this.reload(spec);
  }

  /**
   * SIGHUP (reload_cfg), at most once per 1.5 advertisement intervals per router, as
   * KeepalivedManager's throttled spawn (utils.throttler) does: a reload on the heels of another
   * is put off, not lost, and the ones asked for meanwhile become one (keepalived reloading in a
   * burst can make a master give way to a backup).
   */
  private reload(spec: KeepalivedSpec): void {
    const id = spec.vrrp.routerId;
    let throttle = this.reloads.get(id);
    if (!throttle) {
      throttle = new Throttle((spec.vrrp.instance.advertInt ?? 2) * THROTTLER_MULTIPLIER * 1000);
      this.reloads.set(id, throttle);
    }
    throttle.call(() => {
      const pid = runningPid(this.routerDir(id));
      if (pid !== null) process.kill(pid, 'SIGHUP');
    });
  }

  /**
   * ProcessMonitor: every `check_child_processes_interval`, each router's keepalived (its main
   * process, the ProcessManager registered: keepalived itself restarts a VRRP child that dies) is
   * looked for; one that died is logged as Neutron logs it and respawned (a VRRP child it left
   * is killed first, as _get_keepalived_process_callback does), or the agent exits
   * (`check_child_processes_action`).
   */
  private startMonitor(): void {
    const m = this.monitor;
    if (!m || m.intervalS <= 0 || this.monitorTimer) return;
    this.monitorTimer = setInterval(() => void this.exclusive(() => this.checkChildren(m)), m.intervalS * 1000);
    this.monitorTimer.unref();
  }

  private async checkChildren(m: ProcessMonitorOptions): Promise<void> {
    for (const [id, spec] of [...this.served]) {
      const dir = this.routerDir(id);
      if (runningPid(dir) !== null) continue;
      this.log.error({ router: id }, `keepalived for router with uuid ${id} not found. The process should not have died`);
      if (m.action === 'exit') {
        this.log.error('Exiting agent as programmed in check_child_processes_actions');
        m.exit();
        return;
      }
      this.log.warn({ router: id }, `Respawning keepalived for uuid ${id}`);
      try {
        if (this.served.get(id) === spec) await this.serve(spec);
      } catch (e) {
        this.log.error({ router: id, err: e }, 'keepalived respawn failed');
      }
    }
  }

  /** The process monitor and the put-off reloads stop (the keepalived processes outlive the agent). */
  close(): void {
    if (this.monitorTimer) clearInterval(this.monitorTimer);
    this.monitorTimer = null;
    for (const t of this.reloads.values()) t.cancel();
    this.reloads.clear();
  }

  /**
   * keepalived_use_no_track_support: `no_track` where `keepalived --version` says 2.0.3 or later
   * (get_keepalived_version reads the same line).
   */
  private async knowsNoTrack(): Promise<boolean> {
    if (this.noTrack !== null) return this.noTrack;
    const r = await run('keepalived', ['--version'], { allowFail: true });
    this.noTrack = noTrackSupported(`${r.stdout}${r.stderr}`);
    return this.noTrack;
  }

  /**
   * Each router's state here: active where keepalived runs and its primary VIP is on the `ha-`
   * device, standby otherwise.
   */
  async states(specs: KeepalivedSpec[]): Promise<Map<string, VrrpState>> {
    const out = new Map<string, VrrpState>();
    for (const spec of specs) {
      const dir = this.routerDir(spec.vrrp.routerId);
      if (!safeId(spec.vrrp.routerId)) continue;
      if (runningPid(dir) === null || runningPid(dir, 'vrrp.pid') === null) {
        out.set(spec.vrrp.routerId, 'standby');
        continue;
      }
      const r = await run('ip', ['-n', spec.ns, '-o', 'addr', 'show', 'dev', spec.vrrp.haIf], { allowFail: true });
      out.set(spec.vrrp.routerId, r.code === 0 && r.stdout.includes(` ${spec.vrrp.primaryVip} `) ? 'active' : 'standby');
    }
    return out;
  }

  /** Call `onTransition` on every address event of an `ha-` device (a keepalived transition, or the device's own address). */
  watch(onTransition: () => void): { close(): void } {
    const monitor = new HaAddressMonitor(onTransition);
    monitor.start();
    return { close: () => monitor.stop() };
  }

  private async stop(dir: string): Promise<void> {
    // KeepalivedManager.disable: SIGTERM, then SIGKILL after SIGTERM_TIMEOUT (5 s).
    await stopDaemon(() => runningPid(dir), { waitMs: 5000, kill: true });
  }
}

/** `Keepalived v2.2.7 (01/16,2022)` → whether it is 2.0.3 or later. */
export function noTrackSupported(versionOutput: string): boolean {
  const m = /Keepalived v(\d+)\.(\d+)\.(\d+)/.exec(versionOutput);
  if (!m) return false;
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return a > 2 || (a === 2 && (b > 0 || c >= 3));
}

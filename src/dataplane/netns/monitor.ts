import { type ChildProcess, spawn } from 'node:child_process';
import { TOOL_PATH } from '../../util/which.js';

/**
 * `ip -o monitor <object> all-nsid` from the root namespace: events of every namespace that has an
 * id there, each line handed to `onLine` as it comes. One process for all namespaces, and it pins
 * none (a monitor inside a namespace would keep a deleted namespace alive). Restarted after a
 * second if it exits while wanted.
 */
class NetlinkMonitor {
  private child: ChildProcess | null = null;
  private buf = '';
  private stopped = false;
  private restart: NodeJS.Timeout | null = null;

  constructor(
    private readonly object: 'link' | 'address',
    private readonly onLine: (line: string) => void,
  ) {}

  start(): void {
    if (this.child || this.stopped) return;
    const child = spawn('ip', ['-o', 'monitor', this.object, 'all-nsid'], { stdio: ['ignore', 'pipe', 'ignore'], env: { PATH: TOOL_PATH, LC_ALL: 'C' } });
    this.child = child;
    this.buf = '';
    child.stdout!.on('data', (b: Buffer) => {
      this.buf += b.toString();
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.onLine(line);
      }
    });
    child.on('error', () => undefined);
    child.on('exit', () => {
      this.child = null;
      if (this.stopped || this.restart) return;
      this.restart = setTimeout(() => {
        this.restart = null;
        this.start();
      }, 1000);
      this.restart.unref();
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.restart) clearTimeout(this.restart);
    this.child?.kill();
    this.child = null;
  }
}

/**
 * Link events of other namespaces, so a link flap in an instance or router namespace — which
 * flushes its routes — is noticed at once: its veth's switch end loses carrier.
 */
export class LinkMonitor extends NetlinkMonitor {
  constructor(onLink: (ifname: string) => void) {
    super('link', (line) => {
      const name = parseMonitorLine(line);
      if (name) onLink(name);
    });
  }
}

/**
 * IPv4 address events on other namespaces' `ha-` devices: keepalived adding or removing an HA
 * router's primary VIP as it becomes or stops being the master, heard as
 * neutron-keepalived-state-change hears it (`ip monitor address` in the router's namespace),
 * without one process per router.
 */
export class HaAddressMonitor extends NetlinkMonitor {
  constructor(onTransition: () => void) {
    super('address', (line) => {
      if (parseAddressEvent(line)?.dev.startsWith('ha-')) onTransition();
    });
  }
}

/** The interface an event of another namespace is about (`[nsid 0]12: tap…@if2: <…>`), or null. */
export function parseMonitorLine(line: string): string | null {
  const m = /^\[nsid \d+\](?:Deleted )?\d+: ([^:@\s]+)/.exec(line);
  return m ? m[1] : null;
}

/**
 * An IPv4 address event of another namespace: `[nsid 3]Deleted 7: ifb1    inet 169.254.0.1/24
 * scope global ha-…\ …`. The name after the index is resolved in the monitor's own namespace (so
 * it is not the device's); the device is the address's label, which IPv4 addresses carry.
 */
export function parseAddressEvent(line: string): { deleted: boolean; cidr: string; dev: string } | null {
  const m = /^\[nsid \d+\](Deleted )?\d+: \S+\s+inet (\S+) .*?scope \S+ (?:\S+ )*?([^\s\\]+)\\/.exec(line);
  return m ? { deleted: !!m[1], cidr: m[2], dev: m[3] } : null;
}

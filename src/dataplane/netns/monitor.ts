import { type ChildProcess, spawn } from 'node:child_process';
import { TOOL_PATH } from '../../util/which.js';

/**
 * Link events of other namespaces, watched from the root namespace (`ip monitor link all-nsid`),
 * so a link flap in an instance or router namespace — which flushes its routes — is noticed at
 * once: its veth's switch end loses carrier. One process for all namespaces, and it pins none
 * (a monitor inside a namespace would keep a deleted namespace alive).
 */
export class LinkMonitor {
  private child: ChildProcess | null = null;
  private buf = '';
  private stopped = false;

  constructor(private readonly onLink: (ifname: string) => void) {}

  start(): void {
    if (this.child || this.stopped) return;
    const child = spawn('ip', ['-o', 'monitor', 'link', 'all-nsid'], { stdio: ['ignore', 'pipe', 'ignore'], env: { PATH: TOOL_PATH, LC_ALL: 'C' } });
    this.child = child;
    child.stdout!.on('data', (b: Buffer) => {
      this.buf += b.toString();
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const name = parseMonitorLine(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
        if (name) this.onLink(name);
      }
    });
    child.on('error', () => undefined);
    child.on('exit', () => {
      this.child = null;
    });
  }

  stop(): void {
    this.stopped = true;
    this.child?.kill();
    this.child = null;
  }
}

/** The interface an event of another namespace is about (`[nsid 0]12: tap…@if2: <…>`), or null. */
export function parseMonitorLine(line: string): string | null {
  const m = /^\[nsid \d+\](?:Deleted )?\d+: ([^:@\s]+)/.exec(line);
  return m ? m[1] : null;
}

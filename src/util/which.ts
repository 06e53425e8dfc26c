import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Where executables are looked for: PATH, then the sbin and bin directories root normally has
 * (a non-login shell or a service manager may leave them out, and ip, nft, haproxy live there).
 */
export const TOOL_PATH = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'].join(
  delimiter,
);

/** Full path of an executable on TOOL_PATH, or null. */
export function which(cmd: string): string | null {
  for (const d of TOOL_PATH.split(delimiter)) {
    if (!d) continue;
    const p = join(d, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

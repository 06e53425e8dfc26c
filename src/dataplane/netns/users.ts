import { readFileSync } from 'node:fs';

/**
 * Host users the data plane runs its own helpers as (load balancers' proxies). Instances run in
 * their own user namespaces (machines/), never as a host user.
 */
export interface InstanceUser {
  name: string;
  uid: number;
  gid: number;
}

/** Look a user up in /etc/passwd; refuses root (what runs as it parses tenants' traffic). */
export function resolveUser(name: string, passwd = '/etc/passwd'): InstanceUser {
  for (const line of readFileSync(passwd, 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user !== name || uid === undefined) continue;
    const u = { name, uid: Number(uid), gid: Number(gid) };
    if (u.uid === 0 || u.gid === 0) throw new Error(`user '${name}' is root; tenant-facing helpers never run as root`);
    return u;
  }
  throw new Error(`user '${name}' does not exist (see /etc/passwd)`);
}

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { consoleLogPath } from '../../src/core/compute/host.js';
import type { InstanceSpec } from '../../src/dataplane/netns/model.js';
import { InstanceProcesses, instanceDir, instanceDirName, personalityPath, resolveUser } from '../../src/dataplane/netns/processes.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ps-proc-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const spec: InstanceSpec = {
  id: '0f0f0f0f-1111-2222-3333-444444444444',
  ns: 'no-such-namespace',
  running: true,
  userData: '#!/bin/sh\necho hi\n',
  bootGeneration: 0,
  frozen: null,
  rescue: false,
  files: [],
};

describe('instance processes', () => {
  it('keep the console log where compute reads it', () => {
    const dataDir = tmp();
    expect(join(instanceDir(dataDir, spec.id), 'console.log')).toBe(consoleLogPath(dataDir, spec.id));
    // An id that is not a plain name never becomes a path of its own.
    expect(instanceDirName('../../etc')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('do not run user_data unless the cloud enables it, and say so on the console', async () => {
    const dataDir = tmp();
    const p = new InstanceProcesses({ dataDir, user: null, runUserData: false });
    expect(await p.reconcile(spec, 1234)).toBe('booted');
    const log = readFileSync(consoleLogPath(dataDir, spec.id), 'utf8');
    expect(log).toMatch(/booting/);
    expect(log).toMatch(/user_data not run: running user_data is disabled/);
    expect(statSync(instanceDir(dataDir, spec.id)).mode & 0o777).toBe(0o700);
    // Booted once for this namespace incarnation and generation: nothing again.
    expect(await p.reconcile(spec, 1234)).toBe('unchanged');
    // A reboot (new generation) or a rebuilt namespace (new inode) boots again.
    expect(await p.reconcile({ ...spec, bootGeneration: 1 }, 1234)).toBe('booted');
    expect(await p.reconcile({ ...spec, bootGeneration: 1 }, 999)).toBe('booted');
    expect(await p.reconcile({ ...spec, running: false, bootGeneration: 1 }, 999)).toBe('stopped');
    expect(await p.reconcile({ ...spec, running: false, bootGeneration: 1 }, 999)).toBe('unchanged');
    expect(await p.reconcile({ ...spec, bootGeneration: 1 }, 999)).toBe('booted');
  });

  it('write personality files under files/ in the instance, never outside it', async () => {
    const dataDir = tmp();
    const p = new InstanceProcesses({ dataDir, user: null, runUserData: false });
    const files = [
      { path: '/etc/motd', contents: Buffer.from('hello\n').toString('base64') },
      { path: '../../escape', contents: Buffer.from('no').toString('base64') },
    ];
    await p.reconcile({ ...spec, files }, 7);
    const dir = instanceDir(dataDir, spec.id);
    expect(readFileSync(join(dir, 'files', 'etc', 'motd'), 'utf8')).toBe('hello\n');
    expect(personalityPath(dir, '../../escape')).toBe(join(dir, 'files', 'escape'));
    expect(personalityPath(dir, '/')).toBeNull();
  });

  it('freeze and thaw without booting again, and boot the rescue image without user_data', async () => {
    const dataDir = tmp();
    const p = new InstanceProcesses({ dataDir, user: null, runUserData: false });
    expect(await p.reconcile(spec, 5)).toBe('booted');
    expect(await p.reconcile({ ...spec, frozen: 'paused' }, 5)).toBe('frozen');
    expect(p.frozenAs(spec.id)).toBe('paused');
    expect(await p.reconcile({ ...spec, frozen: 'paused' }, 5)).toBe('unchanged');
    expect(await p.reconcile(spec, 5)).toBe('thawed');
    expect(p.frozenAs(spec.id)).toBeNull();
    expect(await p.reconcile({ ...spec, rescue: true, bootGeneration: 1 }, 5)).toBe('booted');
    const log = readFileSync(consoleLogPath(dataDir, spec.id), 'utf8');
    expect(log).toMatch(/booting its rescue image/);
    expect(log.match(/user_data not run/g)).toHaveLength(1);
  });

  it('run nothing for user_data that is not a script', async () => {
    const dataDir = tmp();
    const p = new InstanceProcesses({ dataDir, user: null, runUserData: true });
    await p.reconcile({ ...spec, userData: '#cloud-config\npackages: [nginx]\n' }, 1);
    expect(readFileSync(consoleLogPath(dataDir, spec.id), 'utf8')).toMatch(/not a script/);
  });

  it('never resolve the instance user to root', () => {
    const dir = tmp();
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\ntoor:x:0:5::/:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
    expect(resolveUser('nobody', passwd)).toEqual({ name: 'nobody', uid: 65534, gid: 65534 });
    expect(() => resolveUser('root', passwd)).toThrow(/root/);
    expect(() => resolveUser('toor', passwd)).toThrow(/root/);
    expect(() => resolveUser('ghost', passwd)).toThrow(/does not exist/);
  });
});

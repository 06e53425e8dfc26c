import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { consoleLogPath } from '../../src/core/compute/host.js';
import { dhcpDeviceId, uuid5 } from '../../src/core/network/agents.js';
import { planDhcpPorts } from '../../src/dataplane/netns/dhcp/agent.js';
import { freezeWrite, groupDirs, limitWrites, parseFrozen, parseOomKills, procsFiles } from '../../src/dataplane/netns/machines/cgroups.js';
import { isStaticElf, parseLdd } from '../../src/dataplane/netns/machines/cirros.js';
import { JSON_AWK } from '../../src/dataplane/netns/machines/init.js';
import { MachinePaths, instanceDirName, personalityPath } from '../../src/dataplane/netns/machines/paths.js';
import { classifyImage, tarFailure } from '../../src/dataplane/netns/machines/rootfs.js';
import { looksLikeTar, writeTar } from '../../src/dataplane/netns/machines/tar.js';
import type { Desired, MachineSpec } from '../../src/dataplane/netns/model.js';
import { ownerKey } from '../../src/dataplane/netns/owners.js';
import { instanceReports } from '../../src/dataplane/netns/status.js';
import { resolveUser } from '../../src/dataplane/netns/users.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ps-machines-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('root file system images', () => {
  it('writes a ustar archive GNU tar reads back: owners, modes, links, long paths', () => {
    const long = `${'d'.repeat(90)}/${'e'.repeat(60)}`;
    const tar = writeTar([
      { type: 'dir', path: 'etc', mode: 0o755 },
      { type: 'file', path: 'etc/hostname', mode: 0o644, data: Buffer.from('cirros\n') },
      { type: 'dir', path: 'home/cirros', mode: 0o700, uid: 1000, gid: 1000 },
      { type: 'symlink', path: 'bin/sh', target: 'busybox' },
      { type: 'dir', path: long.slice(0, 90), mode: 0o755 },
      { type: 'file', path: long, mode: 0o600, data: Buffer.alloc(1000, 1) },
    ]);
    expect(tar.length % 512).toBe(0);
    expect(looksLikeTar(tar.subarray(0, 512))).toBe(true);
    const file = join(tmp(), 'a.tar');
    writeFileSync(file, tar);
    const list = execFileSync('tar', ['-tvf', file, '--numeric-owner'], { encoding: 'utf8' });
    expect(list).toMatch(/drwx------ 1000\/1000 +0 2014-10-01 00:00 home\/cirros\//);
    expect(list).toMatch(/lrwxrwxrwx 0\/0 +0 2014-10-01 00:00 bin\/sh -> busybox/);
    expect(list).toMatch(/-rw-r--r-- 0\/0 +7 2014-10-01 00:00 etc\/hostname/);
    expect(list).toContain(long);
    // Deterministic: the same entries make the same bytes (and the same Glance checksum).
    expect(writeTar([{ type: 'file', path: 'x', mode: 0o644, data: Buffer.from('1') }])).toEqual(
      writeTar([{ type: 'file', path: 'x', mode: 0o644, data: Buffer.from('1') }]),
    );
  });

  it('tells archives, disks and what cannot boot apart by their bytes, not their labels', () => {
    const tar = writeTar([{ type: 'dir', path: 'etc', mode: 0o755 }]).subarray(0, 1024);
    expect(classifyImage(tar, tar.length)).toEqual({ kind: 'tar', flags: [] });
    expect(classifyImage(Buffer.from([0x1f, 0x8b, 8, 0]), 100)).toEqual({ kind: 'tar', flags: ['-z'] });
    expect(classifyImage(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), 100)).toEqual({ kind: 'tar', flags: ['-J'] });
    expect(classifyImage(Buffer.from('BZh91AY'), 100)).toEqual({ kind: 'tar', flags: ['-j'] });
    expect(classifyImage(Buffer.from('QFI\xfb\0\0\0\x03', 'latin1'), 100)).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/qcow2/) });
    expect(classifyImage(Buffer.alloc(0), 0)).toEqual({ kind: 'refused', reason: 'the image has no data' });
    expect(classifyImage(Buffer.alloc(1024), 1 << 20)).toEqual({ kind: 'raw' });
  });

  it("treats tar's complaints about owners and device nodes as harmless, anything else as a refusal", () => {
    expect(tarFailure(0, '')).toBeNull();
    expect(
      tarFailure(2, 'tar: ./x: Cannot change ownership to uid 70000, gid 0: Invalid argument\ntar: Exiting with failure status due to previous errors\n'),
    ).toBeNull();
    expect(tarFailure(2, 'tar: ./dev/null: Cannot mknod: Operation not permitted\n')).toBeNull();
    expect(tarFailure(2, 'tar: This does not look like a tar archive\ntar: Exiting with failure status due to previous errors\n')).toBe(
      'tar: This does not look like a tar archive',
    );
  });

  it('finds static executables and the libraries ldd names', () => {
    expect(isStaticElf(readFileSync('/bin/ls'))).toBe(false);
    expect(isStaticElf(Buffer.from('#!/bin/sh\n'))).toBe(false);
    if (existsSync('/bin/busybox')) {
      const dynamic = spawnSync('ldd', ['/bin/busybox'], { encoding: 'utf8' }).stdout.includes('=>');
      expect(isStaticElf(readFileSync('/bin/busybox'))).toBe(!dynamic);
    }
    expect(
      parseLdd(
        '\tlinux-vdso.so.1 (0x00007ffd)\n\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n',
      ),
    ).toEqual(['/lib/x86_64-linux-gnu/libz.so.1', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
  });
});

describe('flavors as control groups', () => {
  const v1 = { version: 1 as const, root: '/sys/fs/cgroup' };
  const v2 = { version: 2 as const, root: '/sys/fs/cgroup' };

  it('writes RAM, vCPUs and a process cap on cgroup v2', () => {
    expect(limitWrites(v2, 'pocketstack-ps', 'psi-x', { vcpus: 2, ramMb: 64, pids: 2048 }, null, false)).toEqual([
      { file: 'pocketstack-ps/psi-x/memory.max', value: String(64 * 1024 * 1024) },
      { file: 'pocketstack-ps/psi-x/memory.swap.max', value: '0' },
      { file: 'pocketstack-ps/psi-x/cpu.max', value: '200000 100000' },
      { file: 'pocketstack-ps/psi-x/pids.max', value: '2048' },
    ]);
    expect(procsFiles(v2, 'pocketstack-ps', 'psi-x')).toEqual(['/sys/fs/cgroup/pocketstack-ps/psi-x/cgroup.procs']);
    expect(freezeWrite(v2, 'p', 'n', true)).toEqual({ file: 'p/n/cgroup.freeze', value: '1' });
    expect(parseFrozen(v2, 'populated 1\nfrozen 1\n')).toBe(true);
  });

  it('on v1 orders the memory and memory+swap limits so each write is valid (lowering and raising)', () => {
    const mem = (w: Array<{ file: string }>) => w.filter((x) => x.file.startsWith('memory/')).map((x) => x.file.split('/').pop());
    expect(mem(limitWrites(v1, 'p', 'n', { vcpus: 1, ramMb: 64, pids: 10 }, 512, true))).toEqual(['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']);
    expect(mem(limitWrites(v1, 'p', 'n', { vcpus: 1, ramMb: 2048, pids: 10 }, 512, true))).toEqual(['memory.memsw.limit_in_bytes', 'memory.limit_in_bytes']);
    expect(limitWrites(v1, 'p', 'n', { vcpus: 1, ramMb: 64, pids: 10 }, null, false).map((w) => w.file)).toEqual([
      'memory/p/n/memory.limit_in_bytes',
      'cpu/p/n/cpu.cfs_period_us',
      'cpu/p/n/cpu.cfs_quota_us',
      'pids/p/n/pids.max',
    ]);
    expect(groupDirs(v1, 'p', 'n')).toEqual(['memory/p/n', 'cpu/p/n', 'pids/p/n', 'freezer/p/n']);
    expect(freezeWrite(v1, 'p', 'n', false)).toEqual({ file: 'freezer/p/n/freezer.state', value: 'THAWED' });
    expect(parseFrozen(v1, 'FROZEN\n')).toBe(true);
  });

  it("counts the OOM killer's kills on either hierarchy", () => {
    expect(parseOomKills('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n')).toBe(3);
    expect(parseOomKills('low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n')).toBe(2);
    expect(parseOomKills('')).toBe(0);
  });
});

describe('where instances live', () => {
  it('keeps the console log where compute reads it, and never makes a path of an odd id', () => {
    const paths = new MachinePaths('/data', 'ps');
    expect(paths.console('0f0f0f0f-1111-2222-3333-444444444444')).toBe(consoleLogPath('/data', '0f0f0f0f-1111-2222-3333-444444444444'));
    expect(instanceDirName('../../etc')).toMatch(/^[0-9a-f]{64}$/);
    expect(paths.userns('psi-0f0f0f0f-11')).toBe('/run/pocketstack/ps/userns/psi-0f0f0f0f-11');
    expect(paths.writes('id', 'psi-x', true).upper).toBe('/run/pocketstack/ps/disks/psi-x/upper');
    expect(paths.writes('id', 'psi-x', false).upper).toBe('/data/instances/id/disk/upper');
    // A rescue's writes are its own, beside the instance's disk (which the rescue mounts at /mnt/disk).
    expect(paths.rescueWrites('id').upper).toBe('/data/instances/id/rescue/upper');
  });

  it('gives the init personality files as absolute paths inside the instance, one per line', () => {
    expect(personalityPath('/etc/motd')).toBe('/etc/motd');
    expect(personalityPath('etc//motd')).toBe('/etc/motd');
    expect(personalityPath('../../etc/passwd')).toBe('/etc/passwd');
    expect(personalityPath('/a b/c')).toBe('/a b/c');
    expect(personalityPath('/')).toBeNull();
    expect(personalityPath('/etc/x\n/etc/shadow')).toBeNull();
  });

  it('never resolves a tenant-facing helper user to root', () => {
    const dir = tmp();
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\ntoor:x:0:5::/:/bin/sh\nhaproxy:x:108:113::/var/lib/haproxy:/usr/sbin/nologin\n');
    expect(resolveUser('haproxy', passwd)).toEqual({ name: 'haproxy', uid: 108, gid: 113 });
    expect(() => resolveUser('root', passwd)).toThrow(/root/);
    expect(() => resolveUser('toor', passwd)).toThrow(/root/);
    expect(() => resolveUser('ghost', passwd)).toThrow(/does not exist/);
  });
});

describe("the init's JSON reader (busybox awk)", () => {
  const awk = existsSync('/bin/busybox') ? ['/bin/busybox', 'awk'] : ['awk'];
  const flat = (json: string) => {
    const dir = tmp();
    writeFileSync(join(dir, 'json.awk'), JSON_AWK);
    return execFileSync(awk[0], [...awk.slice(1), '-f', join(dir, 'json.awk')], { input: json, encoding: 'utf8' });
  };

  it('flattens network_data.json and meta_data.json into path/value lines', () => {
    const out = flat(
      '{"links": [{"id": "tap1", "mtu": null, "ethernet_mac_address": "fa:16:3e:00:00:01"}], "networks": [{"id": "network0", "type": "ipv4", "routes": [{"network": "0.0.0.0", "gateway": "10.0.0.1"}]}], "services": []}',
    );
    expect(out.split('\n')).toEqual(
      expect.arrayContaining([
        'links.0.id\ttap1',
        'links.0.mtu\tnull',
        'links.0.ethernet_mac_address\tfa:16:3e:00:00:01',
        'networks.0.type\tipv4',
        'networks.0.routes.0.gateway\t10.0.0.1',
      ]),
    );
    expect(flat('{"public_keys": {"my.key": "ssh-rsa AAA x@y"}, "hostname": "a \\"b\\"", "n": 3}')).toBe(
      'public_keys.my.key\tssh-rsa AAA x@y\nhostname\ta "b"\nn\t3\n',
    );
  });
});

describe("the DHCP agent's ports", () => {
  it('names them as Neutron does: dhcp<uuid5(host)>-<network>', () => {
    expect(uuid5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
    expect(dhcpDeviceId('n1', 'host1.example.org')).toBe(`dhcp${uuid5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'host1')}-n1`);
  });

  it('makes one per served network with an address on each DHCP subnet, follows enable_dhcp, removes the rest', () => {
    const plan = planDhcpPorts(
      [
        { id: 'new', projectId: 'p', dhcpSubnets: ['s1', 's2'] },
        { id: 'same', projectId: 'p', dhcpSubnets: ['s3'] },
        { id: 'grown', projectId: 'p', dhcpSubnets: ['s4', 's5'] },
        { id: 'off', projectId: 'p', dhcpSubnets: [] },
      ],
      [
        { id: 'p-same', networkId: 'same', fixedIps: [{ subnetId: 's3', ipAddress: '10.0.3.2' }] },
        { id: 'p-grown', networkId: 'grown', fixedIps: [{ subnetId: 's4', ipAddress: '10.0.4.2' }] },
        { id: 'p-off', networkId: 'off', fixedIps: [{ subnetId: 's6', ipAddress: '10.0.6.2' }] },
        { id: 'p-gone', networkId: 'deleted', fixedIps: [] },
      ],
      [{ id: 'p-reserved', networkId: 'new' }],
    );
    expect(plan).toEqual({
      // A port reserved when the network left the agent is taken back (its addresses kept).
      create: [{ networkId: 'new', projectId: 'p', subnets: ['s1', 's2'], reserved: 'p-reserved' }],
      update: [{ portId: 'p-grown', fixedIps: [{ subnet_id: 's4', ip_address: '10.0.4.2' }, { subnet_id: 's5' }] }],
      delete: ['p-off', 'p-gone'],
    });
  });
});

describe("the data directory's privacy sweep and the machines' trees", () => {
  it('leaves image trees and instances’ own files alone, not their console logs and state', async () => {
    const { machineTrees } = await import('../../src/dataplane/netns/machines/paths.js');
    const keep = machineTrees('/d');
    expect(keep('/d/rootfs')).toBe(false);
    expect(keep('/d/rootfs/abc/bin/busybox')).toBe(true);
    expect(keep('/d/instances/i1')).toBe(false);
    expect(keep('/d/instances/i1/console.log')).toBe(false);
    expect(keep('/d/instances/i1/state.json')).toBe(false);
    expect(keep('/d/instances/i1/.ps')).toBe(true);
    expect(keep('/d/instances/i1/disk/upper/etc')).toBe(true);
    expect(keep('/d/pocketstack.db')).toBe(false);
  });
});

describe('what an instance host reports', () => {
  const machine: MachineSpec = {
    hostname: 'vm',
    image: null,
    flavor: { name: 'm1.nano', vcpus: 1, ramMb: 64, diskGb: 0 },
    rootGeneration: 0,
    configDrive: false,
    rescue: null,
    files: [],
  };
  const desired = (instances: Desired['instances']) => ({ wired: new Map(), instances }) as unknown as Desired;
  const existing = new Map([
    ['ns-a', 1],
    ['ns-b', 2],
    ['ns-c', 3],
  ]);

  it("reports a machine's power as its runner sees it (frozen: paused or suspended, as asked), a bare namespace's as asked", () => {
    const reports = instanceReports(
      desired([
        { id: 'a', ns: 'ns-a', power: 'suspended', bootGeneration: 1, machine },
        { id: 'b', ns: 'ns-b', power: 'paused', bootGeneration: 2 },
        { id: 'c', ns: 'ns-c', power: 'running', bootGeneration: 3, machine },
      ]),
      new Map(),
      existing,
      (i) => (i.id === 'a' ? 'suspended' : null),
    );
    // c has not booted yet: nothing to say about it.
    expect(reports).toEqual([
      { id: 'a', report: { power: 'suspended', rebootSeq: 1 } },
      { id: 'b', report: { power: 'paused', rebootSeq: 2 } },
    ]);
  });

  it('reports a machine that could not be made or started as a spawn failure (compute reschedules its build)', () => {
    const reason = 'init exited with status 1';
    const reports = instanceReports(
      desired([{ id: 'c', ns: 'ns-c', power: 'running', bootGeneration: 3, machine }]),
      new Map([[ownerKey.instance('c'), reason]]),
      existing,
      () => null,
    );
    expect(reports).toEqual([{ id: 'c', report: { power: 'shutdown', rebootSeq: 3, error: reason, spawnFailed: true } }]);
  });
});

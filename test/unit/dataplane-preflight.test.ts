import { describe, expect, it } from 'vitest';
import * as fsApi from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lockApi from '../../src/dataplane/netns/preflight.js';
import { preflight } from '../../src/dataplane/netns/preflight.js';

describe('netns preflight', () => {
  it('refuses without root, saying what to do instead', async () => {
    expect(await preflight({ uid: 1000, which: () => '/usr/sbin/x' })).toMatch(/needs root.*--dataplane noop/);
  });

  it('names the missing tools and the Debian packages that provide them', async () => {
    const why = await preflight({ uid: 0, which: (t) => (t === 'nft' || t === 'conntrack' ? null : `/usr/sbin/${t}`) });
    expect(why).toBe('the netns data plane needs nft, conntrack: apt-get install nftables conntrack');
  });

  it('passes when everything is there', async () => {
    expect(await preflight({ uid: 0, which: (t) => `/usr/sbin/${t}` })).toBeNull();
  });
});

describe('one data plane per prefix', () => {
  it('refuses a second live owner and takes over from a dead one', () => {
    const dir = fsApi.mkdtempSync(join(tmpdir(), 'ps-lock-'));
    try {
      const { takeLock, releaseLock, lockPath } = lockApi;
      // pid 1 is always alive: another owner.
      fsApi.writeFileSync(lockPath('zq', dir), '1\n');
      expect(() => takeLock('zq', process.pid, dir)).toThrow(/another PocketStack \(pid 1\)/);
      // A pid that cannot exist: a crashed owner's leftover.
      fsApi.writeFileSync(lockPath('zq', dir), '999999999\n');
      takeLock('zq', process.pid, dir);
      expect(fsApi.readFileSync(lockPath('zq', dir), 'utf8')).toBe(`${process.pid}\n`);
      releaseLock('zq', process.pid, dir);
      expect(fsApi.existsSync(lockPath('zq', dir))).toBe(false);
    } finally {
      fsApi.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a bridge mapping whose bridge does not exist, or is not a bridge, as the agent's validate_bridge_mappings", async () => {
    expect(await lockApi.missingMappedBridges(undefined)).toBeNull();
    expect(await lockApi.missingMappedBridges(new Map([['physnet1', 'psnosuchbr0']]))).toBe(
      'Linux bridge psnosuchbr0 for physical network physnet1 does not exist',
    );
    expect(await lockApi.missingMappedBridges(new Map([['physnet1', 'lo']]))).toBe('Linux bridge lo for physical network physnet1 does not exist');
  });
});

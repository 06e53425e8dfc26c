import { describe, expect, it } from 'vitest';
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

import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';

/**
 * The public network's host side (172.24.4.1 on a host leg, as DevStack's br-ex) can belong to
 * one data plane at a time: a second one refuses to shadow it. Suites that need it take this
 * lock, so data-plane suites of several clouds on one machine (other prefixes, other worktrees)
 * take turns instead of failing each other. A lock left by a dead process is taken over.
 */
const LOCK = '/run/pocketstack/test-public-network.lock';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function lockPublicNetwork(timeoutMs = 9 * 60_000): Promise<() => void> {
  mkdirSync('/run/pocketstack', { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (Number(readFileSync(LOCK, 'utf8').trim()) === process.pid) rmSync(LOCK);
        } catch {
          // gone already
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(LOCK, 'utf8').trim());
    } catch {
      continue;
    }
    if (!holder || !alive(holder)) {
      rmSync(LOCK, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`the public network is held by pid ${holder} (${LOCK}) for too long`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

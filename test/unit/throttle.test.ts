/** Neutron's utils.throttler as keepalived's reloads use it (KeepalivedManager's throttled spawn). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Throttle } from '../../src/util/throttle.js';

describe('Throttle', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs the first call at once, puts off one that comes too soon, and drops the calls made while it waits', () => {
    const t = new Throttle(3000);
    const runs: number[] = [];
    t.call(() => runs.push(1));
    expect(runs).toEqual([1]);
    t.call(() => runs.push(2));
    t.call(() => runs.push(3));
    expect(runs).toEqual([1]);
    vi.advanceTimersByTime(2999);
    expect(runs).toEqual([1]);
    vi.advanceTimersByTime(1);
    expect(runs).toEqual([1, 2]);
    // Long after the last run, a call runs at once again.
    vi.advanceTimersByTime(5000);
    t.call(() => runs.push(4));
    expect(runs).toEqual([1, 2, 4]);
  });

  it('drops a put-off call when cancelled', () => {
    const t = new Throttle(1000);
    const runs: number[] = [];
    t.call(() => runs.push(1));
    t.call(() => runs.push(2));
    t.cancel();
    vi.advanceTimersByTime(5000);
    expect(runs).toEqual([1]);
  });
});

import { describe, expect, it } from 'vitest';
import { type IdleGcState, idleGcStep } from '../../src/util/idlegc.js';

/** Feed utilisation samples (one a second) and return the indexes of the samples that collected. */
function collections(samples: number[]): number[] {
  let state: IdleGcState = { dirty: false, recent: [] };
  const out: number[] = [];
  samples.forEach((u, i) => {
    const step = idleGcStep(state, u);
    state = step.state;
    if (step.collect) out.push(i);
  });
  return out;
}

describe('idle collection after a burst', () => {
  it('never collects a server that did no work', () => {
    expect(collections(Array(60).fill(0.01))).toEqual([]);
  });

  it('collects once, after six quiet seconds following a burst', () => {
    expect(collections([0.9, 0.9, 0.9, ...Array(30).fill(0.01)])).toEqual([8]);
  });

  it('waits while requests keep coming, then collects', () => {
    const trickle = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? 0.3 : 0.01));
    // The trickle's mean (0.11) is not quiet; the six quiet seconds after its last busy one are.
    expect(collections([0.8, ...trickle, ...Array(10).fill(0.01)])).toEqual([25]);
  });

  it('takes periodic housekeeping for quiet, not for a new burst', () => {
    // A 10-second data-plane pass busy for a fifth of one second, after one burst.
    const idle = Array.from({ length: 40 }, (_, i) => (i % 10 === 0 ? 0.2 : 0.01));
    expect(collections([0.9, ...idle])).toEqual([6]);
  });

  it('collects again after the next burst', () => {
    const quiet = Array(10).fill(0.01);
    expect(collections([0.7, ...quiet, 0.7, ...quiet])).toEqual([6, 17]);
  });
});

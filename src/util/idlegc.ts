import { performance } from 'node:perf_hooks';

/**
 * A full garbage collection once the server has gone quiet after a burst of work.
 *
 * V8 grows its old generation during a burst (each scavenge promotes what in-flight requests
 * still hold) and keeps those pages after the burst: its memory reducer
 * (v8/src/heap/memory-reducer.cc) only compacts when it sees a low allocation rate at its timer,
 * and the server's periodic work (the data plane's full pass every 10 s) keeps that rate above
 * its threshold, so an idle PocketStack at 10,000 ports kept ~120 MB of heap for ~40 MB of live
 * objects indefinitely (README, Benchmark). Collecting once when the event loop has been nearly
 * idle for a while returns those pages to the system.
 *
 * Sound because a collection only frees what nothing can reach: it changes no behaviour, only
 * when memory is given back. Its price is one pause of the event loop (tens of ms at 40 MB live),
 * taken only after a quiet period, and at most once per busy period.
 */

/** What the sampler remembers between samples of event-loop utilisation (each 0..1). */
export interface IdleGcState {
  /** Work happened since the last collection (a sample at or above `busy`). */
  dirty: boolean;
  /** The latest samples, oldest first, at most `quietFor` of them. */
  recent: number[];
}

interface IdleGcPolicy {
  /** Utilisation at or above which a sample counts as work (requests, not housekeeping). */
  busy: number;
  /** Mean utilisation over the last `quietFor` samples below which the server counts as quiet. */
  quiet: number;
  /**
   * Samples (seconds) the quiet must last. Six: V8 shrinks its young generation at a full
   * collection only when its allocation rate over the last 5 s is low (Heap::ReduceNewSpaceSize).
   */
  quietFor: number;
}

// The mean, not every sample: at 10,000 ports the data plane's periodic pass (every 10 s) keeps
// the loop busy for a sizeable part of one second, which is housekeeping, not a burst.
const DEFAULT_IDLE_GC_POLICY: IdleGcPolicy = { busy: 0.5, quiet: 0.05, quietFor: 6 };

/** The next state after one utilisation sample, and whether to collect now. Pure: the timer below applies it. */
export function idleGcStep(state: IdleGcState, utilization: number, policy: IdleGcPolicy = DEFAULT_IDLE_GC_POLICY): { state: IdleGcState; collect: boolean } {
  const dirty = state.dirty || utilization >= policy.busy;
  const recent = [...state.recent, utilization].slice(-policy.quietFor);
  const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
  if (dirty && recent.length === policy.quietFor && mean < policy.quiet) return { state: { dirty: false, recent: [] }, collect: true };
  return { state: { dirty, recent }, collect: false };
}

/**
 * Sample event-loop utilisation every `intervalMs` and collect when `idleGcStep` says so. `gc` is
 * V8's collector as `node --expose-gc` exposes it (bin/pocketstack passes the flag); without it
 * (a server embedded in a test process, `node dist/cli/main.js`) nothing is started.
 * Returns a function that stops the timer.
 */
export function startIdleGc(gc: (() => void) | undefined = exposedGc(), intervalMs = 1000): () => void {
  if (!gc) return () => undefined;
  let state: IdleGcState = { dirty: false, recent: [] };
  let last = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const step = idleGcStep(state, performance.eventLoopUtilization(now, last).utilization);
    last = now;
    state = step.state;
    if (step.collect) {
      gc();
      // The collection's own pause is not work to collect after.
      last = performance.eventLoopUtilization();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
}

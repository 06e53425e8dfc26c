/**
 * Neutron's utils.throttler, for calls that must not come in a burst: a call runs at once unless
 * the last one ran less than `thresholdMs` ago; then it is put off until the threshold has passed
 * (not dropped). Calls made while one is put off are dropped: the put-off one stands for them
 * (throttled calls do the same thing each time, as a reload does), where Neutron's throttler runs
 * each in turn, a threshold apart.
 */
export class Throttle {
  private last = Number.NEGATIVE_INFINITY;
  private pending: NodeJS.Timeout | null = null;

  constructor(private readonly thresholdMs: number) {}

  call(fn: () => void): void {
    if (this.pending) return;
    const run = () => {
      this.pending = null;
      this.last = Date.now();
      fn();
    };
    const wait = this.last + this.thresholdMs - Date.now();
    if (wait <= 0) {
      run();
      return;
    }
    this.pending = setTimeout(run, wait);
    this.pending.unref();
  }

  /** Drop a put-off call. */
  cancel(): void {
    if (this.pending) clearTimeout(this.pending);
    this.pending = null;
  }
}

/**
 * Runs `pass` whenever kicked, one at a time, coalescing kicks that arrive while a pass runs
 * into exactly one more pass. Errors are reported, never thrown into the API.
 */
export class Reconciler {
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly onError: (e: unknown) => void,
    private readonly periodMs = 10_000,
    /** Called before each periodic kick (drivers mark the next pass as a full one). */
    private readonly onPeriod: () => void = () => undefined,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => {
      this.onPeriod();
      this.kick();
    }, this.periodMs);
    this.timer.unref();
    this.kick();
  }

  kick(): void {
    if (this.stopped) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (e) {
          this.onError(e);
        }
      } while (this.again && !this.stopped);
      this.running = null;
    })();
  }

  async idle(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.idle();
  }
}

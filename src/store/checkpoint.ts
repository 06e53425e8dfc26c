/**
 * SQLite's WAL checkpoints off the event loop.
 *
 * In WAL mode SQLite copies the log back into the database file every `wal_autocheckpoint`
 * pages (1,000), inside the COMMIT that crosses the mark, and with `synchronous = NORMAL` that
 * checkpoint is where the fsyncs happen. better-sqlite3 is synchronous, so that commit holds the
 * whole server: a port-create burst measured (issue 17's profile, 3,000 creates on 8 clients)
 * 155 commits of 2–41 ms — 5 % of the commits, 80 % of all the time spent committing — while the
 * other commits took 0.12 ms at the median.
 *
 * Here the server's connection does not checkpoint (`wal_autocheckpoint = 0`); a worker thread
 * with a connection of its own runs `PRAGMA wal_checkpoint(PASSIVE)` every 128 writes (about the
 * same 1,000 pages for a port create's dozen), and again while the last one left frames behind.
 * PASSIVE never waits for the writer: it copies the frames there were when it began. The log
 * starts from the beginning again (SQLite's WAL reset) only at a write that finds every frame
 * copied, which checkpoints racing a stream of commits may never leave: so when the log grows past
 * four times that size, the connection checkpoints once itself, between two transactions, where
 * nothing writes meanwhile — cheap then, as the worker has copied most of it — and the log is
 * reset at the next write. Between bursts the worker catches up and the log resets at the first
 * write after. The log's file keeps the largest size it reached (as SQLite leaves it) and a reset
 * log is written from its start again, so the file growing past that size means the log itself
 * is that long. Durability is unchanged: a commit is in the log when COMMIT returns,
 * and a checkpoint syncs the log before copying it and the database file after, as before. If the
 * worker cannot run (or dies), the connection checkpoints itself again as SQLite does by default.
 *
 * The worker's code is inline (a fixed script of ours, evaluated as the worker's entry) so the
 * same code runs from the sources, the compiled tree and the one-file bundle alike.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** SQLite's default `wal_autocheckpoint` (pages), the size past which a checkpoint is asked for. */
const CHECKPOINT_PAGES = 1000;
/** Writes between two checkpoints asked of the worker. */
const WRITES_PER_CHECKPOINT = 128;
/** A log of this many times CHECKPOINT_PAGES frames makes the connection checkpoint once itself. */
const INLINE_FACTOR = 4;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ ok: false, error: String(e && e.message) });
  }
});
`;

export interface CheckpointResult {
  ok: boolean;
  busy?: number;
  log?: number;
  checkpointed?: number;
  error?: string;
}

export class WalCheckpointer {
  private worker: Worker | null = null;
  private writes = 0;
  private inFlight = false;
  private failed = false;
  private readonly walPath: string;
  private readonly inlineBytes: number;
  /** The log file's size at the last look. */
  private walSize = 0;
  /** The log outgrew its bound: the connection checkpoints itself once the worker is idle. */
  private inlineDue = false;
  private chase: NodeJS.Timeout | null = null;
  /** Checkpoints the worker ran (tests read it). */
  checkpoints = 0;
  /** Checkpoints the connection ran itself because the log outgrew INLINE_FACTOR times the mark. */
  inlineCheckpoints = 0;

  constructor(
    private readonly raw: Database.Database,
    private readonly path: string,
    private readonly onError: (message: string) => void = () => undefined,
  ) {
    this.walPath = `${path}-wal`;
    this.inlineBytes = INLINE_FACTOR * CHECKPOINT_PAGES * (raw.pragma('page_size', { simple: true }) as number);
    raw.pragma('wal_autocheckpoint = 0');
  }

  /** After a statement that wrote (a COMMIT included): now and then, a checkpoint. */
  wrote(): void {
    if (this.failed) return;
    if (++this.writes % WRITES_PER_CHECKPOINT === 0) {
      const was = this.walSize;
      try {
        this.walSize = statSync(this.walPath).size;
      } catch {
        this.walSize = 0; // no log yet
      }
      if (this.walSize >= this.inlineBytes && this.walSize > was) this.inlineDue = true;
      if (!this.inlineDue && !this.inFlight) void this.request();
    }
    if (this.inlineDue) this.checkpointHere();
  }

  /**
   * The connection's own checkpoint, once the worker's last one has ended (no new request
   * meanwhile: with nothing else writing, this one copies every frame and the next write resets
   * the log) and only between transactions: SQLite refuses a checkpoint on a connection inside
   * one (SQLITE_LOCKED, "database table is locked"), and the store tells of every write
   * statement, most of them before their transaction's COMMIT. That COMMIT is a write too: the
   * checkpoint waits for it.
   */
  private checkpointHere(): void {
    if (this.inFlight || this.raw.inTransaction) return;
    try {
      const [r] = this.raw.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number }>;
      if (r?.busy === 0) {
        this.inlineCheckpoints++;
        this.inlineDue = false;
      }
    } catch (e) {
      this.onError(`checkpoint failed: ${(e as Error).message}`);
      this.inlineDue = false;
    }
  }

  /** Ask the worker for a checkpoint now; resolves with what SQLite answered. */
  request(): Promise<CheckpointResult> {
    const worker = this.ensureWorker();
    if (!worker) return Promise.resolve({ ok: false, error: 'no checkpoint worker' });
    this.inFlight = true;
    const writesBefore = this.writes;
    return new Promise((resolve) => {
      const onMessage = (r: CheckpointResult) => {
        worker.off('exit', onExit);
        this.inFlight = false;
        if (r.ok) {
          this.checkpoints++;
        } else this.onError(r.error ?? 'checkpoint failed');
        // Frames written while it ran are left (SQLite counts those there were when it began):
        // catch up soon, so a pause in the writes finds the log copied and the next write resets it.
        if (r.ok && (this.writes > writesBefore || (r.checkpointed ?? 0) < (r.log ?? 0)) && !this.chase && !this.failed && !this.inlineDue) {
          this.chase = setTimeout(() => {
            this.chase = null;
            if (!this.inFlight && !this.failed && !this.inlineDue) void this.request();
          }, 20);
          this.chase.unref();
        }
        resolve(r);
      };
      // A worker that dies before answering (its connection could not open) answers for it.
      const onExit = () => {
        worker.off('message', onMessage);
        resolve({ ok: false, error: 'checkpoint worker exited' });
      };
      worker.once('message', onMessage);
      worker.once('exit', onExit);
      worker.postMessage('checkpoint');
    });
  }

  private ensureWorker(): Worker | null {
    if (this.worker || this.failed) return this.worker;
    try {
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path: this.path, driver } });
      worker.unref();
      worker.on('error', (e) => this.fallBack(`checkpoint worker failed: ${e.message}`));
      worker.on('exit', () => {
        if (this.worker === worker) this.fallBack('checkpoint worker exited');
      });
      this.worker = worker;
      return worker;
    } catch (e) {
      this.fallBack(`checkpoint worker could not start: ${(e as Error).message}`);
      return null;
    }
  }

  /** The connection checkpoints itself again, as SQLite does by default. */
  private fallBack(why: string): void {
    if (this.failed) return;
    this.failed = true;
    this.worker = null;
    this.inFlight = false;
    this.onError(why);
    if (this.raw.open) this.raw.pragma(`wal_autocheckpoint = ${CHECKPOINT_PAGES}`);
  }

  /**
   * Before the connection closes: the worker's connection closes first, and this resolves once it
   * has. SQLite checkpoints and removes the -wal and -shm files at the last close, so the store's
   * own connection must be that last one, closed after this resolves: a worker that closed later
   * removed them after the store said it was closed (a test reading the data directory right after
   * a stop saw the -shm listed, then gone). A worker that has not ended within `waitMs` (a
   * checkpoint stuck behind busy_timeout) is left to end on its own.
   */
  close(waitMs = 10_000): Promise<void> {
    if (this.chase) clearTimeout(this.chase);
    const worker = this.worker;
    this.worker = null;
    this.failed = true;
    if (!worker) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      timer.unref();
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.postMessage('close');
    });
  }
}

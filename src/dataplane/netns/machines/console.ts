/**
 * An instance's console is a pseudo-terminal held by util-linux `script` (started detached with
 * the instance, so it outlives PocketStack): what the instance writes there is appended to
 * `console.log` (what os-getConsoleOutput returns), what is written into the FIFO `console.in`
 * is what the instance reads. A serial console session is both: the log's new bytes out, the
 * client's keystrokes in.
 */
import { closeSync, constants, existsSync, fstatSync, openSync, readSync, statSync, truncateSync, watch, writeSync } from 'node:fs';
import { run } from '../exec.js';

/** A console log is cut back to its last `KEEP` bytes once it grows past `MAX` (Nova shows at most 100 KiB). */
export const CONSOLE_MAX = 1024 * 1024;
const CONSOLE_KEEP = 256 * 1024;

export async function makeFifo(path: string): Promise<void> {
  if (existsSync(path)) return;
  await run('mkfifo', ['-m', '0600', path]);
}

/** Append host-side notes to the console log (what the hypervisor would print: OOM kills…). */
export function appendConsole(path: string, text: string): void {
  const fd = openSync(path, 'a', 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/**
 * Keep a console log bounded: the writer (`script`) appends (O_APPEND), so cutting the file down
 * to its tail loses nothing but what is older than the tail.
 */
export function trimConsole(path: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return;
  }
  if (size <= CONSOLE_MAX) return;
  const fd = openSync(path, 'r+');
  try {
    const tail = Buffer.alloc(CONSOLE_KEEP);
    const got = readSync(fd, tail, 0, CONSOLE_KEEP, size - CONSOLE_KEEP);
    truncateSync(path, 0);
    writeSync(fd, tail.subarray(0, got), 0, got, 0);
  } finally {
    closeSync(fd);
  }
}

export interface ConsoleSession {
  /** Keystrokes to the instance. */
  write(data: Buffer): void;
  close(): void;
}

/**
 * Attach to an instance's console: `onData` gets what it prints from now on (followed as the log
 * grows), `write` sends keystrokes. The FIFO is opened read-write, so attaching never blocks and
 * a session that goes away leaves the console as it was.
 */
export function attachConsole(log: string, input: string, onData: (b: Buffer) => void): ConsoleSession {
  const inFd = openSync(input, constants.O_RDWR | constants.O_NONBLOCK);
  const logFd = openSync(log, 'r');
  let offset = fstatSync(logFd).size;
  let closed = false;
  const pump = () => {
    if (closed) return;
    const size = fstatSync(logFd).size;
    if (size < offset) offset = 0;
    while (offset < size) {
      const buf = Buffer.alloc(Math.min(64 * 1024, size - offset));
      const got = readSync(logFd, buf, 0, buf.length, offset);
      if (got <= 0) break;
      offset += got;
      onData(buf.subarray(0, got));
    }
  };
  const watcher = watch(log, () => pump());
  watcher.on('error', () => undefined);
  // fs.watch may coalesce or miss events on some file systems: look again now and then.
  const timer = setInterval(pump, 250);
  timer.unref();
  return {
    write(data: Buffer) {
      if (closed) return;
      try {
        writeSync(inFd, data);
      } catch {
        // the console is not reading (the instance is stopped, or a full pipe): keystrokes are dropped
      }
    },
    close() {
      if (closed) return;
      closed = true;
      watcher.close();
      clearInterval(timer);
      closeSync(inFd);
      closeSync(logFd);
    },
  };
}

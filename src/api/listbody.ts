/**
 * Long list answers (`{"ports": [2,000 ports]}`) as JSON bytes, made without one large string
 * or one fresh large buffer each time.
 *
 * Why (issue 17's profile of a 2,000-port list, 2.3 MB): `JSON.stringify` of the whole answer
 * gives a string V8 keeps in parts until something reads it; the first reader (`Buffer.from`)
 * copied it whole into V8's large-object space, then copied it again into a buffer glibc mapped
 * fresh for it (`bin/pocketstack` sets an eager trim, so every block over 128 KB is its own
 * mapping), both paid page by page in faults: about 14 ms of the list's 40–45 ms of server CPU
 * went to `answerBody` (JSON.stringify and Buffer.from), not to UTF-8 encoding. Here the items are
 * stringified a slice at a time (each slice's text small enough for V8's young generation, where
 * it dies cheaply), and the slices are written into a buffer that is used again once Node has
 * handed the previous answer to the kernel. Encoding that answer alone went from 16 to 8.5 ms of
 * CPU (25 to 7 ms with bin/pocketstack's malloc settings; README, Benchmark).
 *
 * The bytes are exactly those of `JSON.stringify(payload)` encoded as UTF-8
 * (test/unit/listbody.test.ts compares them over random payloads).
 */

/** Lists shorter than this go through the usual serializer: slicing them would not pay. */
const MIN_ITEMS = 64;
/**
 * Slice sizes aim at texts between these lengths (characters), below V8's large-object
 * threshold (128 KB: `kMaxRegularHeapObjectSize`) even when every character takes two bytes.
 */
const SLICE_MIN_CHARS = 8 * 1024;
const SLICE_MAX_CHARS = 48 * 1024;

/**
 * Buffers kept for the next answers, and the largest kept (a bigger answer gets its own each
 * time): what a kept buffer costs is its written pages, at most 2 × 8 MB of RSS, in practice the
 * size of the longest lists asked for (2.3 MB for 2,000 ports).
 */
const POOL_SIZE = 2;
const POOL_MAX_BYTES = 8 * 1024 * 1024;
/** A new buffer's size; it doubles as an answer needs. */
const FIRST_BYTES = 256 * 1024;
const pool: Buffer[] = [];

/** A plain object or array, which `JSON.stringify` renders by its own keys (no `toJSON`). */
function plain(v: object, proto: object): boolean {
  return Object.getPrototypeOf(v) === proto && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** The answer has a top-level list long enough to encode in slices (`{"ports": [...]}`). */
export function isLongList(payload: unknown): payload is Record<string, unknown> {
  if (typeof payload !== 'object' || payload === null || !plain(payload, Object.prototype)) return false;
  for (const k in payload) {
    const v = (payload as Record<string, unknown>)[k];
    if (Array.isArray(v) && v.length >= MIN_ITEMS && plain(v, Array.prototype)) return true;
  }
  return false;
}

/**
 * Bytes written one text at a time into a buffer that grows by doubling: each text dies as soon
 * as it is written, so the young generation never has to keep (copy, promote) the answer's text.
 */
class ByteWriter {
  at = 0;
  constructor(public buf: Buffer) {}
  put(text: string): void {
    const n = Buffer.byteLength(text);
    this.write(text, n);
    this.at += n;
  }

  /**
   * A slice of items as `JSON.stringify` made it (`[a,b]`), without copying its text: its `[`
   * stays where it opens the list (`opens`), or becomes the comma after the items before it; its
   * `]` is left past `at`, for the next write to cover. A `text.slice(1, -1)` and a `,`-prefixed
   * template had each copied the whole text first (V8's allocation sampling of a 2,000-port list:
   * 22.2 MB allocated with them, 20.0 MB without). `[` and `]` are one byte in UTF-8 as in Latin-1.
   */
  putItems(text: string, opens: boolean): void {
    const n = Buffer.byteLength(text);
    this.write(text, n);
    if (!opens) this.buf[this.at] = 0x2c; // ','
    this.at += n - 1;
  }

  /** `text`, `n` bytes of UTF-8, at `at`, growing the buffer first if it must. */
  private write(text: string, n: number): void {
    if (this.at + n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.at + n));
      this.buf.copy(bigger, 0, 0, this.at);
      this.buf = bigger;
    }
    // The UTF-8 of ASCII text is its Latin-1, one byte a character: a plain copy (Node 20's UTF-8
    // encoder is several times slower). A byte length equal to the length means ASCII only.
    this.buf.write(text, this.at, n, n === text.length ? 'latin1' : 'utf8');
  }
}

/**
 * The items of a list into `out`, JSON-separated, a slice at a time, with the list's opening
 * bracket when `opens` (the closing one is the caller's); otherwise items were written before
 * these, so a comma comes first.
 */
function writeItems(out: ByteWriter, v: readonly unknown[], opens: boolean): void {
  if (opens && v.length === 0) out.put('[');
  let size = 32;
  for (let i = 0; i < v.length; ) {
    const text = JSON.stringify(v.slice(i, i + size));
    out.putItems(text, opens && i === 0);
    i += size;
    if (text.length > SLICE_MAX_CHARS && size > 1) size >>= 1;
    else if (text.length < SLICE_MIN_CHARS && size < 1024) size <<= 1;
  }
}

/**
 * One `"key":value` of an object after `sep`, or nothing, as JSON.stringify does for a key whose
 * value has no JSON (undefined, a function). Whether it was written.
 */
function putMember(out: ByteWriter, sep: string, key: string, v: unknown): boolean {
  const text = JSON.stringify(v) as string | undefined;
  if (text === undefined) return false;
  out.put(`${sep}${JSON.stringify(key)}:${text}`);
  return true;
}

/** `JSON.stringify(payload)` into `out`, a top-level list a slice of items at a time. */
function writeJson(out: ByteWriter, payload: Record<string, unknown>): void {
  let sep = '{';
  for (const key of Object.keys(payload)) {
    const v = payload[key];
    if (Array.isArray(v) && v.length >= MIN_ITEMS && plain(v, Array.prototype)) {
      out.put(`${sep}${JSON.stringify(key)}:`);
      writeItems(out, v, true);
      out.put(']');
    } else if (!putMember(out, sep, key, v)) continue;
    sep = ',';
  }
  out.put(sep === '{' ? '{}' : '}');
}

/**
 * A list answer as bytes, and what to call once Node has written them (the buffer is then free
 * for the next answer). Not calling it is safe: the buffer is then left to the garbage collector.
 */
export interface EncodedList {
  bytes: Buffer;
  release: () => void;
}

const newWriter = () => new ByteWriter(pool.pop() ?? Buffer.allocUnsafe(FIRST_BYTES));

function encoded(out: ByteWriter): EncodedList {
  const whole = out.buf;
  return {
    bytes: whole.subarray(0, out.at),
    release: () => {
      if (whole.length <= POOL_MAX_BYTES && pool.length < POOL_SIZE) pool.push(whole);
    },
  };
}

export function encodeLongList(payload: Record<string, unknown>): EncodedList {
  const out = newWriter();
  writeJson(out, payload);
  return encoded(out);
}

/**
 * A list answer (`{"ports": [...], "ports_links": [...]}`) made as its items come, a chunk at a
 * time (NetworkService.listEach), so no chunk outlives its own writing. Until MIN_ITEMS have come
 * the items are held; a list that ends shorter answers as a plain object, for the usual
 * serializer. The bytes are those of `JSON.stringify` of the whole answer, as encodeLongList's.
 * `key` and the keys of `rest` are the service's own names, never a client's.
 */
export class ListAnswer {
  #held: unknown[] = [];
  #out: ByteWriter | undefined;

  constructor(private readonly key: string) {}

  add(items: readonly unknown[]): void {
    if (this.#out) {
      writeItems(this.#out, items, false);
      return;
    }
    for (const item of items) this.#held.push(item);
    if (this.#held.length < MIN_ITEMS) return;
    this.#out = newWriter();
    this.#out.put(`{${JSON.stringify(this.key)}:`);
    writeItems(this.#out, this.#held, true);
    this.#held = [];
  }

  /** The whole answer: `rest` (the links) after the list, a key left out where its value is undefined. */
  end(rest: Record<string, unknown>): Record<string, unknown> | EncodedList {
    const out = this.#out;
    if (!out) return { [this.key]: this.#held, ...rest };
    out.put(']');
    for (const [k, v] of Object.entries(rest)) putMember(out, ',', k, v);
    out.put('}');
    return encoded(out);
  }
}

export const isEncodedList = (v: unknown): v is EncodedList => typeof v === 'object' && v !== null && Buffer.isBuffer((v as EncodedList).bytes);

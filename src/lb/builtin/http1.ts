/**
 * HTTP/1.x message framing for the built-in proxy: heads are parsed (strictly: CRLF lines,
 * token header names, no obsolete line folding, one message length), bodies are only delimited
 * and passed through byte for byte. Working on raw sockets instead of Node's `http` server and
 * client is what lets the built-in engine keep up with HAProxy (see `npm run bench`).
 */

export const MAX_HEAD = 64 * 1024;

export interface Head {
  /** Request: method; response: '' */
  method: string;
  /** Request target (path and query) */
  target: string;
  /** Response status code (0 for a request) */
  status: number;
  reason: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1 */
  minor: 0 | 1;
  /** Header fields in order, names as sent. */
  fields: Array<[string, string]>;
  /** The fields' names in lower case (same order). */
  names: string[];
  /** Bytes the head took, CRLF CRLF included. */
  length: number;
  /**
   * Every field line is exactly `Name: value` (one space, nothing trimmed): the head's bytes are
   * what `headText` would make of its first line and fields, so they can be forwarded as they are.
   */
  canonical?: boolean;
  /** A hop-by-hop field (`Connection`, `Keep-Alive`, …) is present: `endToEnd` drops something. */
  hopByHop?: boolean;
}

export class HttpParseError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** RFC 9110 tchar, by character code: a table, not a regular expression per header name. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+.^_`|~-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/** Is `text[from, to)` a token (non-empty)? */
function isToken(text: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);

/** Parse a head at the start of `buf`; null while incomplete. */
export function parseHead(buf: Buffer, kind: 'request' | 'response'): Head | null {
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0) {
    if (buf.length > MAX_HEAD) throw new HttpParseError('head too large', 431);
    return null;
  }
  if (end > MAX_HEAD) throw new HttpParseError('head too large', 431);
  const text = buf.toString('latin1', 0, end);
  const bad = kind === 'request' ? 400 : 502;
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  const first = text.slice(0, eol);
  const head: Head = { method: '', target: '', status: 0, reason: '', minor: 1, fields: [], names: [], length: end + 4 };
  if (kind === 'request') {
    const m = REQUEST_LINE.exec(first);
    if (!m) throw new HttpParseError('bad request line');
    head.method = m[1];
    head.target = m[2];
    head.minor = m[3] === '1' ? 1 : 0;
  } else {
    const m = STATUS_LINE.exec(first);
    if (!m) throw new HttpParseError('bad status line', 502);
    head.minor = m[1] === '1' ? 1 : 0;
    head.status = Number(m[2]);
    head.reason = m[3] ?? '';
  }
  let canonical = true;
  let hopByHop = false;
  let pos = eol + 2;
  while (pos < text.length) {
    let next = text.indexOf('\r\n', pos);
    if (next < 0) next = text.length;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon >= next) throw new HttpParseError('bad header line', bad);
    if (!isToken(text, pos, colon)) throw new HttpParseError('bad header name', bad);
    const name = text.slice(pos, colon);
    const value = text.slice(colon + 1, next).trim();
    // `Name: value` again only if the trim took exactly the one space after the colon.
    if (canonical && (text.charCodeAt(colon + 1) !== 32 || value.length !== next - colon - 2)) canonical = false;
    const lower = name.toLowerCase();
    if (!hopByHop && HOP_BY_HOP.has(lower)) hopByHop = true;
    head.fields.push([name, value]);
    head.names.push(lower);
    pos = next + 2;
  }
  head.canonical = canonical;
  head.hopByHop = hopByHop;
  return head;
}

/** A header's value (fields of that name joined with ", "); `name` in lower case; undefined if absent. */
export function header(h: Head, name: string): string | undefined {
  let out: string | undefined;
  const names = h.names;
  for (let i = 0; i < names.length; i++) {
    if (names[i] === name) out = out === undefined ? h.fields[i][1] : `${out}, ${h.fields[i][1]}`;
  }
  return out;
}

/** Does the Connection header list `token`? */
export function connectionHas(h: Head, token: string): boolean {
  const c = header(h, 'connection');
  if (c === undefined) return false;
  // One token (the usual case) needs no list.
  if (c.indexOf(',') < 0) return c.toLowerCase().trim() === token;
  return (
    c
      ?.toLowerCase()
      .split(',')
      .some((t) => t.trim() === token) ?? false
  );
}

export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

/** How a message body is delimited (RFC 9112 §6.3); refuses ambiguous messages (smuggling). */
export function framing(h: Head, kind: 'request' | 'response', requestMethod = ''): Framing {
  if (kind === 'response') {
    if (requestMethod === 'HEAD' || (h.status >= 100 && h.status < 200) || h.status === 204 || h.status === 304) return { kind: 'none' };
  }
  const te = header(h, 'transfer-encoding');
  const cl = header(h, 'content-length');
  const bad = (m: string) => new HttpParseError(m, kind === 'request' ? 400 : 502);
  if (te !== undefined) {
    if (cl !== undefined) throw bad('both Transfer-Encoding and Content-Length');
    const codings = te
      .toLowerCase()
      .split(',')
      .map((t) => t.trim());
    if (codings[codings.length - 1] !== 'chunked') {
      if (kind === 'request') throw bad('request body not chunked');
      return { kind: 'close' };
    }
    return { kind: 'chunked' };
  }
  if (cl !== undefined) {
    let v: string;
    // One value (the usual case) needs no set.
    if (cl.indexOf(',') < 0) v = cl.trim();
    else {
      const values = new Set(cl.split(',').map((x) => x.trim()));
      if (values.size !== 1) throw bad('conflicting Content-Length');
      v = [...values][0];
    }
    if (!/^\d{1,15}$/.test(v)) throw bad('bad Content-Length');
    const length = Number(v);
    return length === 0 ? { kind: 'none' } : { kind: 'length', length };
  }
  return kind === 'request' ? { kind: 'none' } : { kind: 'close' };
}

/**
 * Finds where a body ends while its bytes pass through unchanged. `feed` returns how many bytes
 * of `chunk` belong to the body (the rest is the next message) and whether it is complete.
 */
export class BodyDelimiter {
  private remaining = 0;
  /** Chunked: 'size' line, 'data', the CRLF after data, 'trailer' lines. */
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' = 'size';
  private line = '';
  done: boolean;

  constructor(private readonly f: Framing) {
    this.done = f.kind === 'none';
    if (f.kind === 'length') this.remaining = f.length;
  }

  feed(chunk: Buffer): number {
    if (this.done) return 0;
    if (this.f.kind === 'close') return chunk.length;
    if (this.f.kind === 'length') {
      const take = Math.min(this.remaining, chunk.length);
      this.remaining -= take;
      if (this.remaining === 0) this.done = true;
      return take;
    }
    let i = 0;
    while (i < chunk.length && !this.done) {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) {
          this.state = 'data-crlf';
          this.line = '';
        }
        continue;
      }
      // Line states: read up to LF.
      const lf = chunk.indexOf(10, i);
      const end = lf < 0 ? chunk.length : lf + 1;
      this.line += chunk.toString('latin1', i, end);
      i = end;
      if (this.line.length > 8192) throw new HttpParseError('chunk line too long');
      if (lf < 0) break;
      const text = this.line.replace(/\r?\n$/, '');
      this.line = '';
      if (this.state === 'data-crlf') {
        if (text !== '') throw new HttpParseError('bad chunk');
        this.state = 'size';
      } else if (this.state === 'size') {
        const m = /^([0-9A-Fa-f]{1,15})(?:\s*;.*)?$/.exec(text);
        if (!m) throw new HttpParseError('bad chunk size');
        this.remaining = Number.parseInt(m[1], 16);
        this.state = this.remaining === 0 ? 'trailer' : 'data';
      } else if (text === '') this.done = true;
    }
    return i;
  }
}

/** A head's text (CRLF lines; latin1, as parsed) from a first line and fields. */
export function headText(first: string, fields: Array<[string, string]>): string {
  let s = `${first}\r\n`;
  for (const [k, v] of fields) s += `${k}: ${v}\r\n`;
  return `${s}\r\n`;
}

export function serialiseHead(first: string, fields: Array<[string, string]>): Buffer {
  return Buffer.from(headText(first, fields), 'latin1');
}

/** The fields a proxy forwards: without hop-by-hop ones (and those the Connection header names). */
export function endToEnd(h: Head, keep?: string): Array<[string, string]> {
  // Nothing hop-by-hop, so no Connection header naming others either: every field goes on.
  if (h.hopByHop === false) return h.fields.slice();
  const connection = header(h, 'connection');
  // One token (the usual `keep-alive` or `close`) needs no set.
  const one = connection !== undefined && connection.indexOf(',') < 0 ? connection.toLowerCase().trim() : undefined;
  const named =
    connection && one === undefined
      ? new Set(
          connection
            .toLowerCase()
            .split(',')
            .map((t) => t.trim()),
        )
      : null;
  const out: Array<[string, string]> = [];
  for (let i = 0; i < h.fields.length; i++) {
    const n = h.names[i];
    if (n === keep || !(HOP_BY_HOP.has(n) || n === one || named?.has(n))) out.push(h.fields[i]);
  }
  return out;
}

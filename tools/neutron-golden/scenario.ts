/**
 * The scenario format: what the capture tool (capture.ts) sends to the real Neutron and what the
 * replayer (test/support/neutron-golden.ts) sends to PocketStack, step by step.
 *
 * - `as`: who calls. `admin` is an admin of its own project, `member` a plain member of project A,
 *   `alt` a plain member of project B. On the reference server these are noauth headers
 *   (X-Project-Id + X-Roles); on PocketStack, real Keystone tokens for fresh projects.
 * - `path` and `body` may hold `${var}`: the predefined `projectA`, `projectB`, `projectAdmin`, or
 *   a variable bound by an earlier step's `bind` (var -> dotted path into that step's response
 *   body, e.g. `{ net: 'network.id' }`, `{ port0: 'ports.0.id' }`). A string that is exactly
 *   `${var}` is replaced by the value itself (keeping its JSON type); elsewhere it is spliced in.
 * - `expect` is the status the author expects; the capture tool warns when the real server answers
 *   otherwise (the fixture keeps what the server said, never what the author guessed).
 *
 * Lists: every list a step asks for must be narrowed to what the scenario made (a name, an id, a
 * project filter or a fresh project's member), since the replayed cloud holds other objects
 * (PocketStack's `public` network, other scenarios' resources).
 */
export type Caller = 'admin' | 'member' | 'alt';
export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Step {
  name: string;
  as: Caller;
  method: Method;
  path: string;
  body?: unknown;
  bind?: Record<string, string>;
  expect?: number;
  note?: string;
}

export interface Scenario {
  /** The fixture's file name: test/fixtures/neutron-ext/<extension>.json. */
  extension: string;
  title: string;
  /** The `GET /v2.0/extensions` aliases the scenario exercises. */
  aliases: string[];
  steps: Step[];
}

type Opts = { bind?: Record<string, string>; expect?: number; note?: string };

/** A small builder so scenarios read as a list of calls. */
export class S {
  readonly steps: Step[] = [];
  constructor(
    readonly extension: string,
    readonly title: string,
    readonly aliases: string[],
  ) {}

  private add(as: Caller, method: Method, name: string, path: string, body: unknown, opts: Opts): this {
    if (this.steps.some((s) => s.name === name)) throw new Error(`${this.extension}: duplicate step name '${name}'`);
    this.steps.push({ name, as, method, path, ...(body !== undefined ? { body } : {}), ...opts });
    return this;
  }
  get(as: Caller, name: string, path: string, opts: Opts = {}) {
    return this.add(as, 'GET', name, path, undefined, opts);
  }
  post(as: Caller, name: string, path: string, body: unknown, opts: Opts = {}) {
    return this.add(as, 'POST', name, path, body, opts);
  }
  put(as: Caller, name: string, path: string, body: unknown, opts: Opts = {}) {
    return this.add(as, 'PUT', name, path, body, opts);
  }
  del(as: Caller, name: string, path: string, opts: Opts = {}) {
    return this.add(as, 'DELETE', name, path, undefined, opts);
  }
  done(): Scenario {
    return { extension: this.extension, title: this.title, aliases: this.aliases, steps: this.steps };
  }
}

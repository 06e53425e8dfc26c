import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  BinaryOperationNode,
  type Compilable,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type Expression,
  Kysely,
  type Dialect as KyselyDialect,
  type LimitNode,
  OperatorNode,
  PostgresAdapter,
  PostgresDialect,
  type PrimitiveValueListNode,
  type QueryResult,
  type RawBuilder,
  SqliteDialect,
  SqliteQueryCompiler,
  type Transaction,
  type TransactionSettings,
  ValueNode,
  sql,
} from 'kysely';
import { privateDir } from '../util/private.js';
import { WalCheckpointer } from './checkpoint.js';
import type { DB } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';
export type Tx = Transaction<DB>;
export type Q = Kysely<DB> | Tx;

export interface StoreOptions {
  /** `sqlite:<path>` (or a bare path) or `postgres://…`. */
  url: string;
  /** PostgreSQL closed a connection the pool held idle (restart, terminate); the pool opens another. */
  onIdleConnectionError?: (err: Error & { code?: string }) => void;
  /** SQLite's checkpoint worker failed (the connection checkpoints itself again; checkpoint.ts). */
  onCheckpointError?: (message: string) => void;
}

/**
 * How many times a transaction that collided runs: neutron_lib.db.api's MAX_RETRIES (20), which
 * retry_db_errors gives oslo.db's wrap_db_retry. Eight clients allocating from one fresh
 * subnet's single free range collide on that row until it fragments; the six attempts this store
 * made until then were not always enough on a loaded CI machine (one port create in 500 failed).
 */
const TX_ATTEMPTS = 20;

/**
 * The one query layer every module uses. SQLite is the embedded default; PostgreSQL lets several
 * API servers share one cloud. Code above this file only sees Kysely and the helpers here, so it
 * stays dialect-neutral: booleans are stored as integers, times as ISO text, JSON as text.
 */
export class Store {
  private constructor(
    readonly db: Kysely<DB>,
    readonly dialect: Dialect,
    private readonly raw?: Database.Database,
    /** PostgreSQL's connection string (a listener holds a connection of its own). */
    private readonly pgUrl?: string,
    /** What must end before the connection closes (SQLite: the WAL checkpointer's worker). */
    private readonly beforeClose?: () => Promise<void>,
    /** SQLite: the connection's statements, which its transactions' prepared queries run on directly. */
    private readonly statements?: CachingStatements,
  ) {}

  static async open(opts: StoreOptions): Promise<Store> {
    if (/^postgres(ql)?:\/\//.test(opts.url)) {
      const pg = await import('pg');
      const pool = new pg.default.Pool({ connectionString: opts.url, max: 10 });
      // pg-pool re-emits an idle client's error on the pool; unheard, it would end the process.
      pool.on('error', (err) => opts.onIdleConnectionError?.(err));
      return new Store(new Kysely<DB>({ dialect: new GuardedDialect(new PostgresDialect({ pool }), true) }), 'postgres', undefined, opts.url);
    }
    const path = opts.url.replace(/^sqlite:/, '');
    if (path !== ':memory:') {
      // The database holds every password and token hash: the file is created 0600 before SQLite
      // opens it (SQLite gives its -wal and -shm the file's mode), in a directory made the owner's
      // when it is made here. One that exists is left as it is: a database given by URL may sit in
      // a shared one (/tmp, a home directory), whose mode is not ours to change; the data
      // directory itself is made private by the server.
      if (!existsSync(dirname(path))) privateDir(dirname(path));
      if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
    }
    const raw = new Database(path);
    // WAL: readers never block the writer; NORMAL sync is durable across a process crash (kill -9)
    // because the WAL is written before commit returns; only an OS crash may lose the last commits.
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.pragma('foreign_keys = ON');
    raw.pragma('busy_timeout = 5000');
    // SQLite's own default page cache (2 MB); better-sqlite3 compiles in 16 MB
    // (SQLITE_DEFAULT_CACHE_SIZE=-16000), which a cloud of 10,000 ports fills, all of it resident.
    // A page outside the cache is read again from the OS's file cache (one pread).
    raw.pragma('cache_size = -2000');
    // Temporary b-trees (a sort without an index, an aggregate's ORDER BY) in memory, not in a
    // temporary database file. The 2,000-port list sorts its rows by id in one (2 MB): that
    // statement took 7.4-7.7 ms with the default against 4.8-5.2 ms in memory (measured alone on
    // the port-read scenario's database, issue 17). A connection that has not yet opened its
    // temporary database also sets one up and tears it down on every statement that needs one
    // (file locks, a stat, brk up and down: a GET port's statement, 0.4-0.7 ms against 20 us).
    // The sorts here are of one cloud's rows, which memory holds.
    raw.pragma('temp_store = memory');
    // A file's WAL is checkpointed by a worker thread, not inside a request's COMMIT.
    const checkpointer = path === ':memory:' ? null : new WalCheckpointer(raw, path, opts.onCheckpointError);
    const statements = cachingStatements(raw, checkpointer);
    const dialect = new JsonInSqliteDialect({ database: statements as unknown as Database.Database });
    return new Store(
      new Kysely<DB>({ dialect: new GuardedDialect(dialect, false) }),
      'sqlite',
      raw,
      undefined,
      () => checkpointer?.close() ?? Promise.resolve(),
      statements,
    );
  }

  /**
   * Run `fn` in one transaction (up to TX_ATTEMPTS times, see below). SQLite serialises writers on its single connection; on
   * PostgreSQL, concurrent transactions can collide: serialization failures, deadlocks, a unique
   * key taken by a transaction that committed first (our code checks before inserting, so this
   * only happens in a race) and conflicts the code itself detects (`TransactionConflict`) are
   * retried — the whole function re-runs and then sees the winner's rows, answering as if the
   * requests had been serial.
   *
   * A PostgreSQL connection that dies under the transaction (a server restart, a terminated
   * backend, a cut network) is retried too, on a fresh connection, when it died before COMMIT
   * was sent: nothing was committed, so running it again is safe. One that dies during COMMIT
   * may or may not have committed, so it is not retried (the client sees the error).
   */
  async tx<T>(fn: (trx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let committing = false;
      try {
        return await this.db.transaction().execute(async (trx) => {
          if (this.statements) openTransactions.set(trx, this.statements);
          try {
            const out = await fn(trx);
            committing = true;
            return out;
          } finally {
            // Before COMMIT: a statement run on `trx` after this takes Kysely's path, which refuses it.
            openTransactions.delete(trx);
          }
        });
      } catch (e) {
        if (!this.retryable(e, committing) || attempt >= TX_ATTEMPTS) throw e;
        // A growing, jittered pause (oslo.db's inc_retry_interval), short: collisions here last
        // as long as the winner's transaction, a few milliseconds.
        await new Promise((r) => setTimeout(r, Math.min(5 * attempt, 50) + Math.random() * 10));
      }
    }
  }

  private retryable(e: unknown, committing: boolean): boolean {
    if (e instanceof TransactionConflict) return true;
    const code = (e as { code?: string }).code;
    if (this.dialect === 'postgres' && !committing && isConnectionLost(e)) return true;
    return code === '40001' || code === '40P01' || code === 'SQLITE_BUSY' || (code === '23505' && this.dialect === 'postgres');
  }

  /**
   * A lock named `key`, held by transaction `trx` until it ends: PostgreSQL's transaction-scoped
   * advisory lock, so writers that number rows by "highest so far + 1" or count before inserting
   * take turns instead of colliding; SQLite's single writer already serialises them.
   */
  async lock(trx: Tx, key: string): Promise<void> {
    if (this.dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(hashtext(${key}))`.execute(trx);
  }

  /** `SELECT … FOR UPDATE` on PostgreSQL; SQLite's single writer already excludes others. */
  forUpdate<QB extends { forUpdate(): QB }>(qb: QB): QB {
    return this.dialect === 'postgres' ? qb.forUpdate() : qb;
  }

  /**
   * PostgreSQL's NOTIFY inside transaction `q`: delivered to every listener of `channel` once the
   * transaction commits, never if it rolls back (PostgreSQL queues notifications until commit).
   * On SQLite there is no other process to tell (one machine, one server: see `listen`): nothing.
   */
  async notify(q: Q, channel: string, payloads: readonly string[]): Promise<void> {
    if (this.dialect !== 'postgres') return;
    for (const p of payloads) await sql`select pg_notify(${channel}, ${p})`.execute(q);
  }

  /**
   * LISTEN on `channel` on a connection of its own (a pooled one would be handed to queries), and
   * call `onPayload` with each notification's payload. A lost connection is opened again (after
   * `retryMs`) and `onReconnect` called: what was notified meanwhile is lost, so the caller
   * resyncs. PostgreSQL only: SQLite is one machine, its changes never leave the process.
   */
  async listen(channel: string, onPayload: (payload: string) => void, hooks: ListenHooks = {}): Promise<ChannelListener> {
    if (this.dialect !== 'postgres' || !this.pgUrl) throw new Error('LISTEN needs the PostgreSQL store');
    const pg = (await import('pg')).default;
    const url = this.pgUrl;
    const retryMs = hooks.retryMs ?? 1000;
    let client: InstanceType<typeof pg.Client> | null = null;
    let closed = false;
    let timer: NodeJS.Timeout | null = null;
    const connect = async (): Promise<void> => {
      const c = new pg.Client({ connectionString: url });
      c.on('notification', (n) => {
        if (n.channel === channel && n.payload !== undefined) onPayload(n.payload);
      });
      c.on('error', (err) => {
        hooks.onError?.(err);
        reconnect();
      });
      c.on('end', () => reconnect());
      await c.connect();
      // The channel is an identifier: quoted, as PostgreSQL folds unquoted ones to lower case.
      await c.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
      client = c;
    };
    const reconnect = () => {
      const was = client;
      client = null;
      if (closed || timer || !was) return;
      was.removeAllListeners('end');
      void was.end().catch(() => undefined);
      timer = setTimeout(function retry() {
        timer = null;
        if (closed) return;
        connect().then(
          () => hooks.onReconnect?.(),
          (err: Error) => {
            hooks.onError?.(err);
            if (!closed) timer = setTimeout(retry, retryMs);
          },
        );
      }, retryMs);
      timer.unref();
    };
    await connect();
    return {
      async close() {
        closed = true;
        if (timer) clearTimeout(timer);
        const c = client;
        client = null;
        if (c) {
          c.removeAllListeners('end');
          await c.end().catch(() => undefined);
        }
      },
    };
  }

  async close(): Promise<void> {
    await this.beforeClose?.();
    await this.db.destroy();
  }

  /** The SQLite file handle (tests use it to simulate crashes); undefined on PostgreSQL. */
  get sqlite(): Database.Database | undefined {
    return this.raw;
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }
}

export interface ListenHooks {
  /** The connection failed (it is opened again). */
  onError?: (err: Error) => void;
  /** Listening again after a lost connection: notifications sent meanwhile were missed. */
  onReconnect?: () => void;
  retryMs?: number;
}

export interface ChannelListener {
  close(): Promise<void>;
}

/**
 * A value no column here holds, offered to the store (a boolean, an object, a list, undefined):
 * it came from a request whose types nothing checked, and is refused before it reaches the driver
 * (better-sqlite3 throws a TypeError for it; PostgreSQL would store JSON text or fail the query).
 * The API edges answer it as a malformed request.
 */
export class UnbindableValue extends Error {
  constructor(readonly value: unknown) {
    super(
      typeof value === 'string'
        ? 'a string with a NUL character cannot be stored in a column'
        : `a ${Array.isArray(value) ? 'list' : value === null ? 'null' : typeof value} cannot be stored in a column`,
    );
  }
}

/**
 * Kysely's own PostgreSQL introspection (the Migrator's table check) binds `attisdropped != true`
 * against the system catalog: a boolean there is Kysely's, not a request's, and PostgreSQL takes it.
 */
const SYSTEM_CATALOG = /\bfrom "pg_catalog"\./;

function checkParameters(sqlText: string, parameters: readonly unknown[], postgres: boolean): void {
  for (const v of parameters) {
    if (bindable(v, postgres)) continue;
    // Read only for a value refused: the SQL text is long, and this runs for every query.
    if (SYSTEM_CATALOG.test(sqlText)) return;
    throw new UnbindableValue(v);
  }
}

function bindable(v: unknown, postgres: boolean): boolean {
  // PostgreSQL's text types cannot hold U+0000 ("invalid byte sequence"); SQLite's can.
  if (typeof v === 'string') return !(postgres && v.includes('\u0000'));
  if (v === null || typeof v === 'bigint' || v instanceof Uint8Array) return true;
  return typeof v === 'number' && Number.isFinite(v);
}

/** True for an error that says the connection to PostgreSQL is gone (not that a statement failed). */
export function isConnectionLost(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  const code = err?.code ?? '';
  if (/^08/.test(code) || code === '57P01' || code === '57P02' || code === '57P03') return true;
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT') return true;
  return /Connection terminated|connection error and is not queryable|Client was closed|Connection ended/i.test(err?.message ?? '');
}

/**
 * The dialect every store runs on, wrapping Kysely's: parameters are checked before they are
 * bound (UnbindableValue), and, on PostgreSQL, a read outside a transaction whose connection dies
 * runs once more on a fresh connection (a SELECT changes nothing, so repeating it is safe).
 */
class GuardedDialect implements KyselyDialect {
  constructor(
    private readonly inner: KyselyDialect,
    private readonly postgres: boolean,
  ) {}
  createDriver(): Driver {
    return new GuardedDriver(this.inner.createDriver(), this.postgres);
  }
  createQueryCompiler() {
    return this.inner.createQueryCompiler();
  }
  createAdapter() {
    return this.inner.createAdapter();
  }
  createIntrospector(db: Kysely<unknown>) {
    return this.inner.createIntrospector(db);
  }
}

class GuardedConnection implements DatabaseConnection {
  inTransaction = false;
  constructor(
    public inner: DatabaseConnection,
    private readonly driver: GuardedDriver,
  ) {}

  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    checkParameters(q.sql, q.parameters, this.driver.postgres);
    try {
      return await this.inner.executeQuery<R>(q);
    } catch (e) {
      if (!this.driver.postgres || this.inTransaction || q.query.kind !== 'SelectQueryNode' || !isConnectionLost(e)) throw e;
      await this.driver.replace(this);
      return this.inner.executeQuery<R>(q);
    }
  }

  streamQuery<R>(q: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    checkParameters(q.sql, q.parameters, this.driver.postgres);
    return this.inner.streamQuery<R>(q, chunkSize);
  }
}

/** Kysely hands the driver back the connections it acquired: ours, each wrapping the inner driver's. */
const innerOf = (c: DatabaseConnection): GuardedConnection => c as GuardedConnection;

class GuardedDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    readonly postgres: boolean,
  ) {}
  init(): Promise<void> {
    return this.inner.init();
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new GuardedConnection(await this.inner.acquireConnection(), this);
  }
  /** Swap a dead connection for a fresh one (the dead one goes back to the pool, which drops it). */
  async replace(c: GuardedConnection): Promise<void> {
    const dead = c.inner;
    c.inner = await this.inner.acquireConnection();
    await this.inner.releaseConnection(dead).catch(() => undefined);
  }
  async beginTransaction(c: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const g = innerOf(c);
    g.inTransaction = true;
    await this.inner.beginTransaction(g.inner, settings);
  }
  async commitTransaction(c: DatabaseConnection): Promise<void> {
    const g = innerOf(c);
    try {
      await this.inner.commitTransaction(g.inner);
    } finally {
      g.inTransaction = false;
    }
  }
  async rollbackTransaction(c: DatabaseConnection): Promise<void> {
    const g = innerOf(c);
    try {
      await this.inner.rollbackTransaction(g.inner);
    } finally {
      g.inTransaction = false;
    }
  }
  releaseConnection(c: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(innerOf(c).inner);
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/**
 * Two costs dominate SQLite reads here, both paid in better-sqlite3's native code: preparing a
 * statement, and building a JS value per column through V8's API (about 3 µs for a port row).
 * So statements are cached by SQL text (Kysely's builders are deterministic), and reader
 * statements run in raw (array) mode with rows built by a small generated function per column
 * list, which V8 optimises (a 2,000-port list: 11 ms of SQLite work becomes 4.6 ms).
 *
 * Where a SELECT reads only plain table columns, SQLite writes each row as one JSON array
 * (`json_array(…)` over the statement) and V8's JSON parser makes its values: one string handed
 * over per row instead of one V8 value per column, about half the time for a port row (a
 * 2,000-port `SELECT *`: 9 ms of raw rows against 4 to 5 ms through JSON, issue 17's profile).
 * JSON keeps SQLite's types as they are (text stays a string, an integer a number, null null),
 * so the rows are the same; columns of REAL affinity and computed expressions keep the raw path,
 * and a statement that meets a BLOB (which JSON cannot hold) falls back to it for good.
 * Safe because Kysely's SQLite driver runs one statement at a time on its single connection.
 */
function cachingStatements(raw: Database.Database, checkpointer: WalCheckpointer | null, max = 500): CachingStatements {
  const cache = new Map<string, CachedStatement>();
  const wrap = (sqlText: string): CachedStatement => {
    const st = raw.prepare(sqlText);
    if (!st.reader) {
      const run = (p: unknown[]) => {
        const r = st.run(p);
        checkpointer?.wrote();
        return r;
      };
      return { reader: false, all: (p) => st.all(p), run, iterate: (p) => st.iterate(p) };
    }
    st.raw(true);
    const columns = st.columns();
    const cols = columns.map((c) => c.name);
    // Column names come from our own schema and queries, never from requests.
    const build = new Function('r', `return {${cols.map((c, i) => `${JSON.stringify(c)}: r[${i}]`).join(', ')}};`) as (r: unknown[]) => unknown;
    let json = jsonRows(raw, sqlText, columns);
    return {
      reader: true,
      all: (p) => {
        if (json) {
          try {
            return (json.all(p) as string[]).map((text) => build(JSON.parse(text) as unknown[]));
          } catch (e) {
            if (!(e instanceof Database.SqliteError && /JSON cannot hold BLOB values/.test(e.message))) throw e;
            json = undefined;
          }
        }
        return (st.all(p) as unknown[][]).map(build);
      },
      run: (p) => st.run(p),
      *iterate(p) {
        for (const r of st.iterate(p) as IterableIterator<unknown[]>) yield build(r);
      },
    };
  };
  const statements: CachingStatements = {
    close: () => {
      // Store.close() has waited for the worker already; a close that comes another way still ends it.
      void checkpointer?.close();
      raw.close();
    },
    // What Kysely's SqliteConnection.executeQuery does with a compiled query, the same result shape,
    // after the parameter check every query passes (GuardedConnection).
    execute<R>(sqlText: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
      try {
        checkParameters(sqlText, parameters, false);
        const st = statements.prepare(sqlText);
        if (st.reader) return Promise.resolve({ rows: st.all(parameters as unknown[]) as R[] });
        const { changes, lastInsertRowid } = st.run(parameters as unknown[]);
        return Promise.resolve({ numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] });
      } catch (e) {
        return Promise.reject(e);
      }
    },
    prepare(sqlText: string) {
      let st = cache.get(sqlText);
      if (st) {
        // Refresh recency (Map keeps insertion order; the oldest is evicted first).
        cache.delete(sqlText);
      } else {
        st = wrap(sqlText);
        // `IN (?, ?, …)` lists make one-off statements of every length: don't keep those.
        if (sqlText.length > 4096) return st;
        if (cache.size >= max) cache.delete(cache.keys().next().value!);
      }
      cache.set(sqlText, st);
      return st;
    },
  };
  return statements;
}

/** A SQLite connection's statements, cached by SQL text (what Kysely's SqliteDialect is given as its database). */
interface CachingStatements {
  close(): void;
  prepare(sqlText: string): CachedStatement;
  /** Run one compiled query as Kysely's SQLite connection would, without Kysely's executor around it. */
  execute<R>(sqlText: string, parameters: readonly unknown[]): Promise<QueryResult<R>>;
}

interface CachedStatement {
  reader: boolean;
  all(params: unknown[]): unknown[];
  run(params: unknown[]): Database.RunResult;
  iterate(params: unknown[]): IterableIterator<unknown>;
}

/**
 * The SQLite transactions Store.tx is running, each with its connection's statements. A prepared
 * query run on one goes to the statement directly: Kysely's path (executor, connection provider and
 * its queue, the guarded connection: four awaits) cost 4.4 µs a statement against 1.2 µs for the
 * statement itself (a primary-key read in a loop), and a port create runs thirteen (issue 17). Safe
 * while the transaction runs: it holds the store's single connection (Kysely's SQLite driver lends
 * it to one holder at a time), and a statement runs to its end synchronously, so it cannot
 * interleave with another. Anything else (no transaction, PostgreSQL, a transaction that ended)
 * takes Kysely's path.
 */
const openTransactions = new WeakMap<Tx, CachingStatements>();

/**
 * The statement `SELECT json_array(<its columns>) FROM (<sql>)`, one JSON text per row, when every
 * column is a table's own column of INTEGER or TEXT affinity (SQLite's affinity rules: INT, then
 * CHAR/CLOB/TEXT in the declared type) under a distinct name; otherwise none. The outer query
 * reads the inner one as its only source and adds no ORDER BY, so SQLite keeps the inner order.
 */
function jsonRows(raw: Database.Database, sqlText: string, columns: Database.ColumnDefinition[]): Database.Statement | undefined {
  if (!/^\s*select\b/i.test(sqlText)) return undefined;
  const names = columns.map((c) => c.name);
  if (new Set(names).size !== names.length) return undefined;
  const plain = columns.every((c) => c.table !== null && c.type !== null && /int|char|clob|text/i.test(c.type));
  if (!plain) return undefined;
  const list = names.map((n) => `"${n.replaceAll('"', '""')}"`).join(', ');
  return raw.prepare(`SELECT json_array(${list}) FROM (${sqlText})`).pluck(true);
}

/** Values from which an `IN` list is bound as one JSON parameter (see SqliteCompiler). */
const JSON_IN_FROM = 64;

/**
 * Kysely's SQLite compiler with two changes (the second is visitLimit's). On SQLite,
 * `column IN (?, ?, …)` with many string values is written `column IN (SELECT value
 * FROM json_each(?))` with the values as one JSON array. A list of 2,000 ids otherwise makes SQL
 * text of its own length, which the statement cache does not keep (a 2,000-port list prepared five
 * such statements each time: 6 ms, issue 17's profile) and binds 2,000 parameters; this way the
 * text is the same for every length. Only lists of strings: json_each gives them back as TEXT,
 * which compares with a column as the bound strings did (no affinity of their own, the column's
 * applies). Done while compiling, so the other queries pay nothing for it.
 */
class SqliteCompiler extends SqliteQueryCompiler {
  protected override visitPrimitiveValueList(node: PrimitiveValueListNode): void {
    const parent = this.parentNode;
    if (
      node.values.length >= JSON_IN_FROM &&
      parent !== undefined &&
      BinaryOperationNode.is(parent) &&
      OperatorNode.is(parent.operator) &&
      (parent.operator.operator === 'in' || parent.operator.operator === 'not in') &&
      node.values.every((v) => typeof v === 'string')
    ) {
      this.append('(SELECT value FROM json_each(');
      this.appendValue(JSON.stringify(node.values));
      this.append('))');
      return;
    }
    super.visitPrimitiveValueList(node);
  }

  /**
   * `LIMIT n` with n in the SQL text, not bound. SQLite reads a bound LIMIT's value while it plans
   * (sqlite3ExprIsInteger with a Parse, select.c computeLimitRegisters) and marks the statement to
   * be compiled again whenever that parameter is bound (Vdbe.expmask), which better-sqlite3 does
   * on every run: a statement with `LIMIT ?` was prepared anew each time it ran. The address
   * allocator's first-ranges read (`LIMIT 64`, every port create) took 90 µs in the server, most
   * of it sqlite3Reprepare (issue 17's port-create profile). Only a safe integer is written in;
   * anything else stays bound.
   */
  protected override visitLimit(node: LimitNode): void {
    if (ValueNode.is(node.limit) && Number.isSafeInteger(node.limit.value)) {
      this.append(`limit ${node.limit.value as number}`);
      return;
    }
    super.visitLimit(node);
  }
}

class JsonInSqliteDialect extends SqliteDialect {
  override createQueryCompiler(): SqliteQueryCompiler {
    return new SqliteCompiler();
  }
}

/** A bound parameter slot of a prepared query: an argument by name, or a value of the query's own. */
type Slot = { arg: string } | { value: unknown };

/** What an argument of a prepared query may be: a value bound as it is (checked as every parameter is). */
export type Bound = string | number | bigint | null;

/**
 * A query Kysely builds and compiles once, then runs with new values for its arguments.
 * Building and compiling a query is most of what a small read costs in JavaScript (issue 17's
 * profile of GET port: Kysely's builders and compiler about 20 % of the server's CPU), and the
 * SQL text of a query whose shape does not change is the same every time, so one compile serves.
 * `build` is called once with a marker for each argument; every marker must come back as a bound
 * parameter of its own (a value the builder transformed or wrote into the SQL text would not be
 * replaced, so it is refused here, at the first use). Values `build` chose itself stay as bound.
 * Arguments are bound as given: a string, a number (an INSERT's integer column), null.
 */
/** A statement run with new values for its arguments (PreparedQuery, or one per store: `prepared`). */
export interface PreparedStatement<A extends string, R, V extends Bound = string> {
  execute(q: Q, args: Readonly<Record<A, V>>): Promise<R[]>;
  /** The driver's whole result (a write's `numAffectedRows`). */
  run(q: Q, args: Readonly<Record<A, V>>): Promise<QueryResult<R>>;
}

export class PreparedQuery<A extends string, R, V extends Bound = string> implements PreparedStatement<A, R, V> {
  private constructor(
    private readonly compiled: CompiledQuery<R>,
    private readonly slots: readonly Slot[],
  ) {}

  static of<A extends string, R, V extends Bound = string>(
    names: readonly A[],
    build: (args: Readonly<Record<A, string>>) => Compilable<R>,
  ): PreparedQuery<A, R, V> {
    const tag = randomBytes(8).toString('hex');
    const markers = new Map(names.map((n) => [`\u0000${tag}:${n}\u0000`, n]));
    const compiled = build(Object.fromEntries([...markers].map(([m, n]) => [n, m])) as Record<A, string>).compile();
    const slots = compiled.parameters.map((v): Slot => {
      const arg = typeof v === 'string' ? markers.get(v) : undefined;
      if (arg !== undefined) return { arg };
      if (typeof v === 'string' && v.includes(tag)) throw new Error(`a prepared query changed its argument before binding it: ${compiled.sql}`);
      return { value: v };
    });
    if (compiled.sql.includes(tag)) throw new Error(`a prepared query wrote an argument into its SQL text: ${compiled.sql}`);
    return new PreparedQuery<A, R, V>(compiled, slots);
  }

  async execute(q: Q, args: Readonly<Record<A, V>>): Promise<R[]> {
    return (await this.run(q, args)).rows;
  }

  run(q: Q, args: Readonly<Record<A, V>>): Promise<QueryResult<R>> {
    const parameters = this.slots.map((s) => ('arg' in s ? args[s.arg as A] : s.value));
    const direct = openTransactions.get(q as Tx);
    if (direct) return direct.execute<R>(this.compiled.sql, parameters);
    try {
      return q.executeQuery<R>({ ...this.compiled, parameters });
    } catch (e) {
      // Kysely refuses a transaction that ended by throwing before its promise: a rejection, as every other failure.
      return Promise.reject(e);
    }
  }
}

/**
 * A query prepared once per kind of store (the compiled SQL is the dialect's): `build` gets the
 * store it first runs on, a marker per argument (as PreparedQuery.of) and the store's dialect. For the statements every
 * request of a hot path runs (issue 17's port-create profile: about 18 µs of JavaScript per
 * statement built and compiled by Kysely, a port create ran 27), written where they were built.
 */
export function prepared<A extends string, R, V extends Bound = string>(
  names: readonly A[],
  build: (q: Q, args: Readonly<Record<A, string>>, dialect: Dialect) => Compilable<R>,
): PreparedStatement<A, R, V> {
  // One compile per dialect adapter (a store's transactions share its root's adapter).
  const byAdapter = new WeakMap<object, PreparedQuery<A, R, V>>();
  const forStore = (q: Q) => {
    const adapter = q.getExecutor().adapter;
    let p = byAdapter.get(adapter);
    if (!p) {
      const dialect: Dialect = adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
      p = PreparedQuery.of<A, R, V>(names, (a) => build(q, a, dialect));
      byAdapter.set(adapter, p);
    }
    return p;
  };
  return {
    execute: (q, args) => forStore(q).execute(q, args),
    run: (q, args) => forStore(q).run(q, args),
  };
}

/**
 * The rows of `from` (a subquery, correlated or not) as one JSON array in one column, each row an
 * array of `columns` in order: a parent and its children read in one statement. SQLite's
 * json_group_array gives JSON text; PostgreSQL's json_agg gives json, which the driver parses
 * (`fromJson` reads both). No rows give `[]`. The array has no order: whoever reads it sorts it.
 * An ORDER BY inside the aggregate is a temporary b-tree SQLite sets up and tears down on every
 * run, for arrays that mostly hold no row or one (issue 17: a port create ran three, a GET port
 * two, each about 1.5–8 µs).
 */
export function jsonRowsOf(dialect: Dialect, from: Expression<unknown>, columns: readonly string[]): RawBuilder<unknown> {
  const cols = sql.join(columns.map((c) => sql.ref(`j.${c}`)));
  return dialect === 'postgres'
    ? sql`(select coalesce(json_agg(json_build_array(${cols})), '[]'::json) from ${from} as j)`
    : sql`(select coalesce(json_group_array(json_array(${cols})), '[]') from ${from} as j)`;
}

/** One row of a `jsonRowsOf` array (its values in `columns` order) as an object keyed by those columns. */
export function jsonRowObject<K extends string>(columns: readonly K[], values: readonly unknown[]): Record<K, unknown> {
  const row = {} as Record<K, unknown>;
  columns.forEach((c, i) => {
    row[c] = values[i];
  });
  return row;
}

/** Strings in the order of SQLite's BINARY collation for the ASCII ids and timestamps sorted in JavaScript here. */
export const binaryOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Rows in creation order, then by id: `ORDER BY created_at, id` done in JavaScript. */
export const creationOrder = (a: { created_at: string; id: string }, b: { created_at: string; id: string }): number =>
  binaryOrder(a.created_at, b.created_at) || binaryOrder(a.id, b.id);

/**
 * Any two strings in the order of SQLite's BINARY collation (UTF-8 bytes, so code points) and
 * PostgreSQL's C collation: what a user's text (a tag) sorted in JavaScript is compared by.
 * JavaScript compares UTF-16 code units, which puts a character beyond U+FFFF (a surrogate pair,
 * from U+D800) before U+E000–U+FFFF; UTF-8 puts it after.
 */
export function codePointOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates up past U+FFFF's units, U+E000–U+FFFF down below them.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Thrown inside a transaction that found the rows it read changed under it by a concurrent one (a
 * conditional update that matched nothing): Store.tx runs the whole transaction again.
 */
export class TransactionConflict extends Error {}

/** Ids per `IN (…)` list: below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
export const IN_CHUNK = 10_000;

/** `xs` in slices of at most `n` (for `IN (…)` lists). */
export function chunks<T>(xs: T[], n: number = IN_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** True for a unique-constraint violation in either dialect. */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  return err?.code === '23505' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export const fromBool = (v: unknown): boolean => v === 1 || v === true || v === '1';
export const fromJson = <T = unknown>(v: unknown, fallback: T): T => {
  if (v === null || v === undefined || v === '') return fallback;
  if (typeof v !== 'string') return v as T;
  return JSON.parse(v) as T;
};

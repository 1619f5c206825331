import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteAdapter, SqliteDialect, type DialectAdapter } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type StoreDialect = 'sqlite' | 'postgres';

export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: StoreDialect;
  /** The SQLite connection itself, for the few hot paths that read rows as arrays. */
  readonly sqlite?: BetterSqlite3.Database;
  /** Where the store lives, without credentials (for logs). */
  readonly location: string;
  close(): Promise<void>;
}

/** SQLite runs DDL inside transactions just fine; Kysely's adapter is conservative and says it cannot. */
class TransactionalSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class FlywheelSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalSqliteAdapter();
  }
}

export interface OpenStoreOptions {
  /**
   * SQLite `synchronous` level. FULL (the default) fsyncs the WAL at every commit, so an acknowledged
   * write survives power loss too; NORMAL survives a process crash (`kill -9`) but not power loss.
   */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
}

/**
 * Opens a store from a backend-store URI: `postgresql://…` / `postgres://…`, `sqlite:///abs/path.db`,
 * `sqlite:rel/path.db`, `sqlite::memory:`, or a plain file path.
 */
export function openStore(uri: string, options: OpenStoreOptions = {}): Store {
  if (/^postgres(ql)?:\/\//i.test(uri)) return openPostgres(uri);
  return openSqlite(sqlitePath(uri), options);
}

function synchronousFromEnv(): 'FULL' | 'NORMAL' {
  const v = process.env.FLYWHEEL_SQLITE_SYNCHRONOUS?.toUpperCase();
  if (v === undefined || v === '' || v === 'FULL') return 'FULL';
  if (v === 'NORMAL') return 'NORMAL';
  throw new Error(`FLYWHEEL_SQLITE_SYNCHRONOUS must be FULL or NORMAL, got '${process.env.FLYWHEEL_SQLITE_SYNCHRONOUS}'`);
}

export function sqlitePath(uri: string): string {
  if (uri === 'sqlite::memory:' || uri === ':memory:') return ':memory:';
  const m = /^sqlite:(?:\/\/)?(.*)$/i.exec(uri);
  const path = m ? m[1] : uri;
  if (!path) throw new Error(`Invalid SQLite store URI '${uri}'`);
  return resolve(path);
}

function openSqlite(path: string, options: OpenStoreOptions): Store {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new BetterSqlite3(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma(`synchronous = ${options.sqliteSynchronous ?? synchronousFromEnv()}`);
  sqlite.pragma('foreign_keys = ON');
  // 64 MiB page cache: run search at 100k runs otherwise waits on disk reads.
  sqlite.pragma('cache_size = -65536');
  // Another process (an embedded SDK beside a server) may hold the write lock for a moment.
  sqlite.pragma('busy_timeout = 10000');
  const db = new Kysely<Database>({ dialect: new FlywheelSqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, dialect: 'sqlite', location: path, sqlite, close: () => db.destroy() };
}

/**
 * Kysely prepares every query afresh; preparing costs SQLite about as much as running a small statement.
 * The hot queries repeat the same SQL text, so prepared statements are kept (bounded, least recently used).
 * Reuse is safe: better-sqlite3 runs a statement to completion before the next call on the connection.
 */
function withStatementCache(sqlite: BetterSqlite3.Database, size = 500) {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql);
      } else {
        stmt = sqlite.prepare(sql);
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, stmt);
      return stmt;
    },
  };
}

function openPostgres(uri: string): Store {
  const types = {
    getTypeParser(oid: number, format?: any) {
      // int8 as a JS number: our int64 values (ms timestamps, steps) fit in 2^53.
      if (oid === 20) return (v: string) => Number(v);
      return pg.types.getTypeParser(oid, format);
    },
  };
  const pool = new pg.Pool({ connectionString: uri, max: 10, types: types as any });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const location = uri.replace(/\/\/[^@/]*@/, '//***@');
  return { db, dialect: 'postgres', location, close: () => db.destroy() };
}

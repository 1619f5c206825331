import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrateToLatest, openStore, type Store, type StoreDialect } from '../../src/store/index.js';

/**
 * The dialects every store test runs against: SQLite always, PostgreSQL when FLYWHEEL_TEST_POSTGRES_URL is
 * set (then a PostgreSQL that does not answer is a failure, not a skip).
 */
export const DIALECTS: StoreDialect[] = process.env.FLYWHEEL_TEST_POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];

export interface TestStore {
  store: Store;
  uri: string;
  dispose(): Promise<void>;
}

/** A fresh, migrated, empty store: a temp SQLite file, or a new PostgreSQL database. */
export async function freshStore(dialect: StoreDialect): Promise<TestStore> {
  const { uri, drop } = dialect === 'sqlite' ? freshSqliteUri() : await freshPostgresUri();
  const store = openStore(uri);
  await migrateToLatest(store);
  return {
    store,
    uri,
    async dispose() {
      await store.close();
      await drop();
    },
  };
}

export function freshSqliteUri(): { uri: string; dir: string; drop: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-test-'));
  return { uri: `sqlite:${join(dir, 'flywheel.db')}`, dir, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

export async function freshPostgresUri(): Promise<{ uri: string; drop: () => Promise<void> }> {
  const base = process.env.FLYWHEEL_TEST_POSTGRES_URL;
  if (!base) throw new Error('FLYWHEEL_TEST_POSTGRES_URL is not set');
  const name = `flywheel_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    uri: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { MIGRATIONS, type StoreMigration } from '../src/store/migrations/index.js';
import { migrateToLatest, MigrationError, openStore, type Store } from '../src/store/index.js';
import { DIALECTS, freshPostgresUri, freshSqliteUri } from './helpers/stores.js';

async function emptyStore(dialect: 'sqlite' | 'postgres'): Promise<{ store: Store; drop: () => Promise<void> }> {
  const { uri, drop } = dialect === 'sqlite' ? freshSqliteUri() : await freshPostgresUri();
  return { store: openStore(uri), drop };
}

async function tableExists(store: Store, name: string): Promise<boolean> {
  const tables = await store.db.introspection.getTables();
  return tables.some((t) => t.name === name);
}

describe.each(DIALECTS)('migrations on %s', (dialect) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  const open = async () => {
    const s = await emptyStore(dialect);
    cleanups.push(async () => {
      await s.store.close();
      await s.drop();
    });
    return s.store;
  };

  it('creates the schema once and is idempotent', async () => {
    const store = await open();
    expect(await migrateToLatest(store)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(await migrateToLatest(store)).toEqual([]);
    for (const t of ['experiments', 'runs', 'metrics', 'latest_metrics', 'params', 'tags', 'datasets', 'inputs', 'logged_models']) {
      expect(await tableExists(store, t), t).toBe(true);
    }
  });

  it('rolls back a failing migration and refuses to start with a clear message', async () => {
    const store = await open();
    const broken: StoreMigration = {
      name: '999-broken',
      async up(db) {
        await db.schema.createTable('half_done').addColumn('id', 'integer').execute();
        await sql`select * from no_such_table`.execute(db);
      },
    };
    const err = await migrateToLatest(store, [...MIGRATIONS, broken]).catch((e) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.message).toMatch(/999-broken failed/);
    expect(err.message).toMatch(/no_such_table/);
    expect(await tableExists(store, 'half_done')).toBe(false);
    // the whole upgrade is one transaction: the store is exactly as it was before
    expect(await tableExists(store, 'experiments')).toBe(false);
    // and the next start with the fixed code works
    expect(await migrateToLatest(store)).toEqual(MIGRATIONS.map((m) => m.name));
  });

  it('refuses a store holding a half-applied migration', async () => {
    const store = await open();
    await store.db.schema.createTable('experiments').addColumn('experiment_id', 'integer').execute();
    const err = await migrateToLatest(store).catch((e) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.message).toMatch(/001-tracking failed.*half-applied/s);
  });

  it('refuses a store written by a newer Flywheel', async () => {
    const store = await open();
    const newer: StoreMigration = { name: '998-future', async up() {} };
    await migrateToLatest(store, [...MIGRATIONS, newer]);
    const err = await migrateToLatest(store).catch((e) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.message).toMatch(/newer Flywheel/);
  });
});

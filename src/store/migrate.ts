import { Migrator, type MigrationResultSet } from 'kysely';
import { openStore, type OpenStoreOptions, type Store } from './database.js';
import { kyselyMigrations, MIGRATIONS, type StoreMigration } from './migrations/index.js';

export class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Brings the schema up to date. All pending migrations run in one transaction (both dialects have
 * transactional DDL), so a failure leaves the store exactly as it was before the upgrade; any failure, and a
 * store that records migrations this version does not know, stops with a message that says what to do.
 */
export async function migrateToLatest(store: Store, list: StoreMigration[] = MIGRATIONS): Promise<string[]> {
  const migrator = new Migrator({
    db: store.db,
    provider: { getMigrations: async () => kyselyMigrations(store.dialect, list) },
    migrationTableName: 'flywheel_migrations',
    migrationLockTableName: 'flywheel_migrations_lock',
  });
  let result: MigrationResultSet;
  try {
    result = await migrator.migrateToLatest();
  } catch (e) {
    throw new MigrationError(`Could not read the migration state of ${store.location}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const cause = result.error instanceof Error ? result.error.message : String(result.error);
    if (!failed) {
      throw new MigrationError(
        `The store at ${store.location} cannot be migrated: ${cause}. It may have been written by a newer Flywheel ` +
          `or hold a half-applied migration; restore a backup or use a matching Flywheel version.`,
        { cause: result.error },
      );
    }
    throw new MigrationError(
      `Migration ${failed.migrationName} failed on ${store.location}: ${cause}. The whole upgrade was rolled back; ` +
        `if its tables already exist, the store holds a half-applied migration from elsewhere: restore a backup. ` +
        `Flywheel will not start on this store until the migration succeeds.`,
      { cause: result.error },
    );
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Opens a store and brings its schema up to date; a store that cannot be migrated is closed before the error is thrown. */
export async function openMigratedStore(uri: string, options?: OpenStoreOptions): Promise<Store> {
  const store = openStore(uri, options);
  try {
    await migrateToLatest(store);
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  return store;
}

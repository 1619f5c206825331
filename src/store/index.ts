export { openStore, sqlitePath, type Store, type StoreDialect, type OpenStoreOptions } from './database.js';
export { migrateToLatest, openMigratedStore, MigrationError } from './migrate.js';
export type * from './schema.js';

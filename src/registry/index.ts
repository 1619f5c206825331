export * from './entities.js';
export type * from './service.js';
export { SqlRegistryStore, type SqlRegistryStoreOptions } from './sql-registry-store.js';
export { resolveModelSource, type ResolvedSource, type SourceContext } from './source-validation.js';

export * from './entities.js';
export type * from './service.js';
export { SqlTrackingStore, type SqlTrackingStoreOptions } from './sql-tracking-store.js';
export { appendLogModelHistory, LOG_MODEL_HISTORY_TAG } from './log-model.js';

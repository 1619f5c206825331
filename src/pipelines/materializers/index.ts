export * from './types.js';
export * from './value-materializers.js';
export * from './table-materializer.js';
export * from './path-materializers.js';
export * from './registry.js';
export * from './content-store.js';
export * from './output.js';

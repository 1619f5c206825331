export * from './types.js';
export * from './paths.js';
export * from './uri.js';
export * from './mime.js';
export * from './local-repository.js';
export * from './store.js';

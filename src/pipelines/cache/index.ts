/**
 * Step caching: code hashes over a step's local module graph, lockfile hashes,
 * canonical cache keys and explanations of hits and misses.
 *
 * Import parsing uses es-module-lexer (a runtime dependency) directly on the
 * TypeScript source: it lexes import/export specifiers and tolerates TS syntax
 * (type annotations, generics, `import type`), so no TypeScript compiler is
 * needed at run time.
 */
export { canonicalJson, sha256, shortHash } from './canonical.js';
export {
  codeHash,
  callerFile,
  frameFile,
  findPackageRoot,
  isLocalSpecifier,
  localSpecifiers,
  resolveLocalImport,
  CodeHashError,
} from './code-hash.js';
export type { CodeFile, CodeHash, CodeHashOptions, CallerFileOptions, UnresolvedImport } from './code-hash.js';
export { lockfileHash, lockfileInfo, LOCKFILE_NAMES } from './lockfile.js';
export type { LockfileInfo } from './lockfile.js';
export { cacheKey, describeDiff, envPart, explainCache, formatCacheExplanation } from './key.js';
export type {
  CacheDiffEntry,
  CacheExplanation,
  CacheKey,
  CacheKeyPartName,
  CacheKeyParts,
  ExplainOptions,
} from './key.js';

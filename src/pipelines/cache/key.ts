import { canonicalJson, sha256, shortHash } from './canonical.js';
import type { CodeFile } from './code-hash.js';

/** Everything a step's cache key covers. Stored with each step run so the next run can explain itself. */
export interface CacheKeyParts {
  /** Hash of the step's module and its local imports; `files` lets explanations name the changed file. */
  code: { hash: string; files?: CodeFile[] };
  /** Hash of the lockfile (third-party code). */
  lockfile: string;
  /** The step's parameters; must be JSON (hashed with sorted keys). */
  params: unknown;
  /** Input name → content hash of the artifact bound to it. */
  inputs: Record<string, string>;
  /** Output name → `materializerName@version`. */
  materializers: Record<string, string>;
  /** Declared env var name → value (or a hash of it), null when unset. */
  env: Record<string, string | null>;
}

export interface CacheKey {
  /** Hex sha256 of the canonical JSON of the parts (code reduced to its hash). */
  key: string;
  parts: CacheKeyParts;
}

const KEY_VERSION = 1;

/** The cache key for a set of parts. Parameter key order does not matter; code file lists do not (only code.hash counts). */
export function cacheKey(parts: CacheKeyParts): CacheKey {
  const canonical = canonicalJson({
    v: KEY_VERSION,
    code: parts.code.hash,
    lockfile: parts.lockfile,
    params: parts.params ?? null,
    inputs: parts.inputs,
    materializers: parts.materializers,
    env: parts.env,
  });
  return { key: sha256(canonical), parts };
}

/**
 * Build the env part from declared names. By default values are replaced by
 * `sha256:<hex>` so secrets never land in the run record; pass `redact: false`
 * to keep them verbatim.
 */
export function envPart(
  names: readonly string[],
  source: Record<string, string | undefined> = process.env,
  options: { redact?: boolean } = {},
): Record<string, string | null> {
  const redact = options.redact ?? true;
  const out: Record<string, string | null> = {};
  for (const name of [...names].sort()) {
    const value = source[name];
    out[name] = value === undefined ? null : redact ? `sha256:${sha256(value)}` : value;
  }
  return out;
}

export type CacheKeyPartName = 'code' | 'lockfile' | 'params' | 'inputs' | 'materializers' | 'env';

export interface CacheDiffEntry {
  part: CacheKeyPartName;
  /** File (code), dotted parameter path (params) or name (inputs, materializers, env). */
  path?: string;
  /** Previous value; undefined when added. Env values are never included. */
  before: unknown;
  /** Current value; undefined when removed. Env values are never included. */
  after: unknown;
}

export interface CacheExplanation {
  hit: boolean;
  key: string;
  previousKey?: string;
  reasons: string[];
  diff: CacheDiffEntry[];
}

export interface ExplainOptions {
  /** Caching is off for this step or run: always a miss, with this reason (e.g. "step declares cache: false"). */
  disabled?: string;
  /** Problems with the previous run's artifacts (missing, corrupt): a matching key still misses. */
  artifactProblems?: string[];
}

function fmt(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    return canonicalJson(value);
  } catch {
    return String(value);
  }
}

function same(a: unknown, b: unknown): boolean {
  return fmt(a) === fmt(b);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function paramPath(base: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

function diffParams(before: unknown, after: unknown, path: string, out: CacheDiffEntry[]): void {
  if (same(before, after)) return;
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const key of keys) {
      const b = before[key];
      const a = after[key];
      if (b === undefined && a === undefined) continue;
      diffParams(b, a, paramPath(path, key), out);
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    before.forEach((b: unknown, i) => diffParams(b, after[i], `${path}[${i}]`, out));
    return;
  }
  out.push({ part: 'params', path, before, after });
}

function diffRecords(
  part: 'inputs' | 'materializers',
  before: Record<string, string>,
  after: Record<string, string>,
  out: CacheDiffEntry[],
): void {
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].sort();
  for (const key of keys) {
    const b = before?.[key];
    const a = after?.[key];
    if (b !== a) out.push({ part, path: key, before: b, after: a });
  }
}

function diffCode(before: CacheKeyParts['code'], after: CacheKeyParts['code'], out: CacheDiffEntry[]): void {
  if (before.hash === after.hash) return;
  if (before.files === undefined || after.files === undefined) {
    out.push({ part: 'code', before: before.hash, after: after.hash });
    return;
  }
  const b = new Map(before.files.map((f) => [f.path, f.hash]));
  const a = new Map(after.files.map((f) => [f.path, f.hash]));
  const paths = [...new Set([...b.keys(), ...a.keys()])].sort();
  const start = out.length;
  for (const path of paths) {
    if (b.get(path) !== a.get(path)) out.push({ part: 'code', path, before: b.get(path), after: a.get(path) });
  }
  // Same files, different hash (e.g. an import stopped resolving): report the hash itself.
  if (out.length === start) out.push({ part: 'code', before: before.hash, after: after.hash });
}

function diffEnv(before: Record<string, string | null>, after: Record<string, string | null>, out: CacheDiffEntry[]): void {
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].sort();
  for (const key of keys) {
    const hadKey = before !== undefined && Object.hasOwn(before, key);
    const hasKey = after !== undefined && Object.hasOwn(after, key);
    const b = hadKey ? before[key] : undefined;
    const a = hasKey ? after[key] : undefined;
    if (hadKey && hasKey && b === a) continue;
    // Values may be secrets: record only whether the variable was declared/set.
    const state = (declared: boolean, v: string | null | undefined): string => (!declared ? 'undeclared' : v === null ? 'unset' : 'set');
    out.push({ part: 'env', path: key, before: state(hadKey, b), after: state(hasKey, a) });
  }
}

/** One human-readable line for a diff entry. */
export function describeDiff(entry: CacheDiffEntry): string {
  const { part, path, before, after } = entry;
  switch (part) {
    case 'code':
      if (path === undefined) return `code: changed (${shortHash(before as string)} → ${shortHash(after as string)})`;
      if (before === undefined) return `code: ${path} added (newly imported)`;
      if (after === undefined) return `code: ${path} removed (no longer imported)`;
      return `code: ${path} changed`;
    case 'lockfile':
      return `lockfile: changed (${shortHash(before as string)} → ${shortHash(after as string)})`;
    case 'params': {
      const p = path ?? 'params';
      if (before === undefined) return `${p}: added (${fmt(after)})`;
      if (after === undefined) return `${p}: removed (was ${fmt(before)})`;
      return `${p}: ${fmt(before)} → ${fmt(after)}`;
    }
    case 'inputs':
      if (before === undefined) return `input '${path}': added (hash ${shortHash(after as string)})`;
      if (after === undefined) return `input '${path}': removed (was hash ${shortHash(before as string)})`;
      return `input '${path}': hash ${shortHash(before as string)} → ${shortHash(after as string)}`;
    case 'materializers':
      if (before === undefined) return `materializer for '${path}': added (${String(after)})`;
      if (after === undefined) return `materializer for '${path}': removed (was ${String(before)})`;
      return `materializer for '${path}': ${String(before)} → ${String(after)}`;
    case 'env':
      if (before === 'undeclared') return `env ${path} added`;
      if (after === 'undeclared') return `env ${path} removed`;
      if (before === 'unset') return `env ${path}: now set`;
      if (after === 'unset') return `env ${path}: now unset`;
      return `env ${path}: value changed`;
  }
}

/**
 * Why a step hits or misses the cache: the key parts of the previous run with
 * the same step, compared with the current ones. `previous` undefined means no
 * previous run. A hit needs equal keys, caching not disabled, and no artifact problems.
 */
export function explainCache(
  previous: CacheKeyParts | undefined,
  current: CacheKeyParts,
  options: ExplainOptions = {},
): CacheExplanation {
  const key = cacheKey(current).key;
  const reasons: string[] = [];
  const diff: CacheDiffEntry[] = [];
  if (options.disabled !== undefined) reasons.push(`caching disabled: ${options.disabled}`);
  if (previous === undefined) {
    reasons.push('no previous run');
    return { hit: false, key, reasons, diff };
  }
  const previousKey = cacheKey(previous).key;
  diffCode(previous.code, current.code, diff);
  if (previous.lockfile !== current.lockfile) diff.push({ part: 'lockfile', before: previous.lockfile, after: current.lockfile });
  diffParams(previous.params ?? null, current.params ?? null, 'params', diff);
  diffRecords('inputs', previous.inputs, current.inputs, diff);
  diffRecords('materializers', previous.materializers, current.materializers, diff);
  diffEnv(previous.env, current.env, diff);
  reasons.push(...diff.map(describeDiff));
  if (previousKey !== key && diff.length === 0) reasons.push('cache key format changed');
  if (previousKey === key) {
    for (const problem of options.artifactProblems ?? []) reasons.push(`artifact: ${problem}`);
  }
  const hit = previousKey === key && options.disabled === undefined && (options.artifactProblems ?? []).length === 0;
  if (hit) reasons.push('all key parts unchanged');
  return { hit, key, previousKey, reasons, diff };
}

/** Text lines for `flywheel pipeline run --explain-cache`: a header per step, then one indented line per reason. */
export function formatCacheExplanation(step: string, explanation: CacheExplanation): string[] {
  const verdict = explanation.hit ? 'HIT' : 'MISS';
  const lines = [`${step}: ${verdict} (key ${shortHash(explanation.key)})`];
  for (const reason of explanation.reasons) lines.push(`  - ${reason}`);
  return lines;
}

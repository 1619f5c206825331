import { existsSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { init as initLexer, parse as lexModule } from 'es-module-lexer';
import { sha256 } from './canonical.js';

/** One local source file that contributes to a step's code hash. */
export interface CodeFile {
  /** Path relative to the hash root, always with `/` separators. */
  path: string;
  /** Hex sha256 of the file's bytes. */
  hash: string;
}

/** A relative import that could not be resolved to a file (still part of the hash). */
export interface UnresolvedImport {
  /** Importing file, relative to root. */
  from: string;
  specifier: string;
}

export interface CodeHash {
  /** Hex sha256 over every file's relative path and content hash. */
  hash: string;
  /** Every local module reached from the entry, sorted by path. */
  files: CodeFile[];
  /** Relative imports that did not resolve; included in `hash` so the set is stable. */
  unresolved: UnresolvedImport[];
}

export interface CodeHashOptions {
  /**
   * Directory that file paths are reported relative to (and which makes the hash
   * independent of where the project is checked out). Defaults to the nearest
   * ancestor of the entry file that holds a package.json, else the entry's directory.
   */
  root?: string;
}

export class CodeHashError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'CodeHashError';
  }
}

/** Extensions whose imports are followed; other local files (e.g. .json) are hashed but not parsed. */
const PARSED_EXTENSIONS = new Set(['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs']);
const TS_SOURCE = new Set(['.ts', '.tsx', '.mts', '.cts']);
/** Extensionless specifiers and directory index files: tried in this order. */
const BARE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];

/**
 * Source candidates for a specifier ending in a JS extension, the way TypeScript
 * NodeNext projects write them (`./x.js` for `x.ts`). When the importer is itself
 * TypeScript the TS source wins over a compiled sibling; when the importer is
 * plain JS (running from dist) the exact file wins.
 */
function jsExtensionCandidates(base: string, ext: string, importerIsTs: boolean): string[] {
  const stem = base.slice(0, -ext.length);
  let ts: string[];
  switch (ext) {
    case '.js':
      ts = ['.ts', '.tsx', '.mts', '.d.ts'];
      break;
    case '.jsx':
      ts = ['.tsx'];
      break;
    case '.mjs':
      ts = ['.mts', '.d.mts'];
      break;
    case '.cjs':
      ts = ['.cts', '.d.cts'];
      break;
    default:
      ts = [];
  }
  const tsCandidates = ts.map((e) => stem + e);
  return importerIsTs ? [...tsCandidates, base] : [base, ...tsCandidates];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** True for specifiers that name local files: `./`, `../`, `.`, `..`, absolute paths, `file:` URLs. */
export function isLocalSpecifier(specifier: string): boolean {
  return (
    specifier === '.' ||
    specifier === '..' ||
    specifier.startsWith('./') ||
    specifier.startsWith('../') ||
    specifier.startsWith('file:') ||
    specifier.startsWith('/') ||
    /^[A-Za-z]:[\\/]/.test(specifier)
  );
}

/**
 * Resolve a local import specifier from `importer` to an existing file, or
 * undefined. Bare (package) specifiers return undefined: they are covered by
 * the lockfile hash.
 */
export function resolveLocalImport(specifier: string, importer: string): string | undefined {
  if (!isLocalSpecifier(specifier)) return undefined;
  let target: string;
  if (specifier.startsWith('file:')) {
    try {
      target = fileURLToPath(specifier);
    } catch {
      return undefined;
    }
  } else {
    // Drop any query or hash (`./x.js?raw`); decode URL escapes as Node does.
    const cleaned = specifier.replace(/[?#].*$/, '');
    let decoded = cleaned;
    try {
      decoded = decodeURIComponent(cleaned);
    } catch {
      // keep as written
    }
    target = isAbsolute(decoded) ? decoded : resolve(dirname(importer), decoded);
  }
  const importerIsTs = TS_SOURCE.has(extname(importer)) || importer.endsWith('.d.ts');
  const ext = extname(target);
  const candidates: string[] = [];
  if (ext === '.js' || ext === '.jsx' || ext === '.mjs' || ext === '.cjs') {
    candidates.push(...jsExtensionCandidates(target, ext, importerIsTs));
  } else if (ext !== '' && !isDirectory(target)) {
    candidates.push(target);
  }
  candidates.push(...BARE_EXTENSIONS.map((e) => target + e));
  candidates.push(...BARE_EXTENSIONS.map((e) => join(target, `index${e}`)));
  for (const candidate of candidates) {
    if (isFile(candidate)) return candidate;
  }
  return undefined;
}

/** Nearest ancestor (inclusive) of `dir` that holds a package.json, or undefined. */
export function findPackageRoot(dir: string): string | undefined {
  let current = resolve(dir);
  for (;;) {
    if (existsSync(join(current, 'package.json'))) return current;
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

function toPosix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}

function canonicalPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * `import type { A } from`, `import type * as N from`, `import type D from` — but not
 * `import type from '…'` or `import type, { a } from '…'` (a default import named `type`).
 */
const TYPE_ONLY_IMPORT = /^import\s+type(?:\s*[{*]|\s+(?!from\b)[\w$]+\s+from\b)/;

let lexerReady: Promise<void> | undefined;

/** Local import specifiers of one module (static imports, re-exports, string-literal dynamic imports). */
export async function localSpecifiers(source: string, file: string): Promise<string[]> {
  lexerReady ??= initLexer;
  await lexerReady;
  let imports;
  try {
    [imports] = lexModule(source, file);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new CodeHashError(`cannot parse imports of ${file}: ${message}`, file);
  }
  const out: string[] = [];
  for (const entry of imports) {
    // t: 1 static import/export-from, 2 dynamic import(); 3 is import.meta (no specifier).
    // `n` is undefined for dynamic imports whose argument is not a plain string literal.
    if ((entry.t === 1 || entry.t === 2 || entry.t === 4 || entry.t === 5) && entry.n !== undefined) {
      if (!isLocalSpecifier(entry.n)) continue;
      // TypeScript erases whole-statement type-only imports, so they cannot change runtime
      // behaviour. (es-module-lexer already skips `export type { … } from`.)
      if (entry.t === 1 && TYPE_ONLY_IMPORT.test(source.slice(entry.ss, entry.se))) continue;
      out.push(entry.n);
    }
  }
  return out;
}

/**
 * Hash a step's code: the entry module's bytes plus those of every local module
 * it imports, transitively. Relative/absolute/file: specifiers are followed
 * (`./x.js` resolves to `x.ts` as in TypeScript NodeNext projects, directory
 * imports to index files); bare package specifiers are not (the lockfile hash
 * covers them), nor are dynamic imports of computed strings, nor whole-statement
 * type-only imports/re-exports (erased by TypeScript; `import { type A, b }` is
 * followed). Non-code local imports (e.g. `./data.json`) are hashed, not parsed.
 * Cycles are visited once.
 *
 * The hash covers each file's path relative to `root` and its content hash, in
 * path order, so it does not depend on the checkout location or traversal order.
 */
export async function codeHash(entryFile: string, options: CodeHashOptions = {}): Promise<CodeHash> {
  const entryInput = entryFile.startsWith('file:') ? fileURLToPath(entryFile) : entryFile;
  const entry = canonicalPath(resolve(entryInput));
  if (!isFile(entry)) throw new CodeHashError(`step code file not found: ${entryInput}`, entryInput);
  const root = canonicalPath(resolve(options.root ?? findPackageRoot(dirname(entry)) ?? dirname(entry)));
  const rel = (file: string): string => toPosix(relative(root, file)) || '.';

  const files = new Map<string, CodeFile>();
  const unresolved: UnresolvedImport[] = [];
  const seen = new Set<string>([entry]);
  const queue: string[] = [entry];
  while (queue.length > 0) {
    const file = queue.shift() as string;
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new CodeHashError(`cannot read ${file}: ${message}`, file);
    }
    files.set(file, { path: rel(file), hash: sha256(bytes) });
    const isDeclaration = /\.d\.[cm]?ts$/.test(file);
    if (!PARSED_EXTENSIONS.has(extname(file)) && !isDeclaration) continue;
    for (const specifier of await localSpecifiers(bytes.toString('utf8'), file)) {
      const resolved = resolveLocalImport(specifier, file);
      if (resolved === undefined) {
        unresolved.push({ from: rel(file), specifier });
        continue;
      }
      const target = canonicalPath(resolved);
      if (!seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }

  const sortedFiles = [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const sortedUnresolved = unresolved
    .filter((u, i, all) => all.findIndex((o) => o.from === u.from && o.specifier === u.specifier) === i)
    .sort((a, b) => (a.from + '\0' + a.specifier < b.from + '\0' + b.specifier ? -1 : 1));
  const lines = ['flywheel-code-hash v1'];
  for (const f of sortedFiles) lines.push(`file\0${f.path}\0${f.hash}`);
  for (const u of sortedUnresolved) lines.push(`unresolved\0${u.from}\0${u.specifier}`);
  return { hash: sha256(lines.join('\n')), files: sortedFiles, unresolved: sortedUnresolved };
}

/** Directory holding src/pipelines (or dist/src/pipelines when compiled): this file's grandparent. */
const PIPELINES_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

/** File path of one V8 stack frame line, or undefined for native/internal frames. */
export function frameFile(line: string): string | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('at ')) return undefined;
  // "at fn (LOCATION)" or "at LOCATION"; LOCATION is "path:line:col".
  const inParens = /\((.*)\)\s*$/.exec(trimmed);
  let location = inParens ? inParens[1] : trimmed.slice(3).replace(/^async\s+/, '');
  // eval frames: "eval at f (file:1:2), <anonymous>:1:1" — take the location of the eval call.
  if (location.startsWith('eval at')) {
    const evalMatch = /\(([^()]+)\)/.exec(location);
    if (!evalMatch) return undefined;
    location = evalMatch[1];
  }
  const m = /^(.*?)(?::\d+)?(?::\d+)?$/.exec(location);
  let file = m ? m[1] : location;
  if (file === '' || file === 'native' || file === '<anonymous>' || file.startsWith('node:')) return undefined;
  if (file.startsWith('file:')) {
    file = file.replace(/[?#].*$/, '');
    try {
      return fileURLToPath(file);
    } catch {
      return undefined;
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(file)) return undefined; // http:, data: etc.
  file = file.replace(/[?#].*$/, '');
  return isAbsolute(file) ? file : undefined;
}

function isInside(file: string, dir: string): boolean {
  const r = relative(dir, file);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}

export interface CallerFileOptions {
  /** Extra directories whose frames are skipped (besides the pipelines package itself). */
  skipDirs?: string[];
}

/**
 * The file of the nearest caller outside the pipelines package, from a stack
 * trace: call it from `step()` at definition time to learn where the step
 * function is defined. Handles `file://` URLs and Windows/POSIX paths; returns
 * undefined when no such frame is found.
 */
export function callerFile(options: CallerFileOptions = {}): string | undefined {
  // Compare both as given and with symlinks resolved (e.g. macOS /var → /private/var).
  const skip = [PIPELINES_DIR, ...(options.skipDirs ?? [])].flatMap((d) => [resolve(d), canonicalPath(d)]);
  const previousLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 100;
  let stack: string;
  try {
    stack = new Error().stack ?? '';
  } finally {
    Error.stackTraceLimit = previousLimit;
  }
  for (const line of stack.split('\n').slice(1)) {
    const file = frameFile(line);
    if (file === undefined) continue;
    const real = canonicalPath(file);
    if (skip.some((dir) => isInside(file, dir) || isInside(real, dir))) continue;
    return file;
  }
  return undefined;
}

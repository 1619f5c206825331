/**
 * How a step output becomes files and back. A materializer writes a value into a fresh, empty directory and
 * reads it back from a directory holding exactly those files; the directory is then stored content-addressed.
 */

/** A small, JSON-safe preview shown in the UI beside an artifact. */
export type Visualization = (
  | { kind: 'table'; columns: string[]; rows: unknown[][]; totalRows: number }
  /** An image: `path` relative to the materialized directory, or the bytes as base64 `data`. */
  | { kind: 'image'; mimeType: string; path?: string; data?: string }
  /**
   * HTML, inline (`html`) or a file of the materialized directory (`path`). Always shown sandboxed: the
   * server sends it with `Content-Security-Policy: sandbox`, never as a page of its own origin.
   */
  | { kind: 'html'; html?: string; path?: string }
  | { kind: 'markdown'; markdown: string }
) & {
  /** A caption for the UI. */
  title?: string;
};

/** Rows in a table visualization, at most. */
export const MAX_PREVIEW_ROWS = 20;

export interface Materializer<T = unknown> {
  /** Unique in a registry; stored with every artifact so it can be loaded again. */
  readonly name: string;
  /** Format version of the files written; a stored artifact loads only with the same major version. */
  readonly version: string;
  /** The artifact type shown to users (`json`, `table`, `model`, ...). */
  readonly type: string;
  /**
   * True when `load` returns a value that refers to files inside its directory (a file path, a model
   * directory), so the directory must outlive the value.
   */
  readonly keepsFiles?: boolean;
  canHandle(value: unknown): boolean;
  /** Writes `value` into `dir`, an existing empty directory. */
  save(value: T, dir: string): Promise<void>;
  /** Reads the value back from a directory `save` wrote. */
  load(dir: string): Promise<T>;
  /**
   * Previews for the UI; `dir` holds the files `save` wrote. For a materializer with `inMemory`, values are
   * stored without a directory and `dir` is '' (such a `visualize` must work from the value alone).
   */
  visualize?(value: T, dir: string): Promise<Visualization[]>;
  /**
   * For values that are whole in memory anyway (JSON, strings, bytes): the one file `save` would write, as
   * bytes (the same bytes, so the content hash is the same), and the value back from them. Outputs are then
   * hashed and stored without a temp directory, and loaded without one.
   */
  readonly inMemory?: InMemoryCodec<T>;
}

export interface InMemoryCodec<T> {
  /** The file's name, as `save` writes it. */
  readonly file: string;
  /** Exactly the bytes `save` writes into `file`; may throw for a value it cannot store. */
  encode(value: T): Buffer;
  /** The value from the bytes; must not keep a reference to `bytes` that the caller could see mutated. */
  decode(bytes: Buffer): T;
}

const LOCAL_FILE = Symbol.for('flywheel.LocalFile');
const LOCAL_DIRECTORY = Symbol.for('flywheel.LocalDirectory');
const MODEL_DIRECTORY = Symbol.for('flywheel.ModelDirectory');

/** A file on disk given as a step output: its bytes are stored under its base name. */
export class LocalFile {
  readonly [LOCAL_FILE] = true;
  constructor(readonly path: string) {}
  /** By brand, not prototype: a pipeline file and the CLI running it may hold different copies of this module. */
  static [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[LOCAL_FILE] === true;
  }
}

/** A directory tree on disk given as a step output (regular files; empty directories are not kept). */
export class LocalDirectory {
  readonly [LOCAL_DIRECTORY] = true;
  constructor(readonly path: string) {}
  /** By brand, not prototype: a pipeline file and the CLI running it may hold different copies of this module. */
  static [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[LOCAL_DIRECTORY] === true;
  }
}

/** A saved Flywheel model directory (one holding an MLmodel file), as written by `saveModel`. */
export class ModelDirectory {
  readonly [MODEL_DIRECTORY] = true;
  constructor(readonly path: string) {}
  /** By brand, not prototype: a pipeline file and the CLI running it may hold different copies of this module. */
  static [Symbol.hasInstance](v: unknown): boolean {
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[MODEL_DIRECTORY] === true;
  }
}

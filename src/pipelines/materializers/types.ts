/**
 * How a step output becomes files and back. A materializer writes a value into a fresh, empty directory and
 * reads it back from a directory holding exactly those files; the directory is then stored content-addressed.
 */

/** A small, JSON-safe preview shown in the UI beside an artifact. */
export type Visualization =
  | { kind: 'table'; columns: string[]; rows: unknown[][]; totalRows: number }
  /** An image: `path` relative to the materialized directory, or the bytes as base64 `data`. */
  | { kind: 'image'; mimeType: string; path?: string; data?: string }
  | { kind: 'html'; html: string }
  | { kind: 'markdown'; markdown: string };

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
  /** Previews for the UI; `dir` holds the files `save` wrote. */
  visualize?(value: T, dir: string): Promise<Visualization[]>;
}

/** A file on disk given as a step output: its bytes are stored under its base name. */
export class LocalFile {
  constructor(readonly path: string) {}
}

/** A directory tree on disk given as a step output (regular files; empty directories are not kept). */
export class LocalDirectory {
  constructor(readonly path: string) {}
}

/** A saved Flywheel model directory (one holding an MLmodel file), as written by `saveModel`. */
export class ModelDirectory {
  constructor(readonly path: string) {}
}

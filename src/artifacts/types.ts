import type { Readable } from 'node:stream';

/** An entry of an artifact listing, in MLflow's FileInfo shape (`file_size` for files only). */
export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

/**
 * One artifact store (a local directory, later S3). Paths are relative, `/`-separated and already checked by
 * `safeRelativePath`; implementations still contain every resolved path inside their root.
 */
export interface ArtifactRepository {
  /** Entries directly under `dir` ('' = root), paths relative to the root; [] for a missing directory. */
  list(dir: string): Promise<FileInfo[]>;
  /** A stream of the file and its size; RESOURCE_DOES_NOT_EXIST if absent. */
  read(path: string): Promise<{ stream: Readable; size: number }>;
  /** Streams `body` into `path` (atomically: a temp file renamed into place), creating parent directories. */
  write(path: string, body: Readable | Buffer): Promise<void>;
  /** Deletes a file or a directory tree; no error if absent. */
  delete(path: string): Promise<void>;
}

/**
 * The artifact side of the server: the repository it controls, the root URI new experiments get, and the
 * one place client-supplied artifact URIs are classified.
 */
export interface ArtifactStore {
  readonly repository: ArtifactRepository;
  /** `mlflow-artifacts:/` when the server proxies artifacts (default); else a `file://` URI of the root. */
  readonly defaultArtifactRoot: string;
  /** Validates a new experiment's `artifact_location`; returns it normalised, or throws INVALID_PARAMETER_VALUE. */
  validateArtifactLocation(uri: string): string;
  /**
   * Lists `path` under an artifact URI the server owns (a run's `artifact_uri`, a logged model's). FileInfo
   * paths are relative to `artifactUri`, as MLflow's artifacts/list answers. Unknown schemes: [].
   */
  listArtifacts(artifactUri: string, path?: string): Promise<FileInfo[]>;
  /**
   * False when the server runs with `--no-serve-artifacts`: the `/mlflow-artifacts` proxy endpoints then
   * answer 503. Absent = true.
   */
  readonly serveArtifacts?: boolean;
  /**
   * The repository path of `path` under an artifact URI the server owns (`mlflow-artifacts:/…`, a `file:`
   * URI inside the root), for reading and writing a run's artifacts; undefined for URIs the server does not
   * serve (`s3://…`, invalid stored URIs). Throws INVALID_PARAMETER_VALUE for an unsafe `path`.
   */
  resolveArtifactPath?(artifactUri: string, path?: string): string | undefined;
}

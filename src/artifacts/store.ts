import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalArtifactRepository } from './local-repository.js';
import { joinRelative, safeRelativePath } from './paths.js';
import { classifyArtifactUri, DEFAULT_REMOTE_SCHEMES, type ArtifactUriClass } from './uri.js';
import type { ArtifactStore, FileInfo } from './types.js';

export interface ArtifactStoreOptions {
  /** Directory the server stores artifacts in (`--artifacts-destination`). */
  root: string;
  /** Proxy artifacts through the server (default true): new experiments get `mlflow-artifacts:/`. */
  serveArtifacts?: boolean;
  /** Object-store schemes accepted in client-supplied artifact locations (default s3, gs, wasbs, abfss). */
  remoteSchemes?: readonly string[];
}

export interface LocalArtifactStore extends ArtifactStore {
  readonly repository: LocalArtifactRepository;
  /** Absolute artifact root directory. */
  readonly root: string;
  readonly serveArtifacts: boolean;
  /** classifyArtifactUri with this store's root and schemes. */
  classify(uri: string): ArtifactUriClass;
  resolveArtifactPath(artifactUri: string, path?: string): string | undefined;
}

/** The artifact side of the server, on a local directory. */
export function createArtifactStore(options: ArtifactStoreOptions): LocalArtifactStore {
  const root = resolve(options.root);
  const serveArtifacts = options.serveArtifacts ?? true;
  const remoteSchemes = options.remoteSchemes ?? DEFAULT_REMOTE_SCHEMES;
  const repository = new LocalArtifactRepository(root);
  const classify = (uri: string) => classifyArtifactUri(uri, { root, remoteSchemes });

  /** Repository-relative base of a URI this server owns; undefined for remote or invalid (stored) URIs. */
  function baseOf(artifactUri: string): string | undefined {
    let c: ArtifactUriClass;
    try {
      c = classify(artifactUri);
    } catch {
      return undefined;
    }
    if (c.kind === 'proxy') return c.path;
    if (c.kind === 'local') return c.rel;
    return undefined;
  }

  return {
    repository,
    root,
    serveArtifacts,
    defaultArtifactRoot: serveArtifacts ? 'mlflow-artifacts:/' : pathToFileURL(root).href,
    classify,
    validateArtifactLocation(uri: string): string {
      return classify(uri).uri;
    },
    resolveArtifactPath(artifactUri: string, path = ''): string | undefined {
      const rel = safeRelativePath(path);
      const base = baseOf(artifactUri);
      return base === undefined ? undefined : joinRelative(base, rel);
    },
    async listArtifacts(artifactUri: string, path = ''): Promise<FileInfo[]> {
      const rel = safeRelativePath(path);
      const base = baseOf(artifactUri);
      if (base === undefined) return [];
      const entries = await repository.list(joinRelative(base, rel));
      const strip = base === '' ? 0 : base.length + 1;
      return entries.map((e) => ({ ...e, path: e.path.slice(strip) }));
    },
  };
}

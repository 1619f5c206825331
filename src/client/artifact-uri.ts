import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalArtifactRepository } from '../artifacts/index.js';
import { safeRelativePath } from '../artifacts/paths.js';
import type { ArtifactRepository } from '../artifacts/types.js';
import { FlywheelError, invalidParameter } from '../core/index.js';
import { ARTIFACTS_PROXY_PATH } from './http-artifact-repository.js';

/** How a client reaches proxied artifacts: over HTTP (remote) or in a local directory (embedded). */
export interface ArtifactAccess {
  /** A `mlflow-artifacts:` URI: `path` relative to the proxy's root, `authority` its host[:port] if it names one. */
  proxied(path: string, authority: string | undefined): ArtifactRepository;
  /**
   * An `http(s)://host[/prefix]/api/2.0/mlflow-artifacts/artifacts/<path>` URI (`baseUrl` = up to the prefix);
   * absent when only local access exists.
   */
  http?(baseUrl: string, path: string): ArtifactRepository;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s;

/**
 * The repository behind an artifact URI (a run's `artifact_uri`), dispatched on its scheme as MLflow's
 * client does: `mlflow-artifacts:` through the proxy, `file:` and plain paths directly on this machine.
 */
export function repositoryForArtifactUri(uri: string, access: ArtifactAccess): ArtifactRepository {
  const m = SCHEME.exec(uri);
  if (!m || m[1].length === 1) return new LocalArtifactRepository(resolve(uri));
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  if (scheme === 'file') {
    try {
      return new LocalArtifactRepository(fileURLToPath(uri));
    } catch (e) {
      throw invalidParameter(`Cannot use artifact URI '${uri}': ${(e as Error).message}`);
    }
  }
  if (scheme === 'mlflow-artifacts') {
    let authority: string | undefined;
    let path = rest;
    if (rest.startsWith('//')) {
      const slash = rest.indexOf('/', 2);
      authority = (slash === -1 ? rest.slice(2) : rest.slice(2, slash)) || undefined;
      path = slash === -1 ? '' : rest.slice(slash);
    }
    return access.proxied(proxyPath(uri, path), authority);
  }
  if ((scheme === 'http' || scheme === 'https') && access.http) {
    const url = new URL(uri);
    const at = url.pathname.indexOf(ARTIFACTS_PROXY_PATH);
    if (at !== -1) {
      return access.http(url.origin + url.pathname.slice(0, at), proxyPath(uri, url.pathname.slice(at + ARTIFACTS_PROXY_PATH.length)));
    }
  }
  throw new FlywheelError('NOT_IMPLEMENTED', `Artifact URI '${uri}': the scheme '${scheme}:' is not supported by this client yet`);
}

function proxyPath(uri: string, path: string): string {
  try {
    return safeRelativePath(decodeURIComponent(path.replace(/^\/+/, '')));
  } catch (e) {
    throw invalidParameter(`Cannot use artifact URI '${uri}': ${(e as Error).message}`);
  }
}

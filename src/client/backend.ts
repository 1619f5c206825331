import type { ArtifactRepository } from '../artifacts/types.js';
import { invalidParameter } from '../core/index.js';
import type { RegistryService } from '../registry/service.js';
import type { TrackingService } from '../tracking/service.js';
import { repositoryForArtifactUri } from './artifact-uri.js';
import { HttpArtifactRepository } from './http-artifact-repository.js';
import { HttpRegistryClient } from './http-registry-client.js';
import { HttpTrackingClient } from './http-tracking-client.js';
import { HttpTransport, type HttpTransportOptions } from './http-transport.js';

/** Where tracking calls and artifact bytes go: a server (remote) or a store opened in this process (embedded). */
export interface TrackingBackend {
  readonly kind: 'remote' | 'embedded';
  readonly tracking: TrackingService;
  readonly registry: RegistryService;
  /** Appends an MLmodel (as JSON) to a run's `mlflow.log-model.history` tag (MLflow 2.x runs/log-model). */
  logModelHistory(runId: string, modelJson: string): Promise<void>;
  /** The repository behind an artifact URI (a run's `artifact_uri`). */
  artifactRepository(artifactUri: string): ArtifactRepository;
  /** Fails unless the backend answers (a server's `/health`; an open store always does). */
  check(): Promise<void>;
  close(): Promise<void>;
}

export interface BackendOptions extends Omit<HttpTransportOptions, 'baseUrl'> {
  /** Embedded only: the directory `mlflow-artifacts:/` URIs resolve to. */
  artifactsDestination?: string;
}

/** The store a new client uses when none is named: as `flywheel server` does, under `./flywheel-data`. */
export const DEFAULT_TRACKING_URI = './flywheel-data/flywheel.db';

export function defaultTrackingUri(env: NodeJS.ProcessEnv = process.env): string {
  return env.FLYWHEEL_TRACKING_URI || env.MLFLOW_TRACKING_URI || DEFAULT_TRACKING_URI;
}

export const isRemoteTrackingUri = (uri: string): boolean => /^https?:\/\//i.test(uri);

/**
 * `http(s)://…` → a server; a file path, `sqlite:` or `postgresql://` URI → a store opened here (migrated,
 * with the Default experiment). The embedded side is imported lazily, so a remote client never loads SQLite.
 */
export async function openBackend(uri: string, options: BackendOptions = {}): Promise<TrackingBackend> {
  if (isRemoteTrackingUri(uri)) return remoteBackend({ ...options, baseUrl: uri });
  if (/^(file|databricks|mlflow-artifacts):/i.test(uri)) {
    throw invalidParameter(
      `Tracking URI '${uri}' is not supported: use http(s)://host:port for a server, or a SQLite file path, ` +
        `sqlite: or postgresql:// URI for an embedded store.`,
    );
  }
  const { openEmbeddedBackend } = await import('./embedded-backend.js');
  return openEmbeddedBackend(uri, options);
}

export function remoteBackend(options: HttpTransportOptions): TrackingBackend {
  const transport = new HttpTransport(options);
  const trackingUrl = new URL(transport.baseUrl);
  const transportFor = (baseUrl: string) =>
    baseUrl.replace(/\/+$/, '') === transport.baseUrl ? transport : new HttpTransport({ ...options, baseUrl });
  return {
    kind: 'remote',
    tracking: new HttpTrackingClient(transport),
    registry: new HttpRegistryClient(transport),
    async logModelHistory(runId, modelJson) {
      await transport.json('POST', '/api/2.0/mlflow/runs/log-model', { json: { run_id: runId, model_json: modelJson }, idempotent: false });
    },
    artifactRepository: (artifactUri) =>
      repositoryForArtifactUri(artifactUri, {
        proxied: (path, authority) =>
          new HttpArtifactRepository(
            authority ? transportFor(`${trackingUrl.protocol}//${authority}${trackingUrl.pathname}`) : transport,
            path,
          ),
        http: (baseUrl, path) => new HttpArtifactRepository(transportFor(baseUrl), path),
      }),
    async check() {
      const res = await transport.request('GET', '/health', { idempotent: true });
      await res.body?.cancel();
    },
    close: async () => {},
  };
}

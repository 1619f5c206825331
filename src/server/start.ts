import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { createArtifactStore } from '../artifacts/index.js';
import { migrateToLatest, openStore } from '../store/index.js';
import { SqlTrackingStore } from '../tracking/index.js';
import { SqlRegistryStore } from '../registry/index.js';
import { PipelineQueries } from '../pipelines/pipeline-queries.js';
import { SqlServingStore } from '../serving/sql-serving-store.js';
import { buildApp } from './app.js';
import { allowedHostsFor } from './host-check.js';

export interface ServerOptions {
  /** `sqlite:` URI, a file path, or `postgresql://…`. */
  backendStoreUri: string;
  /** Directory the artifact proxy stores into. */
  artifactsDestination: string;
  /** Root URI for new experiments' artifacts; default `mlflow-artifacts:/` (proxied through this server). */
  defaultArtifactRoot?: string;
  host?: string;
  port?: number;
  /**
   * Host names to answer besides the listen address's own (loopback names when it is a loopback address);
   * `*` answers all. Guards a local server against DNS rebinding.
   */
  allowedHosts?: string[];
  /** Proxy artifacts through the server (default true). */
  serveArtifacts?: boolean;
  logLevel?: string;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Opens the store, migrates it, ensures the Default experiment, and listens. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const logger = pino({ level: options.logLevel ?? 'info' });
  const store = openStore(options.backendStoreUri);
  try {
    const applied = await migrateToLatest(store);
    if (applied.length) logger.info({ applied }, `store migrated (${applied.join(', ')})`);
    const serveArtifacts = options.serveArtifacts ?? true;
    const artifacts = createArtifactStore({ root: resolve(options.artifactsDestination), serveArtifacts });
    const defaultArtifactRoot =
      options.defaultArtifactRoot ?? (serveArtifacts ? 'mlflow-artifacts:/' : pathToFileURL(resolve(options.artifactsDestination)).href);
    const tracking = new SqlTrackingStore(store, {
      defaultArtifactRoot,
      validateArtifactLocation: (uri) => artifacts.validateArtifactLocation(uri),
    });
    await tracking.ensureDefaultExperiment();
    const host = options.host ?? '127.0.0.1';
    const registry = new SqlRegistryStore(store, { tracking, classify: (uri) => artifacts.classify(uri) });
    const pipelines = new PipelineQueries(store);
    const serving = new SqlServingStore(store);
    const app = await buildApp({ tracking, artifacts, registry, pipelines, serving, logger, allowedHosts: allowedHostsFor(host, options.allowedHosts) });
    const address = await app.listen({ host, port: options.port ?? 5000 });
    const url = address.replace('://[::1]', '://localhost');
    return {
      url,
      async close() {
        await app.close();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}

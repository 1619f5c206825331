import { dirname, join, resolve } from 'node:path';
import { classifyArtifactUri, LocalArtifactRepository } from '../artifacts/index.js';
import { SqlRegistryStore } from '../registry/sql-registry-store.js';
import { migrateToLatest, openStore } from '../store/index.js';
import { appendLogModelHistory, SqlTrackingStore } from '../tracking/index.js';
import { repositoryForArtifactUri } from './artifact-uri.js';
import type { BackendOptions, TrackingBackend } from './backend.js';

/**
 * A store opened in this process: migrated, with experiment "0" (Default). New experiments get
 * `mlflow-artifacts:/<id>` locations, as under a server, and those resolve into the artifacts directory, so
 * a `flywheel server` started later on the same store and directory serves what was logged here.
 */
export async function openEmbeddedBackend(uri: string, options: BackendOptions = {}): Promise<TrackingBackend> {
  const store = openStore(uri);
  try {
    await migrateToLatest(store);
    const tracking = new SqlTrackingStore(store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    await tracking.ensureDefaultExperiment();
    const root = resolve(options.artifactsDestination ?? process.env.FLYWHEEL_ARTIFACTS_DESTINATION ?? defaultArtifactsDir(store.location, store.dialect));
    // As the server builds it: version sources are checked by the artifact store's classifier (with its root).
    const registry = new SqlRegistryStore(store, { tracking, classify: (u) => classifyArtifactUri(u, { root }) });
    return {
      kind: 'embedded',
      tracking,
      registry,
      logModelHistory: (runId, modelJson) => appendLogModelHistory(tracking, runId, modelJson),
      artifactRepository: (artifactUri) =>
        repositoryForArtifactUri(artifactUri, { proxied: (path) => new LocalArtifactRepository(join(root, path)) }),
      check: async () => {},
      close: () => store.close(),
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** `<directory of the SQLite file>/artifacts`; `./flywheel-data/artifacts` for PostgreSQL and in-memory stores. */
function defaultArtifactsDir(location: string, dialect: string): string {
  return dialect === 'sqlite' && location !== ':memory:' ? join(dirname(location), 'artifacts') : 'flywheel-data/artifacts';
}

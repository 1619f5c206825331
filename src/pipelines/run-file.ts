import { existsSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalArtifactRepository } from '../artifacts/index.js';
import { migrateToLatest, openStore, type Store } from '../store/index.js';
import { SqlTrackingStore } from '../tracking/index.js';
import { ArtifactOutputStore } from './artifact-output-store.js';
import { loadPipelineConfig, type PipelineConfig } from './config.js';
import type { Params, Pipeline } from './dsl.js';
import { runLocal, type FailureMode, type PipelineRunResult, type ProgressEvent } from './local-orchestrator.js';
import { SqlPipelineStore } from './sql-pipeline-store.js';

/** A pipeline file that cannot be loaded or holds no usable pipeline; the message says which and why. */
export class PipelineFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PipelineFileError';
  }
}

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.tsx']);
const JS_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);

export type AnyPipeline = Pipeline<Params, unknown>;

/** What `pipeline(...)` returns, recognised by shape (the file may use another copy of this module). */
export function isPipeline(v: unknown): v is AnyPipeline {
  return (
    typeof v === 'function' &&
    typeof (v as { pipelineName?: unknown }).pipelineName === 'string' &&
    typeof (v as { build?: unknown }).build === 'function'
  );
}

let tsLoader: Promise<void> | undefined;

/**
 * Makes `import()` of TypeScript files work. Running from source (tsx, vitest) a TS loader is active already.
 * From compiled code, tsx's loader is registered for the whole process (not `tsImport`'s namespaced one):
 * a namespaced import would load a second copy of every module the pipeline file shares with the CLI.
 */
function ensureTypeScriptLoader(): Promise<void> {
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  tsLoader ??= import('tsx/esm/api').then(({ register }) => {
    register();
  });
  return tsLoader;
}

/** Imports a pipeline file (.ts through tsx, .js/.mjs as is); errors name the file and say what went wrong. */
export async function importPipelineFile(file: string): Promise<Record<string, unknown>> {
  const path = resolve(file);
  if (!existsSync(path)) throw new PipelineFileError(`pipeline file not found: ${file}`);
  if (!statSync(path).isFile()) throw new PipelineFileError(`not a file: ${file}`);
  const ext = extname(path);
  if (!TS_EXTENSIONS.has(ext) && !JS_EXTENSIONS.has(ext)) {
    throw new PipelineFileError(`cannot run '${file}': expected a .ts, .mts, .js or .mjs file`);
  }
  if (TS_EXTENSIONS.has(ext)) await ensureTypeScriptLoader();
  try {
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error;
    // esbuild's transform errors are long; the first lines hold the file, line and message.
    const message = String(err?.message ?? e).split('\n').filter(Boolean).slice(0, 4).join('\n  ');
    const kind = err?.name === 'SyntaxError' || /Transform failed|ERROR:/.test(message) ? 'syntax error in' : 'failed to load';
    throw new PipelineFileError(`${kind} ${file}: ${message}`);
  }
}

/**
 * The pipeline to run from a module's exports: the export named `name`, else the default export, else the
 * only exported pipeline.
 */
export function selectPipeline(mod: Record<string, unknown>, file: string, name?: string): AnyPipeline {
  const pipelines = Object.entries(mod).filter(([, v]) => isPipeline(v)) as [string, AnyPipeline][];
  const listed = () => (pipelines.length ? pipelines.map(([k, p]) => `${k} (${p.pipelineName})`).join(', ') : 'none');
  if (name !== undefined) {
    if (!(name in mod)) {
      // Also accept the pipeline's own name, as shown by `pipeline runs list`.
      const byName = pipelines.filter(([, p]) => p.pipelineName === name);
      if (byName.length === 1) return byName[0][1];
      throw new PipelineFileError(`${file} has no export '${name}'; exported pipelines: ${listed()}`);
    }
    const v = mod[name];
    if (!isPipeline(v)) throw new PipelineFileError(`export '${name}' of ${file} is not a pipeline (made with pipeline(...))`);
    return v;
  }
  if (mod.default !== undefined) {
    if (!isPipeline(mod.default)) throw new PipelineFileError(`the default export of ${file} is not a pipeline (made with pipeline(...))`);
    return mod.default;
  }
  if (pipelines.length === 1) return pipelines[0][1];
  if (pipelines.length === 0) throw new PipelineFileError(`${file} exports no pipeline; export one made with pipeline(...)`);
  throw new PipelineFileError(`${file} exports several pipelines: ${listed()}; choose one with --pipeline <export>`);
}

/** `key=value` pairs as pipeline parameters: values parse as JSON when they can (`lr=0.1`, `tags=["a"]`), else stay strings. */
export function parseParamPairs(pairs: string[]): Params {
  const out: Params = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new PipelineFileError(`invalid --param '${pair}': expected key=value`);
    const raw = pair.slice(eq + 1);
    let value: Params[string];
    try {
      value = JSON.parse(raw) as Params[string];
    } catch {
      value = raw;
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

/** `<directory of the SQLite file>/artifacts`, else `./flywheel-data/artifacts` (as the embedded SDK and the server do). */
export function defaultArtifactRoot(store: Store): string {
  return store.dialect === 'sqlite' && store.location !== ':memory:' ? join(dirname(store.location), 'artifacts') : 'flywheel-data/artifacts';
}

export interface RunPipelineFileOptions {
  file: string;
  /** Export to run (see `selectPipeline`). */
  exportName?: string;
  /** SQLite path, `sqlite:` or `postgresql://` URI. */
  storeUri: string;
  /** Where artifact versions are stored (content-addressed under `cas/`); default as `defaultArtifactRoot`. */
  artifactRoot?: string;
  configFile?: string;
  params?: Params;
  cache?: boolean;
  concurrency?: number;
  mode?: FailureMode;
  handleSignals?: boolean;
  onProgress?: (event: ProgressEvent) => void;
  /** Called once the pipeline is found, before it runs. */
  onLoaded?: (info: { pipelineName: string; storeUri: string; artifactRoot: string }) => void;
}

export interface RunPipelineFileResult {
  pipelineName: string;
  artifactRoot: string;
  result: PipelineRunResult;
}

/**
 * Runs a pipeline file against a store: loads it, records the run in the store (each step a tracking run),
 * stores outputs as artifact versions under the artifact root, and returns the result. Steps see the store
 * as FLYWHEEL_TRACKING_URI / MLFLOW_TRACKING_URI and the artifact root as FLYWHEEL_ARTIFACTS_DESTINATION,
 * so an SDK client they open logs and registers into the same place.
 */
export async function runPipelineFile(options: RunPipelineFileOptions): Promise<RunPipelineFileResult> {
  const config: PipelineConfig | undefined = options.configFile ? loadConfig(options.configFile) : undefined;
  const mod = await importPipelineFile(options.file);
  const p = selectPipeline(mod, options.file, options.exportName);
  const store = openStore(options.storeUri);
  try {
    await migrateToLatest(store);
    const tracking = new SqlTrackingStore(store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
    await tracking.ensureDefaultExperiment();
    const artifactRoot = resolve(options.artifactRoot ?? process.env.FLYWHEEL_ARTIFACTS_DESTINATION ?? defaultArtifactRoot(store));
    process.env.FLYWHEEL_TRACKING_URI = options.storeUri;
    process.env.MLFLOW_TRACKING_URI = options.storeUri;
    process.env.FLYWHEEL_ARTIFACTS_DESTINATION = artifactRoot;
    options.onLoaded?.({ pipelineName: p.pipelineName, storeUri: options.storeUri, artifactRoot });
    const result = await runLocal(p, {
      recorder: new SqlPipelineStore(store, tracking),
      // The artifact root itself, so a server on the same store and directory serves the versions and a model
      // version can be registered from `mlflow-artifacts:/cas/…`.
      outputStore: new ArtifactOutputStore({ store, repository: new LocalArtifactRepository(artifactRoot) }),
      ...(options.params ? { params: options.params } : {}),
      ...(config ? { config } : {}),
      ...(options.cache === false ? { cache: false } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      ...(options.mode ? { mode: options.mode } : {}),
      handleSignals: options.handleSignals ?? false,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return { pipelineName: p.pipelineName, artifactRoot, result };
  } finally {
    await store.close();
  }
}

function loadConfig(file: string): PipelineConfig {
  if (!existsSync(file)) throw new PipelineFileError(`config file not found: ${file}`);
  return loadPipelineConfig(file);
}

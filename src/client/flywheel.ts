import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { safeRelativePath } from '../artifacts/paths.js';
import type { ArtifactRepository, FileInfo } from '../artifacts/types.js';
import { FlywheelError, invalidParameter, isFlywheelError } from '../core/index.js';
import type { Experiment, KeyValue, Metric, Page, Run, RunStatus, ViewType } from '../tracking/entities.js';
import type { TrackingService } from '../tracking/service.js';
import type { ModelVersion, ModelVersionLineage, PromotionEvent, RegisteredModel } from '../registry/entities.js';
import type { RegistryService } from '../registry/service.js';
import type { LoadedModel, LoadModelOptions } from '../models/index.js';
import { joinArtifactUri, parseModelUri } from './model-uri.js';
import { ActiveRun, type ParamValue } from './active-run.js';
import { defaultTrackingUri, openBackend, type BackendOptions, type TrackingBackend } from './backend.js';
// ---- pipelines and artifacts (types only: the implementation is imported on first use) ----
import type { SaveArtifactOptions } from '../pipelines/artifact-admin.js';
import type { Materializer } from '../pipelines/materializers/types.js';
import type { ArtifactVersionDetail, ArtifactVersionView } from '../pipelines/pipeline-queries.js';
import type { Store } from '../store/database.js';
import type { LoadArtifactOptions, PipelineClient, PipelineRunDetail } from './pipeline-client.js';

/** Per attempt, for artifact uploads and downloads through a server (unless `timeoutMs` is set). */
const ARTIFACT_CONTENT_TIMEOUT_MS = 60 * 60 * 1000;

export interface FlywheelOptions extends BackendOptions {
  /**
   * `http(s)://host:port` for a server; a SQLite file path, `sqlite:` or `postgresql://` URI for a store
   * opened in this process. Default: FLYWHEEL_TRACKING_URI, MLFLOW_TRACKING_URI, `./flywheel-data/flywheel.db`.
   */
  trackingUri?: string;
  /** How long a logged metric point may wait in the buffer before it is sent (default 1000 ms). */
  metricFlushIntervalMs?: number;
}

export interface CreateExperimentOptions {
  artifactLocation?: string;
  tags?: Record<string, string>;
}

export interface SearchExperimentsOptions {
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
  viewType?: ViewType;
}

export interface StartRunOptions {
  /** Default: the experiment chosen by `setExperiment`, else FLYWHEEL_/MLFLOW_EXPERIMENT_ID or _NAME, else "0". */
  experimentId?: string;
  /** An experiment name, created if it does not exist. */
  experimentName?: string;
  runName?: string;
  tags?: Record<string, string>;
  /** Stored as the `mlflow.note.content` tag (the run's description in the UI). */
  description?: string;
  /** Makes this a nested run (tag `mlflow.parentRunId`). */
  parentRunId?: string;
  startTime?: number;
}

export interface RegisterModelOptions {
  tags?: Record<string, string>;
  description?: string;
  /** The run the model came from; taken from a `runs:/<run_id>/…` URI when not given. */
  runId?: string;
}

export interface SearchRegisteredModelsOptions {
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
}

/** Why (and, for an embedded store, by whom) a promotion happened; kept in the promotion history. */
export interface PromotionOptions {
  reason?: string;
  /** Embedded: stored as is; remote: sent as the `x-flywheel-user` header. */
  actor?: string;
}

export interface TransitionStageOptions extends PromotionOptions {
  /** Move the other versions in the target stage (Staging/Production) to Archived. */
  archiveExistingVersions?: boolean;
}

export interface SearchRunsOptions {
  /** Default: the experiment `startRun` would use. */
  experimentIds?: string[];
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
  viewType?: ViewType;
}

/**
 * The Flywheel SDK. The same calls work against a server (`http://…`) and against a store opened in this
 * process; entities come back in MLflow's wire shape (`run.info.run_id`, `run.data.metrics`).
 *
 * ```ts
 * const fw = new Flywheel({ trackingUri: 'http://localhost:5000' });
 * await fw.setExperiment('iris');
 * await fw.withRun({ runName: 'baseline' }, async (run) => {
 *   await run.logParams({ lr: 0.01 });
 *   await run.logMetric('loss', 0.3, { step: 1 });
 * });
 * ```
 */
export class Flywheel {
  readonly trackingUri: string;
  private readonly options: FlywheelOptions;
  private backendPromise: Promise<TrackingBackend> | undefined;
  private experimentId: string | undefined;

  constructor(options: FlywheelOptions = {}) {
    this.options = options;
    this.trackingUri = options.trackingUri ?? defaultTrackingUri();
  }

  /** A client whose backend is open and answers (a store migrated, a server's /health), so errors show here. */
  static async connect(uriOrOptions?: string | FlywheelOptions): Promise<Flywheel> {
    const options = typeof uriOrOptions === 'string' ? { trackingUri: uriOrOptions } : uriOrOptions ?? {};
    const client = new Flywheel(options);
    await (await client.backend()).check();
    return client;
  }

  private backend(): Promise<TrackingBackend> {
    // A failed open is not kept: the next call tries again (the server may be up by then).
    this.backendPromise ??= openBackend(this.trackingUri, this.options).catch((e: unknown) => {
      this.backendPromise = undefined;
      throw e;
    });
    return this.backendPromise;
  }

  /** The underlying `TrackingService` (SQL store or HTTP client), for calls the SDK does not wrap. */
  async tracking(): Promise<TrackingService> {
    return (await this.backend()).tracking;
  }

  /** Closes an embedded store (a server connection holds nothing). */
  async close(): Promise<void> {
    const pending = this.backendPromise;
    this.backendPromise = undefined;
    if (pending) await (await pending).close();
  }

  // ---- experiments ----

  async createExperiment(name: string, options: CreateExperimentOptions = {}): Promise<string> {
    return (await this.tracking()).createExperiment({
      name,
      ...(options.artifactLocation ? { artifact_location: options.artifactLocation } : {}),
      ...(options.tags ? { tags: keyValues(options.tags) } : {}),
    });
  }

  async getExperiment(experimentId: string): Promise<Experiment> {
    return (await this.tracking()).getExperiment(experimentId);
  }

  /** The experiment with this name (an active one before a deleted one), or undefined. */
  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    try {
      return await (await this.tracking()).getExperimentByName(name);
    } catch (e) {
      if (isFlywheelError(e) && e.code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw e;
    }
  }

  async searchExperiments(options: SearchExperimentsOptions = {}): Promise<Page<Experiment>> {
    return (await this.tracking()).searchExperiments({
      filter: options.filter,
      order_by: options.orderBy,
      max_results: options.maxResults,
      page_token: options.pageToken,
      view_type: options.viewType,
    });
  }

  /** Every experiment matching, page after page. */
  async *iterateExperiments(options: Omit<SearchExperimentsOptions, 'pageToken'> = {}): AsyncGenerator<Experiment> {
    yield* paginate((pageToken) => this.searchExperiments({ ...options, pageToken }));
  }

  /**
   * Gets or creates the experiment `name` and makes it the default for `startRun` and `searchRuns`. A deleted
   * experiment of that name is an error (restore it or pick another name), as in MLflow.
   */
  async setExperiment(name: string): Promise<Experiment> {
    const exp = await this.getOrCreateExperiment(name);
    this.experimentId = exp.experiment_id;
    return exp;
  }

  private async getOrCreateExperiment(name: string): Promise<Experiment> {
    const tracking = await this.tracking();
    let exp = await this.getExperimentByName(name);
    if (!exp) {
      try {
        exp = await tracking.getExperiment(await tracking.createExperiment({ name }));
      } catch (e) {
        // Another process created it between our get and create.
        if (!(isFlywheelError(e) && e.code === 'RESOURCE_ALREADY_EXISTS')) throw e;
        exp = await tracking.getExperimentByName(name);
      }
    }
    if (exp.lifecycle_stage === 'deleted') {
      throw new FlywheelError(
        'INVALID_STATE',
        `Experiment '${name}' (id ${exp.experiment_id}) is deleted. Restore it or choose another name.`,
      );
    }
    return exp;
  }

  async renameExperiment(experimentId: string, newName: string): Promise<void> {
    await (await this.tracking()).updateExperiment(experimentId, newName);
  }

  async deleteExperiment(experimentId: string): Promise<void> {
    await (await this.tracking()).deleteExperiment(experimentId);
  }

  async restoreExperiment(experimentId: string): Promise<void> {
    await (await this.tracking()).restoreExperiment(experimentId);
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    await (await this.tracking()).setExperimentTag(experimentId, key, value);
  }

  // ---- runs ----

  private async defaultExperimentId(): Promise<string> {
    if (this.experimentId !== undefined) return this.experimentId;
    const env = process.env;
    const id = env.FLYWHEEL_EXPERIMENT_ID || env.MLFLOW_EXPERIMENT_ID;
    if (id) return id;
    const name = env.FLYWHEEL_EXPERIMENT_NAME || env.MLFLOW_EXPERIMENT_NAME;
    if (name) return (await this.getOrCreateExperiment(name)).experiment_id;
    return '0';
  }

  /** Creates a run (status RUNNING) and returns it for logging; end it with `run.end()` or use `withRun`. */
  async startRun(options: StartRunOptions = {}): Promise<ActiveRun> {
    const backend = await this.backend();
    const experimentId =
      options.experimentId ??
      (options.experimentName !== undefined
        ? (await this.getOrCreateExperiment(options.experimentName)).experiment_id
        : await this.defaultExperimentId());
    const user = currentUser();
    const tags: Record<string, string> = {
      'mlflow.source.type': 'LOCAL',
      ...(process.argv[1] ? { 'mlflow.source.name': process.argv[1] } : {}),
      ...(user ? { 'mlflow.user': user } : {}),
      ...(options.description !== undefined ? { 'mlflow.note.content': options.description } : {}),
      ...(options.parentRunId ? { 'mlflow.parentRunId': options.parentRunId } : {}),
      ...options.tags,
    };
    const run = await backend.tracking.createRun({
      experiment_id: experimentId,
      ...(user ? { user_id: user } : {}),
      ...(options.runName ? { run_name: options.runName } : {}),
      start_time: options.startTime ?? Date.now(),
      tags: keyValues(tags),
    });
    return new ActiveRun(
      backend.tracking,
      run,
      (uri) => backend.artifactRepository(uri),
      { flushIntervalMs: this.options.metricFlushIntervalMs },
      {
        logModelHistory: (runId, modelJson) => backend.logModelHistory(runId, modelJson),
        registerModel: (uri, name, runId) => this.registerModel(uri, name, { runId }),
      },
    );
  }

  /**
   * Runs `fn` inside a run: ends it FINISHED when `fn` resolves, FAILED when it throws (the error is rethrown),
   * KILLED on SIGINT/SIGTERM. Returns what `fn` returns.
   */
  async withRun<T>(options: StartRunOptions, fn: (run: ActiveRun) => Promise<T>): Promise<T> {
    const run = await this.startRun(options);
    let result: T;
    try {
      result = await fn(run);
    } catch (e) {
      await run.end('FAILED').catch(() => {});
      throw e;
    }
    await run.end('FINISHED');
    return result;
  }

  async getRun(runId: string): Promise<Run> {
    return (await this.tracking()).getRun(runId);
  }

  /** Sets a run's final status from outside its `ActiveRun` (e.g. a run left RUNNING by a crashed process). */
  async endRun(runId: string, status: RunStatus = 'FINISHED'): Promise<void> {
    await (await this.tracking()).updateRun({ run_id: runId, status, end_time: Date.now() });
  }

  async deleteRun(runId: string): Promise<void> {
    await (await this.tracking()).deleteRun(runId);
  }

  async restoreRun(runId: string): Promise<void> {
    await (await this.tracking()).restoreRun(runId);
  }

  /** One page of runs (default 1000 per page). */
  async searchRuns(options: SearchRunsOptions = {}): Promise<Page<Run>> {
    return (await this.tracking()).searchRuns({
      experiment_ids: options.experimentIds ?? [await this.defaultExperimentId()],
      filter: options.filter,
      order_by: options.orderBy,
      max_results: options.maxResults,
      page_token: options.pageToken,
      run_view_type: options.viewType,
    });
  }

  /** Every run matching, page after page (`maxResults` is the page size). */
  async *iterateRuns(options: Omit<SearchRunsOptions, 'pageToken'> = {}): AsyncGenerator<Run> {
    const experimentIds = options.experimentIds ?? [await this.defaultExperimentId()];
    yield* paginate((pageToken) => this.searchRuns({ ...options, experimentIds, pageToken }));
  }

  /** All points of a metric, in the server's order (step, then timestamp), following every page. */
  async getMetricHistory(runId: string, key: string): Promise<Metric[]> {
    const tracking = await this.tracking();
    const out: Metric[] = [];
    for await (const m of paginate((page_token) =>
      tracking.getMetricHistory({ run_id: runId, metric_key: key, max_results: 25_000, page_token }),
    )) {
      out.push(m);
    }
    return out;
  }

  // ---- artifacts ----

  private async runArtifacts(runId: string): Promise<ArtifactRepository> {
    const [backend, run] = await Promise.all([this.backend(), this.getRun(runId)]);
    return backend.artifactRepository(run.info.artifact_uri);
  }

  /** Entries directly under `path` of a run's artifacts; paths relative to the run's artifact root. */
  async listArtifacts(runId: string, path = ''): Promise<FileInfo[]> {
    return (await this.runArtifacts(runId)).list(safeRelativePath(path));
  }

  /** One artifact file, whole, in memory. */
  async readArtifact(runId: string, path: string): Promise<Buffer> {
    const { stream } = await (await this.runArtifacts(runId)).read(safeRelativePath(path));
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks);
  }

  /**
   * Downloads a file or a directory tree into `destDir` (streamed) and returns the local path of what was
   * downloaded. Two forms: `(runId, path, destDir)` — `path` of a run's artifacts (`''` = all, downloaded into
   * `destDir` itself) — and `(uri, destDir)` — any artifact URI this client reaches (`mlflow-artifacts:/…`
   * through the server, or the local artifact root when embedded; `file:`), or a `runs:/` / `models:/` URI,
   * downloaded to `destDir/<last path segment>` as MLflow does.
   */
  async downloadArtifacts(runId: string, path: string, destDir: string): Promise<string>;
  async downloadArtifacts(uri: string, destDir: string): Promise<string>;
  async downloadArtifacts(first: string, second: string, third?: string): Promise<string> {
    if (third === undefined) return this.downloadArtifactUri(await this.resolveModelUri(first), second);
    const runId = first;
    const destDir = third;
    const repo = await this.runArtifacts(runId);
    const rel = safeRelativePath(second);
    const target = resolve(destDir, ...(rel ? rel.split('/') : []));
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    const entry = rel ? (await repo.list(parent)).find((f) => f.path === rel) : { path: '', is_dir: true };
    if (!entry) throw new FlywheelError('RESOURCE_DOES_NOT_EXIST', `No artifact '${rel}' in run ${runId}`);
    await download(repo, entry, resolve(destDir));
    return target;
  }

  private async downloadArtifactUri(uri: string, destDir: string): Promise<string> {
    const backend = await this.backend();
    const trimmed = uri.replace(/\/+$/, '');
    const slash = trimmed.lastIndexOf('/');
    let parentUri = slash === -1 ? '' : trimmed.slice(0, slash);
    const name = decodeURIComponent(slash === -1 ? trimmed : trimmed.slice(slash + 1));
    if (parentUri.endsWith(':')) parentUri += '/';
    if (!name || !parentUri || /^[A-Za-z][A-Za-z0-9+.-]*:\/*$/.test(trimmed)) {
      throw invalidParameter(`Cannot download '${uri}': name a file or directory under an artifact root.`);
    }
    const repo = backend.artifactRepository(parentUri);
    const entry = (await repo.list('')).find((f) => f.path === name || f.path.split('/').pop() === name);
    if (!entry) throw new FlywheelError('RESOURCE_DOES_NOT_EXIST', `No artifact at '${uri}'`);
    await download(repo, { ...entry, path: name }, resolve(destDir));
    return resolve(destDir, name);
  }

  /** Resolves a model URI (see `resolveModelUri`) and downloads the model directory; returns its local path. */
  async downloadModel(uri: string, destDir: string): Promise<string> {
    return this.downloadArtifacts(uri, destDir);
  }

  /**
   * Downloads the model a URI names (see `resolveModelUri`) into a temporary directory and loads it: an
   * object with `predict(rows)` and `close()`. `allowJs` lets a `js` flavor model's code run: never set it
   * for models you do not trust.
   */
  async loadModel(uri: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
    const { loadModelFromDirectory } = await import('../models/index.js');
    const tmp = await mkdtemp(join(tmpdir(), 'flywheel-load-model-'));
    try {
      const dir = await this.downloadModel(uri, tmp);
      return await loadModelFromDirectory(dir, options);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  // ---- model registry ----

  /** The underlying `RegistryService` (SQL store or HTTP client), for calls the SDK does not wrap. */
  async registry(): Promise<RegistryService> {
    return (await this.backend()).registry;
  }

  async createRegisteredModel(name: string, options: { tags?: Record<string, string>; description?: string } = {}): Promise<RegisteredModel> {
    return (await this.registry()).createRegisteredModel({
      name,
      ...(options.description !== undefined ? { description: options.description } : {}),
      ...(options.tags ? { tags: keyValues(options.tags) } : {}),
    });
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    return (await this.registry()).getRegisteredModel(name);
  }

  async searchRegisteredModels(options: SearchRegisteredModelsOptions = {}): Promise<Page<RegisteredModel>> {
    return (await this.registry()).searchRegisteredModels({
      filter: options.filter,
      max_results: options.maxResults,
      order_by: options.orderBy,
      page_token: options.pageToken,
    });
  }

  /**
   * Registers the model at `uri` (`runs:/<run_id>/<path>`, `models:/m-…` or an artifact URI) as a new version
   * of `name`, creating the registered model first if needed (as MLflow's client does).
   */
  async registerModel(uri: string, name: string, options: RegisterModelOptions = {}): Promise<ModelVersion> {
    const registry = await this.registry();
    try {
      await registry.createRegisteredModel({ name });
    } catch (e) {
      if (!(isFlywheelError(e) && e.code === 'RESOURCE_ALREADY_EXISTS')) throw e;
    }
    const runId = options.runId ?? /^runs:\/+([^/]+)/i.exec(uri)?.[1];
    return registry.createModelVersion({
      name,
      source: uri,
      ...(runId ? { run_id: runId } : {}),
      ...(options.description !== undefined ? { description: options.description } : {}),
      ...(options.tags ? { tags: keyValues(options.tags) } : {}),
    });
  }

  async getModelVersion(name: string, version: string | number): Promise<ModelVersion> {
    return (await this.registry()).getModelVersion(name, String(version));
  }

  /** Points `alias` at `version` (moving it if it pointed elsewhere); the move is kept in the promotion history. */
  async setAlias(name: string, alias: string, version: string | number, options: PromotionOptions = {}): Promise<void> {
    await (await this.registry()).setAlias(name, alias, String(version), options);
  }

  async deleteAlias(name: string, alias: string, options: PromotionOptions = {}): Promise<void> {
    await (await this.registry()).deleteAlias(name, alias, options);
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    return (await this.registry()).getModelVersionByAlias(name, alias);
  }

  /** Moves a version to a stage (None, Staging, Production, Archived; case-insensitive). */
  async transitionStage(name: string, version: string | number, stage: string, options: TransitionStageOptions = {}): Promise<ModelVersion> {
    const { archiveExistingVersions = false, ...who } = options;
    return (await this.registry()).transitionStage(name, String(version), stage, archiveExistingVersions, who);
  }

  /** Every alias move and stage transition of a registered model, newest first. */
  async getPromotionHistory(name: string): Promise<PromotionEvent[]> {
    return (await this.registry()).listPromotions(name);
  }

  /** Points `alias` back at the version it pointed to before its last move; returns that version. */
  async rollbackAlias(name: string, alias: string, options: PromotionOptions = {}): Promise<ModelVersion> {
    return (await this.registry()).rollbackAlias(name, alias, options);
  }

  /** Where a model version came from: its source, artifact URI, run and experiment. */
  async getLineage(name: string, version: string | number): Promise<ModelVersionLineage> {
    return (await this.registry()).lineage(name, String(version));
  }

  /** The model versions registered from a run. */
  async modelVersionsFromRun(runId: string): Promise<ModelVersion[]> {
    return (await this.registry()).modelVersionsOfRun(runId);
  }

  /**
   * The artifact URI a model URI stands for: `models:/<name>/<version>`, `models:/<name>@<alias>`,
   * `models:/<name>/<stage>` (latest version in the stage), `models:/<name>/latest` (highest version),
   * `models:/m-…` (a logged model's artifact_uri), `runs:/<run_id>/<path>`; other URIs come back as they are.
   */
  async resolveModelUri(uri: string): Promise<string> {
    for (let depth = 0; ; depth++) {
      const resolved = await this.resolveOnce(uri);
      if (resolved === uri || !/^(runs|models):/i.test(resolved) || depth >= 4) return resolved;
      uri = resolved;
    }
  }

  private async resolveOnce(uri: string): Promise<string> {
    const parsed = parseModelUri(uri);
    switch (parsed.kind) {
      case 'artifact':
        return parsed.uri;
      case 'run':
        return joinArtifactUri((await this.getRun(parsed.runId)).info.artifact_uri, parsed.path);
      case 'logged-model':
        return joinArtifactUri((await (await this.tracking()).getLoggedModel(parsed.modelId)).info.artifact_uri, parsed.path);
    }
    const registry = await this.registry();
    let version: string;
    if (parsed.kind === 'version') version = parsed.version;
    else if (parsed.kind === 'alias') version = (await registry.getModelVersionByAlias(parsed.name, parsed.alias)).version;
    else {
      const versions = await registry.getLatestVersions(parsed.name, parsed.kind === 'stage' ? [parsed.stage] : []);
      const best = versions
        .filter((v) => parsed.kind !== 'stage' || v.current_stage.toLowerCase() === parsed.stage.toLowerCase())
        .sort((a, b) => Number(b.version) - Number(a.version))[0];
      if (!best) {
        const what = parsed.kind === 'stage' ? `in stage '${parsed.stage}'` : 'at all';
        throw new FlywheelError('RESOURCE_DOES_NOT_EXIST', `Registered model '${parsed.name}' has no version ${what}.`);
      }
      version = best.version;
    }
    return registry.getModelVersionDownloadUri(parsed.name, version);
  }

  // ---- pipelines and artifacts ----

  private pipelineClientPromise: Promise<PipelineClient> | undefined;
  private readonly customMaterializers: Materializer<any>[] = [];

  /** Adds a custom materializer for `saveArtifact` (picked by its `canHandle`, or by name) and `loadArtifact`. */
  registerMaterializer<T>(materializer: Materializer<T>): this {
    if (this.pipelineClientPromise) throw new FlywheelError('INVALID_STATE', 'Register materializers before the first artifact call');
    this.customMaterializers.push(materializer as Materializer<any>);
    return this;
  }

  /** Pipeline runs and artifact versions, embedded or through the server (the CLI's `artifacts` commands use it). */
  pipelines(): Promise<PipelineClient> {
    this.pipelineClientPromise ??= this.openPipelineClient().catch((e: unknown) => {
      this.pipelineClientPromise = undefined;
      throw e;
    });
    return this.pipelineClientPromise;
  }

  private async openPipelineClient(): Promise<PipelineClient> {
    const backend = await this.backend();
    const [{ EmbeddedPipelineClient, RemotePipelineClient }, { MaterializerRegistry }, { HttpTransport }] = await Promise.all([
      import('./pipeline-client.js'),
      import('../pipelines/materializers/registry.js'),
      import('./http-transport.js'),
    ]);
    const registry = new MaterializerRegistry();
    for (const m of this.customMaterializers) registry.register(m);
    if (backend.kind === 'remote') {
      const transport = new HttpTransport({ ...this.options, baseUrl: this.trackingUri });
      // Artifact bodies get an hour per attempt unless a timeout was set (it covers the whole upload or download).
      const content = new HttpTransport({ ...this.options, baseUrl: this.trackingUri, timeoutMs: this.options.timeoutMs ?? ARTIFACT_CONTENT_TIMEOUT_MS });
      return new RemotePipelineClient(transport, registry, content);
    }
    // The embedded backend's own store, and its artifacts root (where a server on the same store keeps them).
    const store = (backend.tracking as unknown as { store?: Store }).store;
    if (!store) throw new FlywheelError('INTERNAL_ERROR', 'The embedded backend exposes no store');
    return new EmbeddedPipelineClient(store, backend.artifactRepository('mlflow-artifacts:/'), registry);
  }

  /**
   * Saves `value` as the next version of artifact `name` (outside any pipeline): materialized (the
   * automatic choice, or `materializer`), stored content-addressed (identical content is stored once) and
   * recorded with its content hash, type, materializer, size, `metadata` and `visualizations`.
   */
  async saveArtifact(name: string, value: unknown, options: SaveArtifactOptions = {}): Promise<ArtifactVersionView> {
    return (await this.pipelines()).saveArtifact(name, value, options);
  }

  /**
   * The value of an artifact version, loaded with the materializer that saved it (its files checked against
   * the content hash): `nameOrId` is a name (latest version, or `version`), `name:version`, or an artifact
   * version id. RESOURCE_DOES_NOT_EXIST when there is no such artifact or version.
   */
  async loadArtifact<T = unknown>(nameOrId: string, version?: number | string, options: LoadArtifactOptions = {}): Promise<T> {
    return (await this.pipelines()).loadArtifact<T>(nameOrId, version, options);
  }

  /** An artifact version's record, with its producer step run and consumers. */
  async getArtifactVersion(nameOrId: string, version?: number | string): Promise<ArtifactVersionDetail> {
    return (await this.pipelines()).getArtifactVersion(nameOrId, version);
  }

  /**
   * Marks a pipeline run kept (or no longer kept): `artifacts prune` then keeps every artifact version the
   * run produced, consumed or reused, however old the run. Stored as the tag `flywheel.keep` on the run's
   * tracking run.
   */
  async keepPipelineRun(id: string, keep = true): Promise<void> {
    const run = await this.getPipelineRun(id);
    if (!run.tracking_run_id) throw new FlywheelError('INVALID_STATE', `Pipeline run '${id}' has no tracking run to mark`);
    const tracking = await this.tracking();
    if (keep) await tracking.setTag(run.tracking_run_id, 'flywheel.keep', 'true');
    else await tracking.deleteTag(run.tracking_run_id, 'flywheel.keep');
  }

  /** A pipeline run with its step runs (status, times, params, cache decision, outputs with artifact version refs). */
  async getPipelineRun(id: string): Promise<PipelineRunDetail> {
    return (await this.pipelines()).getPipelineRun(id);
  }
}

async function download(repo: ArtifactRepository, entry: FileInfo, destDir: string): Promise<void> {
  const local = join(destDir, ...entry.path.split('/').filter(Boolean));
  if (!entry.is_dir) {
    await mkdir(dirname(local), { recursive: true });
    const { stream } = await repo.read(entry.path);
    await pipeline(stream, createWriteStream(local));
    return;
  }
  await mkdir(local, { recursive: true });
  for (const child of await repo.list(entry.path)) await download(repo, child, destDir);
}

async function* paginate<T>(fetchPage: (pageToken: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
  let token: string | undefined;
  do {
    const page = await fetchPage(token);
    yield* page.items;
    token = page.next_page_token;
  } while (token);
}

const keyValues = (record: Record<string, ParamValue>): KeyValue[] =>
  Object.entries(record).map(([key, value]) => ({ key, value: String(value) }));

function currentUser(): string | undefined {
  try {
    return process.env.FLYWHEEL_USER || userInfo().username;
  } catch {
    return undefined;
  }
}

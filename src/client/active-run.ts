import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { safeRelativePath, joinRelative } from '../artifacts/paths.js';
import type { ArtifactRepository, FileInfo } from '../artifacts/types.js';
import { FlywheelError, invalidParameter, LIMITS, nowMs, validateKey } from '../core/index.js';
import type { DatasetInput, KeyValue, Metric, Run, RunInfo, RunStatus } from '../tracking/entities.js';
import type { MLmodel, ModelInput, ModelSignature, SaveModelFlavor } from '../models/index.js';
import type { ModelVersion } from '../registry/entities.js';
import type { TrackingService } from '../tracking/service.js';
import { MetricBuffer, type MetricBufferOptions } from './metric-buffer.js';
import { trackRun, untrackRun, type TrackedRun } from './run-registry.js';

export type ParamValue = string | number | boolean;

export interface MetricOptions {
  /** Training step (default 0). */
  step?: number;
  /** Milliseconds since the epoch (default now). */
  timestamp?: number;
}

export interface LogModelOptions {
  /** Where under the run's artifacts the model directory goes (default `model`). */
  artifactPath?: string;
  signature?: ModelSignature;
  inputExample?: ModelInput;
  /** Also register the logged model as a new version of this registered model (created if missing). */
  registeredModelName?: string;
}

export interface LoggedModelInfo {
  /** `runs:/<run_id>/<artifactPath>`. */
  modelUri: string;
  artifactPath: string;
  runId: string;
  /** The MLmodel as written. */
  mlmodel: MLmodel;
  /** Set when `registeredModelName` was given. */
  modelVersion?: ModelVersion;
}

/** @internal what `logModel` needs from the client beyond the tracking service */
export interface ActiveRunHooks {
  logModelHistory(runId: string, modelJson: string): Promise<void>;
  registerModel(uri: string, name: string, runId: string): Promise<ModelVersion>;
}

export interface LogBatchInput {
  metrics?: Metric[];
  params?: KeyValue[];
  tags?: KeyValue[];
}

/**
 * A run this process is logging to. Metrics are buffered and sent in batches (see `MetricBuffer`); everything
 * else is sent at once. `end()` flushes and sets the final status; until then SIGINT/SIGTERM end it KILLED.
 * An error from a background metric flush is thrown by the next call on the run.
 */
export class ActiveRun implements TrackedRun {
  readonly runId: string;
  readonly experimentId: string;
  /** The run as created (status RUNNING); `getRun` on the client reads its current state. */
  readonly info: RunInfo;
  private readonly buffer: MetricBuffer;
  private ending: Promise<void> | undefined;

  constructor(
    private readonly tracking: TrackingService,
    run: Run,
    private readonly artifacts: (artifactUri: string) => ArtifactRepository,
    bufferOptions: MetricBufferOptions = {},
    private readonly hooks?: ActiveRunHooks,
  ) {
    this.info = run.info;
    this.runId = run.info.run_id;
    this.experimentId = run.info.experiment_id;
    this.buffer = new MetricBuffer(
      (metrics) => this.tracking.logBatch({ run_id: this.runId, metrics }),
      bufferOptions,
    );
    trackRun(this);
  }

  get artifactUri(): string {
    return this.info.artifact_uri;
  }

  get ended(): boolean {
    return this.ending !== undefined;
  }

  /** @internal for the signal/exit registry */
  get pendingMetrics(): number {
    return this.buffer.size;
  }

  /** @internal for the signal/exit registry */
  get unreportedError(): unknown {
    return this.buffer.unreportedError;
  }

  private check(): void {
    if (this.ending) throw new FlywheelError('INVALID_STATE', `Run ${this.runId} has ended; start a new run to log more.`);
    this.buffer.rethrow();
  }

  async logParam(key: string, value: ParamValue): Promise<void> {
    this.check();
    await this.tracking.logParam(this.runId, key, String(value));
  }

  async logParams(params: Record<string, ParamValue>): Promise<void> {
    await this.logBatch({ params: Object.entries(params).map(([key, value]) => ({ key, value: String(value) })) });
  }

  /** Buffers one point; awaiting it also waits when the buffer is full and throws earlier flush errors. */
  async logMetric(key: string, value: number, options: MetricOptions = {}): Promise<void> {
    this.check();
    await this.buffer.add([metricPoint(key, value, options)]);
  }

  async logMetrics(values: Record<string, number>, options: MetricOptions = {}): Promise<void> {
    this.check();
    const timestamp = options.timestamp ?? nowMs();
    await this.buffer.add(Object.entries(values).map(([k, v]) => metricPoint(k, v, { ...options, timestamp })));
  }

  async setTag(key: string, value: string): Promise<void> {
    this.check();
    await this.tracking.setTag(this.runId, key, String(value));
  }

  async setTags(tags: Record<string, string>): Promise<void> {
    await this.logBatch({ tags: Object.entries(tags).map(([key, value]) => ({ key, value: String(value) })) });
  }

  /** Sends metrics, params and tags now (not buffered), split into requests within MLflow's batch limits. */
  async logBatch(batch: LogBatchInput): Promise<void> {
    this.check();
    for (const req of splitBatch(batch)) await this.tracking.logBatch({ run_id: this.runId, ...req });
  }

  async logInputs(datasets: DatasetInput[]): Promise<void> {
    this.check();
    for (let i = 0; i < datasets.length; i += LIMITS.datasetsPerLogInputs) {
      await this.tracking.logInputs(this.runId, datasets.slice(i, i + LIMITS.datasetsPerLogInputs));
    }
  }

  /** Uploads one file to `<artifactPath>/<file name>` under the run's artifact root (streamed). */
  async logArtifact(localPath: string, artifactPath = ''): Promise<void> {
    this.check();
    const dest = joinRelative(artifactSubPath(artifactPath), safeRelativePath(basename(localPath)));
    await uploadFile(this.repository(), dest, localPath);
  }

  /** Uploads a directory tree into `artifactPath` (the directory's contents, not the directory itself). */
  async logArtifacts(localDir: string, artifactPath = ''): Promise<void> {
    this.check();
    const base = artifactSubPath(artifactPath);
    if (!(await stat(localDir)).isDirectory()) throw invalidParameter(`'${localDir}' is not a directory`);
    const repo = this.repository();
    const files = await listFiles(localDir);
    await inParallel(files, 4, (rel) => uploadFile(repo, joinRelative(base, rel), join(localDir, ...rel.split('/'))));
  }

  /**
   * Saves a model (`{ flavor: 'onnx', onnx: bytes | { kind: 'linear', coefficients, intercept } }` or
   * `{ flavor: 'js', modulePath }`) with its MLmodel into a temporary directory, uploads it to `artifactPath`,
   * appends it to the run's `mlflow.log-model.history` tag (as MLflow 2.x does), and registers it as a new
   * version of `registeredModelName` when given.
   */
  async logModel(model: SaveModelFlavor, options: LogModelOptions = {}): Promise<LoggedModelInfo> {
    this.check();
    if (!this.hooks) throw new FlywheelError('INTERNAL_ERROR', 'This run cannot log models (no client hooks).');
    const artifactPath = artifactSubPath(options.artifactPath ?? 'model');
    if (!artifactPath) throw invalidParameter('artifactPath cannot be empty');
    const { saveModel } = await import('../models/index.js');
    const tmp = await mkdtemp(join(tmpdir(), 'flywheel-log-model-'));
    try {
      const dir = join(tmp, 'model');
      const mlmodel = await saveModel(
        dir,
        model,
        { signature: options.signature, inputExample: options.inputExample, runId: this.runId, artifactPath },
      );
      await this.logArtifacts(dir, artifactPath);
      await this.hooks.logModelHistory(this.runId, JSON.stringify(mlmodel));
      const modelUri = `runs:/${this.runId}/${artifactPath}`;
      const info: LoggedModelInfo = { modelUri, artifactPath, runId: this.runId, mlmodel };
      if (options.registeredModelName) info.modelVersion = await this.hooks.registerModel(modelUri, options.registeredModelName, this.runId);
      return info;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Stores `text` as the artifact file `artifactFile` (e.g. `notes/summary.txt`). */
  async logText(text: string, artifactFile: string): Promise<void> {
    this.check();
    await this.repository().write(safeRelativePath(artifactFile), Buffer.from(text, 'utf8'));
  }

  /** Entries directly under `path` of the run's artifacts, paths relative to the run's artifact root. */
  async listArtifacts(path = ''): Promise<FileInfo[]> {
    return this.repository().list(artifactSubPath(path));
  }

  /** Sends the buffered metrics now; throws an error of any earlier background flush. */
  async flush(): Promise<void> {
    await this.buffer.flush();
  }

  /**
   * Flushes metrics and sets the final status (default FINISHED). Ending twice is harmless (the first status
   * stays). A failed metric flush still ends the run, then throws.
   */
  end(status: RunStatus = 'FINISHED'): Promise<void> {
    this.ending ??= this.finish(status);
    return this.ending;
  }

  private async finish(status: RunStatus): Promise<void> {
    let flushError: unknown;
    try {
      await this.buffer.flush();
    } catch (e) {
      flushError = e;
    }
    try {
      await this.tracking.updateRun({ run_id: this.runId, status, end_time: nowMs() });
    } finally {
      untrackRun(this);
    }
    if (flushError !== undefined) throw flushError;
  }

  private repository(): ArtifactRepository {
    return this.artifacts(this.info.artifact_uri);
  }
}

function metricPoint(key: string, value: number, options: MetricOptions): Metric {
  validateKey(key, 'metric');
  if (typeof value !== 'number') throw invalidParameter(`Metric '${key}' must be a number, got ${typeof value}`);
  const step = options.step ?? 0;
  if (!Number.isSafeInteger(step)) throw invalidParameter(`Metric '${key}': step must be an integer, got ${step}`);
  return { key, value, timestamp: options.timestamp ?? nowMs(), step };
}

/** Requests within MLflow's log-batch limits: ≤100 params, ≤100 tags, ≤1000 entities in all. */
export function* splitBatch(batch: LogBatchInput): Generator<LogBatchInput> {
  const metrics = batch.metrics ?? [];
  const params = batch.params ?? [];
  const tags = batch.tags ?? [];
  let m = 0;
  let p = 0;
  let t = 0;
  while (m < metrics.length || p < params.length || t < tags.length) {
    const ps = params.slice(p, p + LIMITS.batchParams);
    const ts = tags.slice(t, t + LIMITS.batchTags);
    const ms = metrics.slice(m, m + Math.min(LIMITS.batchMetrics, LIMITS.batchTotal - ps.length - ts.length));
    p += ps.length;
    t += ts.length;
    m += ms.length;
    yield { ...(ms.length ? { metrics: ms } : {}), ...(ps.length ? { params: ps } : {}), ...(ts.length ? { tags: ts } : {}) };
  }
}

function artifactSubPath(path: string): string {
  return safeRelativePath(path.replace(/^\/+|\/+$/g, ''));
}

async function uploadFile(repo: ArtifactRepository, dest: string, localFile: string): Promise<void> {
  const streaming = repo as ArtifactRepository & { writeFile?: (path: string, file: string) => Promise<void> };
  if (streaming.writeFile) return streaming.writeFile(dest, localFile);
  const stream = createReadStream(localFile);
  // A write refused before it reads (a bad path) must not leave the file's open error unhandled.
  stream.on('error', () => {});
  try {
    await repo.write(dest, stream);
  } finally {
    stream.destroy();
  }
}

/** Files under `dir`, as `/`-separated paths relative to it (symbolic links to files are followed). */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await stat(join(dir, rel))).isDirectory());
    if (isDir) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

import { hostname } from 'node:os';
import { FlywheelError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import type { Store } from '../store/database.js';
import type { PipelineRunStatus, PipelineRunTable, StepRunStatus, StepRunTable } from '../store/schema.js';
import type { TrackingService } from '../tracking/service.js';
import type { RunStatus } from '../tracking/entities.js';
import type { Params } from './dsl.js';

export const TAG_PARENT_RUN = 'mlflow.parentRunId';
export const TAG_PIPELINE_RUN = 'flywheel.pipelineRunId';
export const TAG_STEP_RUN = 'flywheel.stepRunId';
export const TAG_STEP_NAME = 'flywheel.stepName';

export interface StartStepRunRequest {
  pipelineRunId: string;
  /** The pipeline run's tracking run: the step's tracking run is nested under it. */
  parentTrackingRunId: string | null;
  stepName: string;
  status: Extract<StepRunStatus, 'RUNNING' | 'SKIPPED' | 'CACHED'>;
  params: Params;
  codeHash: string | null;
  inputs: Record<string, unknown>;
  cacheKey?: string | null;
  cacheDecision?: unknown;
  /** For CACHED: the reused outputs. */
  outputs?: Record<string, unknown> | null;
  /** For SKIPPED: why. */
  error?: string | null;
}

export interface FinishStepRunRequest {
  status: Extract<StepRunStatus, 'COMPLETED' | 'FAILED' | 'CANCELLED'>;
  outputs?: Record<string, unknown> | null;
  logs: string;
  error?: string | null;
  attempts: number;
  /** Replaces the cache key and decision recorded at start (the key then covers the materializers used). */
  cacheKey?: string | null;
  cacheDecision?: unknown;
}

/** A finished (COMPLETED or CACHED) step run with a cache key: what the cache layer looks up. */
export interface CacheCandidate {
  id: string;
  cacheKey: string;
  cacheDecision: unknown;
  outputs: Record<string, unknown> | null;
}

/** What the orchestrator records as a run progresses. `SqlPipelineStore` is the implementation. */
export interface PipelineRecorder {
  /** Marks FAILED ('interrupted') runs left RUNNING on this host by a process that no longer exists. */
  sweepInterrupted(): Promise<string[]>;
  startPipelineRun(pipelineName: string, params: Params): Promise<{ id: string; trackingRunId: string | null }>;
  finishPipelineRun(id: string, trackingRunId: string | null, status: Exclude<PipelineRunStatus, 'RUNNING'>, error?: string | null): Promise<void>;
  startStepRun(req: StartStepRunRequest): Promise<{ id: string; trackingRunId: string | null }>;
  finishStepRun(id: string, trackingRunId: string | null, req: FinishStepRunRequest): Promise<void>;
  logMetric(trackingRunId: string, key: string, value: number, step: number): Promise<void>;
  recordConsumer(artifactVersionId: string, stepRunId: string): Promise<void>;
  /**
   * The latest COMPLETED/CACHED run of this step of this pipeline with `cacheKey` (`match`), and the
   * latest with any cache key (`latest`, to explain a miss). Without it the recorder cannot serve a cache.
   */
  findCacheCandidates?(pipelineName: string, stepName: string, cacheKey: string): Promise<{ match: CacheCandidate | null; latest: CacheCandidate | null }>;
}

export interface PipelineRunRecord extends Omit<PipelineRunTable, 'params'> {
  params: Params;
}

export interface StepRunRecord extends Omit<StepRunTable, 'params' | 'inputs' | 'outputs' | 'cache_decision'> {
  params: Params;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
  cache_decision: unknown;
}

const PIPELINE_TO_TRACKING: Record<Exclude<PipelineRunStatus, 'RUNNING'>, RunStatus> = {
  COMPLETED: 'FINISHED',
  FAILED: 'FAILED',
  CANCELLED: 'KILLED',
};
const STEP_TO_TRACKING: Record<FinishStepRunRequest['status'], RunStatus> = {
  COMPLETED: 'FINISHED',
  FAILED: 'FAILED',
  CANCELLED: 'KILLED',
};

/**
 * Pipeline runs and step runs in the relational store (SQLite or PostgreSQL), each mirrored to a tracking
 * run when a TrackingService is given: the pipeline run in the experiment named after the pipeline
 * (created if absent), each step as a nested run (tag `mlflow.parentRunId`).
 */
export class SqlPipelineStore implements PipelineRecorder {
  readonly #host = hostname();

  constructor(
    readonly store: Store,
    readonly tracking?: TrackingService,
    readonly options: { now?: () => number } = {},
  ) {}

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  private async pipelineId(name: string): Promise<string> {
    const db = this.store.db;
    const existing = await db.selectFrom('pipelines').select('id').where('name', '=', name).executeTakeFirst();
    if (existing) return existing.id;
    await db
      .insertInto('pipelines')
      .values({ id: newRunId(), name, created: this.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return (await db.selectFrom('pipelines').select('id').where('name', '=', name).executeTakeFirstOrThrow()).id;
  }

  private async experimentId(name: string): Promise<string> {
    const t = this.tracking!;
    try {
      return (await t.getExperimentByName(name)).experiment_id;
    } catch (e) {
      if (!(e instanceof FlywheelError && e.code === 'RESOURCE_DOES_NOT_EXIST')) throw e;
    }
    try {
      return await t.createExperiment({ name });
    } catch (e) {
      // Another process created it meanwhile.
      if (e instanceof FlywheelError && e.code === 'RESOURCE_ALREADY_EXISTS') return (await t.getExperimentByName(name)).experiment_id;
      throw e;
    }
  }

  async startPipelineRun(pipelineName: string, params: Params): Promise<{ id: string; trackingRunId: string | null }> {
    const pipelineId = await this.pipelineId(pipelineName);
    const id = newRunId();
    const start = this.now();
    let trackingRunId: string | null = null;
    if (this.tracking) {
      const run = await this.tracking.createRun({
        experiment_id: await this.experimentId(pipelineName),
        run_name: `${pipelineName}-${id.slice(0, 8)}`,
        start_time: start,
        tags: [{ key: TAG_PIPELINE_RUN, value: id }],
      });
      trackingRunId = run.info.run_id;
      await this.logParams(trackingRunId, params);
    }
    await this.store.db
      .insertInto('pipeline_runs')
      .values({
        id,
        pipeline_id: pipelineId,
        pipeline_name: pipelineName,
        status: 'RUNNING',
        start_time: start,
        end_time: null,
        params: JSON.stringify(params),
        tracking_run_id: trackingRunId,
        error: null,
        pid: process.pid,
        hostname: this.#host,
      })
      .execute();
    return { id, trackingRunId };
  }

  async finishPipelineRun(
    id: string,
    trackingRunId: string | null,
    status: Exclude<PipelineRunStatus, 'RUNNING'>,
    error: string | null = null,
  ): Promise<void> {
    const end = this.now();
    await this.store.db.updateTable('pipeline_runs').set({ status, end_time: end, error }).where('id', '=', id).execute();
    if (this.tracking && trackingRunId) {
      await this.tracking.updateRun({ run_id: trackingRunId, status: PIPELINE_TO_TRACKING[status], end_time: end });
    }
  }

  async startStepRun(req: StartStepRunRequest): Promise<{ id: string; trackingRunId: string | null }> {
    const id = newRunId();
    const start = this.now();
    let trackingRunId: string | null = null;
    if (this.tracking && req.parentTrackingRunId && req.status === 'RUNNING') {
      const parent = await this.tracking.getRun(req.parentTrackingRunId);
      const run = await this.tracking.createRun({
        experiment_id: parent.info.experiment_id,
        run_name: req.stepName,
        start_time: start,
        tags: [
          { key: TAG_PARENT_RUN, value: req.parentTrackingRunId },
          { key: TAG_PIPELINE_RUN, value: req.pipelineRunId },
          { key: TAG_STEP_RUN, value: id },
          { key: TAG_STEP_NAME, value: req.stepName },
        ],
      });
      trackingRunId = run.info.run_id;
      await this.logParams(trackingRunId, req.params);
    }
    const done = req.status !== 'RUNNING';
    await this.store.db
      .insertInto('step_runs')
      .values({
        id,
        pipeline_run_id: req.pipelineRunId,
        step_name: req.stepName,
        status: req.status,
        start_time: start,
        end_time: done ? start : null,
        params: JSON.stringify(req.params),
        code_hash: req.codeHash,
        cache_key: req.cacheKey ?? null,
        cache_decision: req.cacheDecision === undefined ? null : JSON.stringify(req.cacheDecision),
        inputs: JSON.stringify(req.inputs),
        outputs: req.outputs == null ? null : JSON.stringify(req.outputs),
        logs: '',
        error: req.error ?? null,
        tracking_run_id: trackingRunId,
        attempts: 0,
      })
      .execute();
    return { id, trackingRunId };
  }

  async finishStepRun(id: string, trackingRunId: string | null, req: FinishStepRunRequest): Promise<void> {
    const end = this.now();
    await this.store.db
      .updateTable('step_runs')
      .set({
        status: req.status,
        end_time: end,
        outputs: req.outputs == null ? null : JSON.stringify(req.outputs),
        logs: req.logs,
        error: req.error ?? null,
        attempts: req.attempts,
        ...(req.cacheKey !== undefined ? { cache_key: req.cacheKey } : {}),
        ...(req.cacheDecision !== undefined ? { cache_decision: JSON.stringify(req.cacheDecision) } : {}),
      })
      .where('id', '=', id)
      .execute();
    if (this.tracking && trackingRunId) {
      await this.tracking.updateRun({ run_id: trackingRunId, status: STEP_TO_TRACKING[req.status], end_time: end });
    }
  }

  async logMetric(trackingRunId: string, key: string, value: number, step: number): Promise<void> {
    if (!this.tracking) return;
    await this.tracking.logMetric(trackingRunId, { key, value, timestamp: this.now(), step });
  }

  async recordConsumer(artifactVersionId: string, stepRunId: string): Promise<void> {
    await this.store.db
      .insertInto('artifact_consumers')
      .values({ artifact_version_id: artifactVersionId, step_run_id: stepRunId })
      .onConflict((oc) => oc.columns(['artifact_version_id', 'step_run_id']).doNothing())
      .execute();
  }

  async findCacheCandidates(
    pipelineName: string,
    stepName: string,
    cacheKey: string,
  ): Promise<{ match: CacheCandidate | null; latest: CacheCandidate | null }> {
    const base = () =>
      this.store.db
        .selectFrom('step_runs as s')
        .innerJoin('pipeline_runs as p', 'p.id', 's.pipeline_run_id')
        .select(['s.id', 's.cache_key', 's.cache_decision', 's.outputs'])
        .where('p.pipeline_name', '=', pipelineName)
        .where('s.step_name', '=', stepName)
        .where('s.status', 'in', ['COMPLETED', 'CACHED'])
        .where('s.cache_key', 'is not', null)
        .orderBy('s.start_time', 'desc')
        .orderBy('s.end_time', 'desc')
        .limit(1);
    const toCandidate = (r: { id: string; cache_key: string | null; cache_decision: string | null; outputs: string | null } | undefined) =>
      r
        ? {
            id: r.id,
            cacheKey: r.cache_key!,
            cacheDecision: r.cache_decision === null ? null : (JSON.parse(r.cache_decision) as unknown),
            outputs: r.outputs === null ? null : (JSON.parse(r.outputs) as Record<string, unknown>),
          }
        : null;
    const match = toCandidate(await base().where('s.cache_key', '=', cacheKey).executeTakeFirst());
    const latest = toCandidate(await base().executeTakeFirst());
    return { match, latest };
  }

  private async logParams(runId: string, params: Params): Promise<void> {
    const entries = Object.entries(params);
    if (entries.length === 0) return;
    await this.tracking!.logBatch({
      run_id: runId,
      params: entries.map(([key, v]) => ({ key, value: (typeof v === 'string' ? v : JSON.stringify(v)).slice(0, 6000) })),
    });
  }

  /**
   * Runs left RUNNING on this host by a process that is gone (killed, crashed, power loss) are marked
   * FAILED with error 'interrupted', with their RUNNING step runs, and their tracking runs FAILED.
   * Runs of other hosts are left alone: from here it cannot be told whether their process lives.
   * Returns the ids of the pipeline runs swept.
   */
  async sweepInterrupted(): Promise<string[]> {
    const db = this.store.db;
    const running = await db
      .selectFrom('pipeline_runs')
      .select(['id', 'pid', 'tracking_run_id'])
      .where('status', '=', 'RUNNING')
      .where('hostname', '=', this.#host)
      .execute();
    const swept: string[] = [];
    for (const run of running) {
      if (processAlive(run.pid)) continue;
      const error = `interrupted: the orchestrator process (pid ${run.pid} on ${this.#host}) ended while the run was RUNNING`;
      const end = this.now();
      const steps = await db
        .selectFrom('step_runs')
        .select(['id', 'tracking_run_id'])
        .where('pipeline_run_id', '=', run.id)
        .where('status', '=', 'RUNNING')
        .execute();
      await db.transaction().execute(async (tx) => {
        await tx
          .updateTable('step_runs')
          .set({ status: 'FAILED', end_time: end, error })
          .where('pipeline_run_id', '=', run.id)
          .where('status', '=', 'RUNNING')
          .execute();
        await tx
          .updateTable('pipeline_runs')
          .set({ status: 'FAILED', end_time: end, error })
          .where('id', '=', run.id)
          .where('status', '=', 'RUNNING')
          .execute();
      });
      if (this.tracking) {
        for (const t of [...steps.map((s) => s.tracking_run_id), run.tracking_run_id]) {
          if (!t) continue;
          try {
            const r = await this.tracking.getRun(t);
            if (r.info.status === 'RUNNING') await this.tracking.updateRun({ run_id: t, status: 'FAILED', end_time: end });
          } catch (e) {
            if (!(e instanceof FlywheelError && e.code === 'RESOURCE_DOES_NOT_EXIST')) throw e;
          }
        }
      }
      swept.push(run.id);
    }
    return swept;
  }

  async getPipelineRun(id: string): Promise<PipelineRunRecord> {
    const row = await this.store.db.selectFrom('pipeline_runs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new FlywheelError('RESOURCE_DOES_NOT_EXIST', `pipeline run '${id}' not found`);
    return { ...row, params: JSON.parse(row.params) as Params };
  }

  async listStepRuns(pipelineRunId: string): Promise<StepRunRecord[]> {
    const rows = await this.store.db
      .selectFrom('step_runs')
      .selectAll()
      .where('pipeline_run_id', '=', pipelineRunId)
      .orderBy('start_time')
      .orderBy('step_name')
      .execute();
    return rows.map((r) => ({
      ...r,
      params: JSON.parse(r.params) as Params,
      inputs: JSON.parse(r.inputs) as Record<string, unknown>,
      outputs: r.outputs === null ? null : (JSON.parse(r.outputs) as Record<string, unknown>),
      cache_decision: r.cache_decision === null ? null : (JSON.parse(r.cache_decision) as unknown),
    }));
  }
}

/** Whether a process with this pid exists on this host (EPERM: it exists but is not ours). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

import { hostname } from 'node:os';
import { sql, type QueryCreator, type Transaction } from 'kysely';
import { FlywheelError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import type { Store } from '../store/database.js';
import type { Database, PipelineRunStatus, PipelineRunTable, StepRunStatus, StepRunTable } from '../store/schema.js';
import type { TrackingService } from '../tracking/service.js';
import { RUN_NAME_TAG, type RunStatus } from '../tracking/entities.js';
import { SqlTrackingStore } from '../tracking/sql-tracking-store.js';
import { joinUri } from '../tracking/sql-rows.js';
import { checkParam, checkRunTag } from '../tracking/validation.js';
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
  /** The step run's id, when the caller chose it (default: a new one). */
  id?: string;
  /** Artifact versions the step consumes: recorded in `artifact_consumers` with the step run. */
  consumes?: string[];
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
  /** `experimentId`: the experiment of the step's tracking run, when it has one. */
  startStepRun(req: StartStepRunRequest): Promise<{ id: string; trackingRunId: string | null; experimentId?: string | null }>;
  finishStepRun(id: string, trackingRunId: string | null, req: FinishStepRunRequest): Promise<void>;
  logMetric(trackingRunId: string, key: string, value: number, step: number): Promise<void>;
  recordConsumer(artifactVersionId: string, stepRunId: string): Promise<void>;
  /**
   * The latest COMPLETED/CACHED run of this step of this pipeline with `cacheKey` (`match`), and the
   * latest with any cache key (`latest`, to explain a miss). Without it the recorder cannot serve a cache.
   */
  findCacheCandidates?(pipelineName: string, stepName: string, cacheKey: string): Promise<{ match: CacheCandidate | null; latest: CacheCandidate | null }>;
  /**
   * The latest run with a cache key of steps of this pipeline, by step name (`latest` of findCacheCandidates,
   * in one read). `complete`: a step absent from `byStep` has no such run at all.
   */
  latestCacheCandidates?(pipelineName: string): Promise<{ byStep: Map<string, CacheCandidate>; complete: boolean }>;
  /** Records several finished (CACHED/SKIPPED) step runs at once: one durable commit. */
  startStepRuns?(reqs: StartStepRunRequest[]): Promise<{ id: string; trackingRunId: string | null }[]>;
  /** Appends lines to a RUNNING step run's logs (streamed while it runs; finishStepRun then writes them whole). */
  appendStepLogs?(stepRunId: string, text: string): Promise<void>;
  /** Marks the run alive (see `sweepInterrupted`). */
  heartbeat?(pipelineRunId: string): Promise<void>;
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

/** See SqlPipelineStoreOptions.staleAfterMs. */
export const DEFAULT_STALE_AFTER_MS = 5 * 60_000;

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

export interface SqlPipelineStoreOptions {
  now?: () => number;
  /**
   * A RUNNING run whose heartbeat is older than this is swept as interrupted, whatever host ran it
   * (default 5 minutes; the orchestrator beats every 10 s, see `LocalRunOptions.heartbeatMs`). A step that
   * blocks the event loop (synchronous work in the step function) stops the beat too: keep this above the
   * longest such stretch. Runs of this host are judged by their pid instead.
   */
  staleAfterMs?: number;
}

type Tx = Transaction<Database>;

/**
 * Pipeline runs and step runs in the relational store (SQLite or PostgreSQL), each mirrored to a tracking
 * run when a TrackingService is given: the pipeline run in the experiment named after the pipeline
 * (created if absent), each step as a nested run (tag `mlflow.parentRunId`).
 *
 * Per step the writes are batched: a step's start (its tracking run with tags and params, the step run,
 * the artifacts it consumes) is one transaction and its end another. When the tracking service is a
 * SqlTrackingStore over the same store, step tracking runs are written in those transactions directly
 * instead of through the service (which would commit, and fsync, each call on its own). The start commit
 * is not flushed to disk on its own (SQLite `synchronous = NORMAL` for that commit, PostgreSQL
 * `synchronous_commit = off`): it survives a crash of this process at once, and power loss from the
 * step's end commit on, which is synced and covers it (the log is sequential). So a step is on disk before
 * it is reported done.
 */
export class SqlPipelineStore implements PipelineRecorder {
  readonly #host = hostname();
  /** Parent tracking run → where its nested step runs go. */
  readonly #experiments = new Map<string, { id: number; artifactLocation: string }>();
  readonly #directTracking: boolean;
  /** SQLite's configured `synchronous` level (2 = FULL). */
  readonly #sqliteSync: number;

  constructor(
    readonly store: Store,
    readonly tracking?: TrackingService,
    readonly options: SqlPipelineStoreOptions = {},
  ) {
    this.#directTracking = tracking instanceof SqlTrackingStore && tracking.store === store;
    this.#sqliteSync = store.sqlite ? Number(store.sqlite.pragma('synchronous', { simple: true })) : 0;
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  /** Runs `fn` in one transaction; a non-durable one is not synced to disk by its own commit (see the class doc). */
  private async write<T>(durable: boolean, fn: (tx: Tx) => Promise<T>): Promise<T> {
    const db = this.store.db;
    if (durable) return db.transaction().execute(fn);
    if (this.store.dialect === 'postgres') {
      return db.transaction().execute(async (tx) => {
        await sql`SET LOCAL synchronous_commit = off`.execute(tx);
        return fn(tx);
      });
    }
    const sqlite = this.store.sqlite;
    if (!sqlite || this.#sqliteSync < 2) return db.transaction().execute(fn);
    // Kysely holds the single connection for the callback, so the pragma applies to this commit only.
    return db.connection().execute(async (conn) => {
      sqlite.pragma('synchronous = NORMAL');
      try {
        return await conn.transaction().execute(fn);
      } finally {
        sqlite.pragma(`synchronous = ${this.#sqliteSync}`);
      }
    });
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
        heartbeat: start,
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
    if (this.#directTracking) {
      await this.write(true, async (tx) => {
        await tx.updateTable('pipeline_runs').set({ status, end_time: end, error }).where('id', '=', id).execute();
        if (trackingRunId) await this.endTrackingRun(tx, trackingRunId, PIPELINE_TO_TRACKING[status], end);
      });
      return;
    }
    await this.store.db.updateTable('pipeline_runs').set({ status, end_time: end, error }).where('id', '=', id).execute();
    if (this.tracking && trackingRunId) {
      await this.tracking.updateRun({ run_id: trackingRunId, status: PIPELINE_TO_TRACKING[status], end_time: end });
    }
  }

  async heartbeat(pipelineRunId: string): Promise<void> {
    await this.write(false, (tx) =>
      tx.updateTable('pipeline_runs').set({ heartbeat: this.now() }).where('id', '=', pipelineRunId).where('status', '=', 'RUNNING').execute(),
    );
  }

  async startStepRun(req: StartStepRunRequest): Promise<{ id: string; trackingRunId: string | null; experimentId: string | null }> {
    const [r] = await this.startSteps([req], req.status !== 'RUNNING');
    const exp = r!.trackingRunId && req.parentTrackingRunId ? this.#experiments.get(req.parentTrackingRunId) : undefined;
    return { ...r!, experimentId: exp ? String(exp.id) : null };
  }

  async startStepRuns(reqs: StartStepRunRequest[]): Promise<{ id: string; trackingRunId: string | null }[]> {
    return reqs.length === 0 ? [] : this.startSteps(reqs, true);
  }

  private async startSteps(reqs: StartStepRunRequest[], durable: boolean): Promise<{ id: string; trackingRunId: string | null }[]> {
    const start = this.now();
    const rows = reqs.map((req) => ({ req, id: req.id ?? newRunId(), trackingRunId: null as string | null }));
    // Tracking runs through the service (another store, or another kind of service): their own commits first.
    if (this.tracking && !this.#directTracking) {
      for (const r of rows) {
        if (!(r.req.parentTrackingRunId && r.req.status === 'RUNNING')) continue;
        r.trackingRunId = await this.createStepTrackingRunViaService(r.req, r.id, start);
      }
    }
    const direct = this.#directTracking
      ? await Promise.all(
          rows.map(async (r) => (r.req.parentTrackingRunId && r.req.status === 'RUNNING' ? this.stepTrackingRun(r.req, r.id, start) : null)),
        )
      : [];
    // Multi-row statements: a batch of step runs costs a few round trips, not a few per step.
    const runs = direct.filter((d): d is NonNullable<typeof d> => d !== null);
    rows.forEach((r, i) => {
      if (direct[i]) r.trackingRunId = direct[i]!.run.run_uuid;
    });
    const stepRows = rows.map((r) => {
      const req = r.req;
      const done = req.status !== 'RUNNING';
      return {
        id: r.id,
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
        tracking_run_id: r.trackingRunId,
        attempts: 0,
      };
    });
    const consumers = rows.flatMap((r) => [...new Set(r.req.consumes ?? [])].map((a) => ({ artifact_version_id: a, step_run_id: r.id })));
    await this.write(durable, async (tx) => {
      for (const part of chunked(runs.map((d) => d.run), 500)) await tx.insertInto('runs').values(part).execute();
      for (const part of chunked(runs.flatMap((d) => d.tags), 1000)) await tx.insertInto('tags').values(part).execute();
      for (const part of chunked(runs.flatMap((d) => d.params), 1000)) await tx.insertInto('params').values(part).execute();
      for (const part of chunked(stepRows, 200)) await tx.insertInto('step_runs').values(part).execute();
      for (const part of chunked(consumers, 1000)) {
        await tx
          .insertInto('artifact_consumers')
          .values(part)
          .onConflict((oc) => oc.columns(['artifact_version_id', 'step_run_id']).doNothing())
          .execute();
      }
    });
    return rows.map((r) => ({ id: r.id, trackingRunId: r.trackingRunId }));
  }

  /** The rows of a step's nested tracking run (what `createRun` + `logBatch` would write), validated the same way. */
  private async stepTrackingRun(req: StartStepRunRequest, stepRunId: string, start: number) {
    const parent = req.parentTrackingRunId!;
    let exp = this.#experiments.get(parent);
    if (!exp) {
      const row = await this.store.db
        .selectFrom('runs as r')
        .innerJoin('experiments as e', 'e.experiment_id', 'r.experiment_id')
        .select(['e.experiment_id', 'e.artifact_location'])
        .where('r.run_uuid', '=', parent)
        .executeTakeFirst();
      if (!row) throw new FlywheelError('RESOURCE_DOES_NOT_EXIST', `Run with id=${parent} not found`);
      exp = { id: Number(row.experiment_id), artifactLocation: row.artifact_location };
      this.#experiments.set(parent, exp);
    }
    const runId = newRunId();
    const tags = [
      { key: RUN_NAME_TAG, value: req.stepName },
      { key: TAG_PARENT_RUN, value: parent },
      { key: TAG_PIPELINE_RUN, value: req.pipelineRunId },
      { key: TAG_STEP_RUN, value: stepRunId },
      { key: TAG_STEP_NAME, value: req.stepName },
    ].map((t) => ({ run_uuid: runId, ...checkRunTag(t) }));
    const params = paramEntries(req.params).map((p) => ({ run_uuid: runId, ...checkParam(p) }));
    return {
      run: {
        run_uuid: runId,
        name: req.stepName,
        experiment_id: exp.id,
        user_id: '',
        status: 'RUNNING',
        start_time: start,
        end_time: null,
        deleted_time: null,
        lifecycle_stage: 'active',
        artifact_uri: joinUri(exp.artifactLocation, runId, 'artifacts'),
      },
      tags,
      params,
    };
  }

  private async createStepTrackingRunViaService(req: StartStepRunRequest, stepRunId: string, start: number): Promise<string> {
    const t = this.tracking!;
    const parent = req.parentTrackingRunId!;
    let exp = this.#experiments.get(parent);
    if (!exp) {
      const p = await t.getRun(parent);
      exp = { id: Number(p.info.experiment_id), artifactLocation: '' };
      this.#experiments.set(parent, exp);
    }
    const run = await t.createRun({
      experiment_id: String(exp.id),
      run_name: req.stepName,
      start_time: start,
      tags: [
        { key: TAG_PARENT_RUN, value: parent },
        { key: TAG_PIPELINE_RUN, value: req.pipelineRunId },
        { key: TAG_STEP_RUN, value: stepRunId },
        { key: TAG_STEP_NAME, value: req.stepName },
      ],
    });
    await this.logParams(run.info.run_id, req.params);
    return run.info.run_id;
  }

  private async endTrackingRun(tx: Tx, runId: string, status: RunStatus, end: number): Promise<void> {
    await tx.updateTable('runs').set({ status, end_time: end }).where('run_uuid', '=', runId).where('lifecycle_stage', '=', 'active').execute();
  }

  async finishStepRun(id: string, trackingRunId: string | null, req: FinishStepRunRequest): Promise<void> {
    const end = this.now();
    const update = (tx: QueryCreator<Database>) =>
      tx
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
        .where('id', '=', id);
    if (this.#directTracking && trackingRunId && this.store.dialect === 'postgres') {
      // One statement (one round trip, atomic): the step run's update as a data-modifying CTE.
      await this.store.db
        .with('s', (db) => update(db).returning('id'))
        .updateTable('runs')
        .set({ status: STEP_TO_TRACKING[req.status], end_time: end })
        .where('run_uuid', '=', trackingRunId)
        .where('lifecycle_stage', '=', 'active')
        .execute();
      return;
    }
    if (this.#directTracking) {
      await this.write(true, async (tx) => {
        await update(tx).execute();
        if (trackingRunId) await this.endTrackingRun(tx, trackingRunId, STEP_TO_TRACKING[req.status], end);
      });
      return;
    }
    await this.write(true, async (tx) => {
      await update(tx).execute();
    });
    if (this.tracking && trackingRunId) {
      await this.tracking.updateRun({ run_id: trackingRunId, status: STEP_TO_TRACKING[req.status], end_time: end });
    }
  }

  async appendStepLogs(stepRunId: string, text: string): Promise<void> {
    if (!text) return;
    await this.write(false, (tx) =>
      tx
        .updateTable('step_runs')
        .set({ logs: sql<string>`logs || ${text}` })
        .where('id', '=', stepRunId)
        .where('status', '=', 'RUNNING')
        .execute(),
    );
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

  private candidates() {
    return this.store.db
      .selectFrom('step_runs as s')
      .innerJoin('pipeline_runs as p', 'p.id', 's.pipeline_run_id')
      .select(['s.id', 's.step_name', 's.cache_key', 's.cache_decision', 's.outputs', 's.start_time', 's.end_time'])
      .where('s.status', 'in', ['COMPLETED', 'CACHED'])
      .where('s.cache_key', 'is not', null);
  }

  async findCacheCandidates(
    pipelineName: string,
    stepName: string,
    cacheKey: string,
  ): Promise<{ match: CacheCandidate | null; latest: CacheCandidate | null }> {
    const base = () =>
      this.candidates()
        .where('p.pipeline_name', '=', pipelineName)
        .where('s.step_name', '=', stepName)
        .orderBy('s.start_time', 'desc')
        .orderBy('s.end_time', 'desc')
        .limit(1);
    const match = toCandidate(await base().where('s.cache_key', '=', cacheKey).executeTakeFirst());
    const latest = toCandidate(await base().executeTakeFirst());
    return { match, latest };
  }

  /**
   * The latest run with a cache key of each step of the pipeline (as `findCacheCandidates(...).latest`),
   * from its most recent pipeline runs: a fully cached run then costs one read instead of one per step.
   * Steps not seen in those runs are absent (the caller asks findCacheCandidates for them).
   */
  async latestCacheCandidates(pipelineName: string, recentRuns = 20): Promise<{ byStep: Map<string, CacheCandidate>; complete: boolean }> {
    const runs = await this.store.db
      .selectFrom('pipeline_runs')
      .select('id')
      .where('pipeline_name', '=', pipelineName)
      .orderBy('start_time', 'desc')
      .limit(recentRuns + 1)
      .execute();
    const complete = runs.length <= recentRuns;
    const byStep = new Map<string, CacheCandidate>();
    if (runs.length === 0) return { byStep, complete };
    const rows = await this.candidates()
      .where(
        's.pipeline_run_id',
        'in',
        runs.slice(0, recentRuns).map((r) => r.id),
      )
      .execute();
    // The latest per step, as findCacheCandidates orders them; only the winners' JSON is parsed.
    const latest = new Map<string, (typeof rows)[number]>();
    for (const r of rows) {
      const seen = latest.get(r.step_name);
      const later =
        !seen ||
        Number(r.start_time) > Number(seen.start_time) ||
        (Number(r.start_time) === Number(seen.start_time) && Number(r.end_time ?? 0) > Number(seen.end_time ?? 0));
      if (later) latest.set(r.step_name, r);
    }
    for (const [name, r] of latest) byStep.set(name, toCandidate(r)!);
    return { byStep, complete };
  }

  private async logParams(runId: string, params: Params): Promise<void> {
    const entries = paramEntries(params);
    if (entries.length === 0) return;
    await this.tracking!.logBatch({ run_id: runId, params: entries });
  }

  /**
   * Marks FAILED (error `interrupted…`) runs left RUNNING by an orchestrator that is gone, with their
   * RUNNING step runs, and their tracking runs FAILED: runs of this host whose process no longer exists
   * (killed, crashed, power loss), and runs of any host whose heartbeat is older than `staleAfterMs`
   * (a dead machine; from here it cannot be told whether another host's process lives). A run of this
   * host whose process is alive is left alone. Returns the ids of the pipeline runs swept.
   */
  async sweepInterrupted(): Promise<string[]> {
    const db = this.store.db;
    const staleAfter = this.options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    const cutoff = this.now() - staleAfter;
    const running = await db
      .selectFrom('pipeline_runs')
      .select(['id', 'pid', 'hostname', 'heartbeat', 'tracking_run_id'])
      .where('status', '=', 'RUNNING')
      .where((eb) => eb.or([eb('hostname', '=', this.#host), eb('heartbeat', '<', cutoff)]))
      .execute();
    const swept: string[] = [];
    for (const run of running) {
      let error: string;
      if (run.hostname === this.#host) {
        if (processAlive(run.pid)) continue;
        error = `interrupted: the orchestrator process (pid ${run.pid} on ${this.#host}) ended while the run was RUNNING`;
      } else {
        const beat = new Date(Number(run.heartbeat)).toISOString();
        error = `interrupted (no heartbeat since ${beat}): the orchestrator (pid ${run.pid} on ${run.hostname}) stopped while the run was RUNNING`;
      }
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

/** Slices of at most `size` (SQLite and PostgreSQL cap the parameters of one statement). */
function chunked<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function paramEntries(params: Params): { key: string; value: string }[] {
  return Object.entries(params).map(([key, v]) => ({ key, value: (typeof v === 'string' ? v : JSON.stringify(v)).slice(0, 6000) }));
}

function toCandidate(
  r: { id: string; cache_key: string | null; cache_decision: string | null; outputs: string | null } | undefined,
): CacheCandidate | null {
  return r
    ? {
        id: r.id,
        cacheKey: r.cache_key!,
        cacheDecision: r.cache_decision === null ? null : (JSON.parse(r.cache_decision) as unknown),
        outputs: r.outputs === null ? null : (JSON.parse(r.outputs) as Record<string, unknown>),
      }
    : null;
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

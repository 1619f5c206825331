import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { FlywheelError, invalidParameter, notFound, alreadyExists, nowMs, newRunId, randomRunName, LIMITS } from '../core/index.js';
import type { Store } from '../store/index.js';
import type { Database } from '../store/schema.js';
import type {
  DatasetInput, DatasetSummary, Experiment, KeyValue, LoggedModel, LoggedModelStatus, Metric, MetricWithRunId, ModelInput,
  ModelOutput, Page, Run, RunInfo,
} from './entities.js';
import { RUN_NAME_TAG } from './entities.js';
import type {
  BulkIntervalRequest, CreateExperimentRequest, CreateLoggedModelRequest, CreateRunRequest, GetMetricHistoryRequest,
  LogBatchRequest, SearchExperimentsRequest, SearchLoggedModelsRequest, SearchRunsRequest, TrackingService, UpdateRunRequest,
} from './service.js';
import { experimentFromRow, runInfoFromRow } from './sql-entities.js';
import { loadRuns } from './sql-run-loader.js';
import { SqlLoggedModels } from './sql-logged-models.js';
import { chunks, dedupeKeys, groupBy, joinUri, keyValues } from './sql-rows.js';
import { paramChanged, runNotActive, runNotFound } from './run-errors.js';
import { SqliteRunWriter, type RunWrite } from './sqlite-run-writer.js';
import { insertMetrics, metricHistory, metricHistoryBulkInterval, metricHistoryJson } from './sql-metrics.js';
import {
  checkBatchLimits, checkDatasetInput, checkExperimentName, checkExperimentTag, checkMetric, checkParam, checkRunTag,
} from './validation.js';
import {
  decodePageToken, encodePageToken, experimentIdList, parseExperimentId, searchExperimentIds, searchRunIds,
} from './search/index.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface SqlTrackingStoreOptions {
  /** Root URI under which experiments get their artifact location (`<root>/<experiment id>`). */
  defaultArtifactRoot: string;
  /** Checks a client-supplied experiment `artifact_location` (the artifacts module's URI classifier). */
  validateArtifactLocation?: (uri: string) => string;
}

/** Tracking over the relational store; the same code for SQLite and PostgreSQL. */
export class SqlTrackingStore implements TrackingService {
  readonly db: Kysely<Database>;
  /** SQLite's prepared-statement path for the logging hot calls; PostgreSQL takes the Kysely path below. */
  readonly #sqliteWriter?: SqliteRunWriter;
  readonly #loggedModels: SqlLoggedModels;

  constructor(
    readonly store: Store,
    readonly options: SqlTrackingStoreOptions,
  ) {
    this.db = store.db;
    if (store.sqlite) this.#sqliteWriter = new SqliteRunWriter(store.db, store.sqlite);
    this.#loggedModels = new SqlLoggedModels(store.db, store.dialect, {
      experimentRow: (db, id) => this.experimentRow(db, id),
      runRow: (db, id, active) => this.runRow(db, id, active),
    });
  }

  /** Writes params, metrics and tags into an active run, in one transaction. Inputs are validated. */
  private async writeToRun(runId: string, w: RunWrite): Promise<void> {
    if (this.#sqliteWriter) return this.#sqliteWriter.write(runId, w);
    await this.db.transaction().execute(async (tx) => {
      const run = await this.runRow(tx, runId, true);
      await this.insertParams(tx, runId, w.params);
      await insertMetrics(tx, run, w.metrics);
      await this.upsertTags(tx, runId, w.tags);
    });
  }

  /** Creates experiment "0" (Default) if absent; called once at start-up. */
  async ensureDefaultExperiment(): Promise<void> {
    const now = nowMs();
    await this.db
      .insertInto('experiments')
      .values({
        experiment_id: 0,
        name: 'Default',
        artifact_location: joinUri(this.options.defaultArtifactRoot, '0'),
        lifecycle_stage: 'active',
        creation_time: now,
        last_update_time: now,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  // ---- experiments ----

  async createExperiment(req: CreateExperimentRequest): Promise<string> {
    const name = checkExperimentName(req.name);
    for (const t of req.tags ?? []) checkExperimentTag(t);
    const location = req.artifact_location ? this.validateLocation(req.artifact_location) : undefined;
    const now = nowMs();
    return this.db.transaction().execute(async (tx) => {
      const existing = await tx.selectFrom('experiments').select('experiment_id').where('name', '=', name).executeTakeFirst();
      if (existing) throw alreadyExists(`Experiment(name=${name}) already exists.`);
      const row = await tx
        .insertInto('experiments')
        .values({ name, artifact_location: location ?? '', lifecycle_stage: 'active', creation_time: now, last_update_time: now })
        .returning('experiment_id')
        .executeTakeFirstOrThrow();
      const id = Number(row.experiment_id);
      if (!location) {
        await tx.updateTable('experiments').set({ artifact_location: joinUri(this.options.defaultArtifactRoot, String(id)) }).where('experiment_id', '=', id).execute();
      }
      if (req.tags?.length) {
        await tx.insertInto('experiment_tags').values(dedupeKeys(req.tags).map((t) => ({ experiment_id: id, key: t.key, value: t.value }))).execute();
      }
      return String(id);
    });
  }

  private validateLocation(uri: string): string {
    if (/^runs:/i.test(uri)) throw invalidParameter(`artifact_location cannot be a runs:/ URI. URI was: ${uri}`);
    return this.options.validateArtifactLocation ? this.options.validateArtifactLocation(uri) : uri;
  }

  async getExperiment(experimentId: string): Promise<Experiment> {
    const id = parseExperimentId(experimentId);
    const row = id === undefined ? undefined : await this.db.selectFrom('experiments').selectAll().where('experiment_id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`No Experiment with id=${experimentId} exists`);
    return experimentFromRow(row, await this.experimentTags(this.db, row.experiment_id));
  }

  async getExperimentByName(name: string): Promise<Experiment> {
    const row = await this.db
      .selectFrom('experiments')
      .selectAll()
      .where('name', '=', name)
      .orderBy(sql`case when lifecycle_stage = 'active' then 0 else 1 end`)
      .executeTakeFirst();
    if (!row) throw notFound(`Could not find experiment with name '${name}'`);
    return experimentFromRow(row, await this.experimentTags(this.db, row.experiment_id));
  }

  private async experimentTags(db: Db, id: number): Promise<KeyValue[]> {
    return db.selectFrom('experiment_tags').select(['key', 'value']).where('experiment_id', '=', id).orderBy('key').execute();
  }

  async searchExperiments(req: SearchExperimentsRequest): Promise<Page<Experiment>> {
    const { ids, nextPageToken } = await searchExperimentIds(this.db, this.store.dialect, req);
    if (!ids.length) return { items: [], next_page_token: nextPageToken };
    const rows = await this.db.selectFrom('experiments').selectAll().where('experiment_id', 'in', ids).execute();
    const tags = await this.db.selectFrom('experiment_tags').selectAll().where('experiment_id', 'in', ids).orderBy('key').execute();
    const byId = new Map(rows.map((r) => [Number(r.experiment_id), r]));
    const tagsById = groupBy(tags, (t) => Number(t.experiment_id));
    const items = ids.flatMap((id) => {
      const row = byId.get(Number(id));
      return row ? [experimentFromRow(row, keyValues(tagsById.get(Number(id))))] : [];
    });
    return { items, next_page_token: nextPageToken };
  }

  /** The experiment's row whatever its state, or RESOURCE_DOES_NOT_EXIST. */
  private async experimentRow(db: Db, experimentId: string) {
    const id = parseExperimentId(experimentId);
    const row = id === undefined ? undefined : await db.selectFrom('experiments').selectAll().where('experiment_id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`No Experiment with id=${experimentId} exists`);
    return row;
  }

  async updateExperiment(experimentId: string, newName: string): Promise<void> {
    const name = checkExperimentName(newName);
    await this.db.transaction().execute(async (tx) => {
      const exp = await this.experimentRow(tx, experimentId);
      if (exp.lifecycle_stage !== 'active') throw new FlywheelError('INVALID_STATE', 'Cannot rename a non-active experiment.');
      const clash = await tx.selectFrom('experiments').select('experiment_id').where('name', '=', name).where('experiment_id', '!=', exp.experiment_id).executeTakeFirst();
      if (clash) throw alreadyExists(`Experiment(name=${name}) already exists.`);
      await tx.updateTable('experiments').set({ name, last_update_time: nowMs() }).where('experiment_id', '=', exp.experiment_id).execute();
    });
  }

  async deleteExperiment(experimentId: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const exp = await this.experimentRow(tx, experimentId);
      const now = nowMs();
      await tx.updateTable('experiments').set({ lifecycle_stage: 'deleted', last_update_time: now }).where('experiment_id', '=', exp.experiment_id).execute();
      await tx
        .updateTable('runs')
        .set({ lifecycle_stage: 'deleted', deleted_time: now })
        .where('experiment_id', '=', exp.experiment_id)
        .where('lifecycle_stage', '=', 'active')
        .execute();
    });
  }

  async restoreExperiment(experimentId: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const exp = await this.experimentRow(tx, experimentId);
      if (exp.lifecycle_stage !== 'deleted') {
        throw invalidParameter(`Cannot restore an active experiment. Experiment id=${experimentId} is already active.`);
      }
      // Restores the runs deleted together with the experiment, not those deleted before it.
      await tx
        .updateTable('runs')
        .set({ lifecycle_stage: 'active', deleted_time: null })
        .where('experiment_id', '=', exp.experiment_id)
        .where('lifecycle_stage', '=', 'deleted')
        .where('deleted_time', '>=', exp.last_update_time)
        .execute();
      await tx.updateTable('experiments').set({ lifecycle_stage: 'active', last_update_time: nowMs() }).where('experiment_id', '=', exp.experiment_id).execute();
    });
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    checkExperimentTag({ key, value });
    await this.db.transaction().execute(async (tx) => {
      const exp = await this.experimentRow(tx, experimentId);
      if (exp.lifecycle_stage !== 'active') {
        throw invalidParameter(`The experiment ${experimentId} must be in the 'active' state. Current state is ${exp.lifecycle_stage}.`);
      }
      await tx
        .insertInto('experiment_tags')
        .values({ experiment_id: exp.experiment_id, key, value })
        .onConflict((oc) => oc.columns(['experiment_id', 'key']).doUpdateSet({ value }))
        .execute();
    });
  }

  async deleteExperimentTag(experimentId: string, key: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      const exp = await this.experimentRow(tx, experimentId);
      const res = await tx.deleteFrom('experiment_tags').where('experiment_id', '=', exp.experiment_id).where('key', '=', key).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw notFound(`No tag with name: ${key} in experiment with id ${experimentId}`);
    });
  }

  async searchDatasets(experimentIds: string[]): Promise<DatasetSummary[]> {
    const ids = experimentIdList(experimentIds);
    if (!ids.length) return [];
    const rows = await this.db
      .selectFrom('datasets as d')
      .innerJoin('inputs as i', (j) => j.onRef('i.source_id', '=', 'd.dataset_uuid').on('i.source_type', '=', 'DATASET'))
      .leftJoin('input_tags as t', (j) => j.onRef('t.input_uuid', '=', 'i.input_uuid').on('t.name', '=', 'mlflow.data.context'))
      .select(['d.experiment_id', 'd.name', 'd.digest', 't.value as context'])
      .distinct()
      .where('d.experiment_id', 'in', ids)
      .orderBy('d.experiment_id').orderBy('d.name').orderBy('d.digest')
      .limit(1000)
      .execute();
    return rows.map((r) => ({
      experiment_id: String(r.experiment_id), name: r.name, digest: r.digest, ...(r.context ? { context: r.context } : {}),
    }));
  }

  // ---- runs ----

  async createRun(req: CreateRunRequest): Promise<Run> {
    if (req.experiment_id === undefined || req.experiment_id === '') {
      throw new FlywheelError('BAD_REQUEST', "Missing value for required parameter 'experiment_id'.");
    }
    const tags = (req.tags ?? []).map(checkRunTag);
    const tagName = tags.find((t) => t.key === RUN_NAME_TAG)?.value;
    if (req.run_name && tagName !== undefined && req.run_name !== tagName) {
      throw invalidParameter(
        `Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='${req.run_name}', mlflow.runName='${tagName}').`,
      );
    }
    const name = req.run_name || tagName || randomRunName();
    if (tagName === undefined) tags.push({ key: RUN_NAME_TAG, value: name });
    const runId = newRunId();
    await this.db.transaction().execute(async (tx) => {
      const exp = await this.experimentRow(tx, req.experiment_id);
      if (exp.lifecycle_stage !== 'active') {
        throw invalidParameter(`The experiment ${req.experiment_id} must be in the 'active' state. Current state is ${exp.lifecycle_stage}.`);
      }
      await tx
        .insertInto('runs')
        .values({
          run_uuid: runId,
          name,
          experiment_id: exp.experiment_id,
          user_id: req.user_id ?? '',
          status: 'RUNNING',
          start_time: req.start_time ?? nowMs(),
          end_time: null,
          deleted_time: null,
          lifecycle_stage: 'active',
          artifact_uri: joinUri(exp.artifact_location, runId, 'artifacts'),
        })
        .execute();
      await tx.insertInto('tags').values(dedupeKeys(tags).map((t) => ({ run_uuid: runId, ...t }))).execute();
    });
    return this.getRun(runId);
  }

  async getRun(runId: string): Promise<Run> {
    const [run] = await loadRuns(this.db, [runId]);
    if (!run) throw runNotFound(runId);
    return run;
  }

  private async runRow(db: Db, runId: string, mustBeActive: boolean) {
    const row = await db.selectFrom('runs').selectAll().where('run_uuid', '=', runId).executeTakeFirst();
    if (!row) throw runNotFound(runId);
    if (mustBeActive && row.lifecycle_stage !== 'active') throw runNotActive(runId, row.lifecycle_stage);
    return row;
  }

  async updateRun(req: UpdateRunRequest): Promise<RunInfo> {
    return this.db.transaction().execute(async (tx) => {
      const row = await this.runRow(tx, req.run_id, true);
      const set: Partial<typeof row> = {};
      if (req.status) set.status = req.status;
      if (req.end_time !== undefined) set.end_time = req.end_time;
      if (req.run_name) {
        set.name = req.run_name;
        await this.upsertTags(tx, req.run_id, [{ key: RUN_NAME_TAG, value: req.run_name }]);
      }
      if (Object.keys(set).length) await tx.updateTable('runs').set(set).where('run_uuid', '=', req.run_id).execute();
      return runInfoFromRow({ ...row, ...set });
    });
  }

  async deleteRun(runId: string): Promise<void> {
    await this.runRow(this.db, runId, false);
    await this.db.updateTable('runs').set({ lifecycle_stage: 'deleted', deleted_time: nowMs() }).where('run_uuid', '=', runId).execute();
  }

  async restoreRun(runId: string): Promise<void> {
    await this.runRow(this.db, runId, false);
    await this.db.updateTable('runs').set({ lifecycle_stage: 'active', deleted_time: null }).where('run_uuid', '=', runId).execute();
  }

  async searchRuns(req: SearchRunsRequest): Promise<Page<Run>> {
    const { runIds, nextPageToken } = await searchRunIds(this.db, this.store.dialect, req);
    return { items: await loadRuns(this.db, runIds), next_page_token: nextPageToken };
  }

  // ---- metrics, params, tags ----

  async logMetric(runId: string, metric: Metric): Promise<void> {
    checkMetric(metric);
    await this.writeToRun(runId, { params: [], metrics: [metric], tags: [] });
  }

  async logParam(runId: string, key: string, value: string): Promise<void> {
    await this.writeToRun(runId, { params: [checkParam({ key, value })], metrics: [], tags: [] });
  }

  private async insertParams(tx: Db, runId: string, params: KeyValue[]): Promise<void> {
    if (!params.length) return;
    const existing = await tx.selectFrom('params').select(['key', 'value']).where('run_uuid', '=', runId).where('key', 'in', params.map((p) => p.key)).execute();
    const have = new Map(existing.map((p) => [p.key, p.value]));
    const fresh: KeyValue[] = [];
    for (const p of params) {
      const old = have.get(p.key);
      if (old === undefined) fresh.push(p);
      else if (old !== p.value) throw paramChanged(runId, p.key, old, p.value);
    }
    if (fresh.length) {
      await tx.insertInto('params').values(fresh.map((p) => ({ run_uuid: runId, ...p }))).execute();
    }
  }

  private async upsertTags(tx: Db, runId: string, tags: KeyValue[]): Promise<void> {
    if (!tags.length) return;
    for (const chunk of chunks(dedupeKeys(tags, 'last'), 300)) {
      await tx
        .insertInto('tags')
        .values(chunk.map((t) => ({ run_uuid: runId, ...t })))
        .onConflict((oc) => oc.columns(['run_uuid', 'key']).doUpdateSet({ value: (eb) => eb.ref('excluded.value') }))
        .execute();
    }
    const name = tags.findLast((t) => t.key === RUN_NAME_TAG);
    if (name) await tx.updateTable('runs').set({ name: name.value }).where('run_uuid', '=', runId).execute();
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    await this.writeToRun(runId, { params: [], metrics: [], tags: [checkRunTag({ key, value })] });
  }

  async deleteTag(runId: string, key: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await this.runRow(tx, runId, true);
      const res = await tx.deleteFrom('tags').where('run_uuid', '=', runId).where('key', '=', key).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw notFound(`No tag with name: ${key} in run with id ${runId}`);
    });
  }

  async logBatch(req: LogBatchRequest): Promise<void> {
    const metrics = req.metrics ?? [];
    const rawParams = req.params ?? [];
    const rawTags = req.tags ?? [];
    checkBatchLimits(metrics.length, rawParams.length, rawTags.length);
    const seen = new Set<string>();
    const dup = new Set<string>();
    for (const p of rawParams) (seen.has(p.key) ? dup : seen).add(p.key);
    if (dup.size) {
      throw invalidParameter(
        `Duplicate parameter keys have been submitted: [${[...dup].map((k) => `'${k}'`).join(', ')}]. Please ensure the request contains only one param value per param key.`,
      );
    }
    const validKeys = new Set<string>();
    for (const m of metrics) checkMetric(m, validKeys);
    const params = rawParams.map(checkParam);
    const tags = rawTags.map(checkRunTag);
    await this.writeToRun(req.run_id, { params, metrics, tags });
  }

  async logInputs(runId: string, datasets: DatasetInput[] = [], models: ModelInput[] = []): Promise<void> {
    if (datasets.length > LIMITS.datasetsPerLogInputs) {
      throw invalidParameter(`Cannot log more than ${LIMITS.datasetsPerLogInputs} dataset inputs in one request.`);
    }
    for (const d of datasets) checkDatasetInput(d);
    await this.db.transaction().execute(async (tx) => {
      const run = await this.runRow(tx, runId, true);
      for (const d of datasets) {
        const ds = d.dataset;
        let uuid = (
          await tx.selectFrom('datasets').select('dataset_uuid')
            .where('experiment_id', '=', run.experiment_id).where('name', '=', ds.name).where('digest', '=', ds.digest)
            .executeTakeFirst()
        )?.dataset_uuid;
        if (!uuid) {
          uuid = randomUUID().replaceAll('-', '');
          await tx.insertInto('datasets').values({
            dataset_uuid: uuid, experiment_id: run.experiment_id, name: ds.name, digest: ds.digest,
            dataset_source_type: ds.source_type, dataset_source: ds.source,
            dataset_schema: ds.schema ?? null, dataset_profile: ds.profile ?? null,
          }).execute();
        }
        const inputUuid = await this.link(tx, 'DATASET', uuid, runId);
        if (inputUuid && d.tags?.length) {
          await tx.insertInto('input_tags')
            .values(dedupeKeys(d.tags).map((t) => ({ input_uuid: inputUuid, name: t.key, value: t.value })))
            .execute();
        }
      }
      for (const m of models) {
        if (typeof m.model_id !== 'string' || !m.model_id) throw invalidParameter("Missing value for required parameter 'models.model_id'.");
        await this.link(tx, 'MODEL', m.model_id, runId);
      }
    });
  }

  /** Links a source to a run once; returns the new input id, or undefined if the link existed. */
  private async link(tx: Db, sourceType: string, sourceId: string, runId: string): Promise<string | undefined> {
    const existing = await tx.selectFrom('inputs').select('input_uuid')
      .where('source_type', '=', sourceType).where('source_id', '=', sourceId)
      .where('destination_type', '=', 'RUN').where('destination_id', '=', runId)
      .executeTakeFirst();
    if (existing) return undefined;
    const input_uuid = randomUUID().replaceAll('-', '');
    await tx.insertInto('inputs').values({ input_uuid, source_type: sourceType, source_id: sourceId, destination_type: 'RUN', destination_id: runId }).execute();
    return input_uuid;
  }

  async logOutputs(runId: string, models: ModelOutput[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await this.runRow(tx, runId, true);
      for (const m of models) {
        if (typeof m.model_id !== 'string' || !m.model_id) throw invalidParameter("Missing value for required parameter 'models.model_id'.");
        await tx.insertInto('run_outputs').values({ run_uuid: runId, model_id: m.model_id, step: m.step ?? 0 })
          .onConflict((oc) => oc.columns(['run_uuid', 'model_id']).doUpdateSet({ step: m.step ?? 0 }))
          .execute();
      }
    });
  }

  async getMetricHistory(req: GetMetricHistoryRequest): Promise<Page<Metric>> {
    const { offset, runKey } = await this.checkHistoryRequest(req);
    const rows = await metricHistory(this.db, runKey, req.metric_key, offset, req.max_results);
    if (req.max_results !== undefined && rows.length > req.max_results) {
      return { items: rows.slice(0, req.max_results), next_page_token: encodePageToken(offset + req.max_results) };
    }
    return { items: rows };
  }

  async getMetricHistoryJson(req: GetMetricHistoryRequest): Promise<{ metricsJson: string | Buffer; count: number; next_page_token?: string }> {
    const { offset, runKey } = await this.checkHistoryRequest(req);
    const page = await metricHistoryJson(this.db, this.store.dialect, runKey, req.metric_key, offset, req.max_results);
    const { more, ...rest } = page;
    return more ? { ...rest, next_page_token: encodePageToken(offset + req.max_results!) } : rest;
  }

  /** Validates a history request; returns the page's offset and the run's history key. */
  private async checkHistoryRequest(req: GetMetricHistoryRequest): Promise<{ offset: number; runKey: number }> {
    const run = await this.runRow(this.db, req.run_id, false);
    if (req.max_results !== undefined && (req.max_results < 1 || !Number.isSafeInteger(req.max_results))) {
      throw invalidParameter(`Invalid value ${req.max_results} for parameter 'max_results': must be a positive integer.`);
    }
    return { offset: req.page_token ? decodePageToken(req.page_token) : 0, runKey: run.run_key };
  }

  async getMetricHistoryBulkInterval(req: BulkIntervalRequest): Promise<MetricWithRunId[]> {
    if (!req.run_ids.length) throw invalidParameter('GetMetricHistoryBulkInterval request must specify at least one run_id.');
    if (req.run_ids.length > LIMITS.bulkRunIds) {
      throw invalidParameter(`GetMetricHistoryBulkInterval request cannot specify more than ${LIMITS.bulkRunIds} run_ids. Received ${req.run_ids.length} run_ids.`);
    }
    if ((req.start_step === undefined) !== (req.end_step === undefined)) {
      throw invalidParameter('If either start step or end step are specified, both must be specified.');
    }
    if (req.start_step !== undefined && req.end_step !== undefined && req.start_step > req.end_step) {
      throw invalidParameter('end_step must be greater than start_step.');
    }
    const max = req.max_results ?? LIMITS.bulkIntervalMaxResults;
    if (max < 1 || max > LIMITS.bulkIntervalMaxResults) {
      throw invalidParameter(`max_results must be between 1 and ${LIMITS.bulkIntervalMaxResults}.`);
    }
    const ids = [...new Set(req.run_ids)];
    const found = await this.db.selectFrom('runs').select(['run_uuid', 'run_key']).where('run_uuid', 'in', ids).execute();
    const byId = new Map(found.map((r) => [r.run_uuid, r]));
    const runs = ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
    return metricHistoryBulkInterval(this.db, this.store.dialect, runs, req.metric_key, max, req.start_step, req.end_step);
  }

  // ---- logged models (MLflow 3) ----

  createLoggedModel(req: CreateLoggedModelRequest): Promise<LoggedModel> {
    return this.#loggedModels.create(req);
  }
  getLoggedModel(modelId: string): Promise<LoggedModel> {
    return this.#loggedModels.get(modelId);
  }
  finalizeLoggedModel(modelId: string, status: LoggedModelStatus): Promise<LoggedModel> {
    return this.#loggedModels.finalize(modelId, status);
  }
  deleteLoggedModel(modelId: string): Promise<void> {
    return this.#loggedModels.delete(modelId);
  }
  searchLoggedModels(req: SearchLoggedModelsRequest): Promise<Page<LoggedModel>> {
    return this.#loggedModels.search(req);
  }
  setLoggedModelTags(modelId: string, tags: KeyValue[]): Promise<LoggedModel> {
    return this.#loggedModels.setTags(modelId, tags);
  }
  deleteLoggedModelTag(modelId: string, key: string): Promise<void> {
    return this.#loggedModels.deleteTag(modelId, key);
  }
  logLoggedModelParams(modelId: string, params: KeyValue[]): Promise<void> {
    return this.#loggedModels.logParams(modelId, params);
  }
}

import { type Kysely, type Selectable, type Transaction } from 'kysely';
import { newLoggedModelId, notFound, nowMs, randomRunName } from '../core/index.js';
import type { StoreDialect } from '../store/index.js';
import type { Database, ExperimentTable, RunTable } from '../store/schema.js';
import type { KeyValue, LoggedModel, LoggedModelStatus, Page } from './entities.js';
import type { CreateLoggedModelRequest, SearchLoggedModelsRequest } from './service.js';
import { searchLoggedModelIds } from './search/index.js';
import { loggedModelFromRow } from './sql-entities.js';
import { dedupeKeys, groupBy, joinUri, keyValues } from './sql-rows.js';
import { checkParam, checkRunTag } from './validation.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface LoggedModelDeps {
  /** The experiment row, or RESOURCE_DOES_NOT_EXIST. */
  experimentRow(db: Db, experimentId: string): Promise<Selectable<ExperimentTable>>;
  /** The run row, or RESOURCE_DOES_NOT_EXIST. */
  runRow(db: Db, runId: string, mustBeActive: boolean): Promise<Selectable<RunTable>>;
}

/** MLflow 3 logged models over the relational store (the tracking store delegates to it). */
export class SqlLoggedModels {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
    private readonly deps: LoggedModelDeps,
  ) {}

  async create(req: CreateLoggedModelRequest): Promise<LoggedModel> {
    for (const p of req.params ?? []) checkParam(p);
    for (const t of req.tags ?? []) checkRunTag(t);
    const modelId = newLoggedModelId();
    await this.db.transaction().execute(async (tx) => {
      const exp = await this.deps.experimentRow(tx, req.experiment_id);
      if (req.source_run_id) await this.deps.runRow(tx, req.source_run_id, false);
      const now = nowMs();
      await tx.insertInto('logged_models').values({
        model_id: modelId, experiment_id: exp.experiment_id, name: req.name || randomRunName(),
        artifact_location: joinUri(exp.artifact_location, 'models', modelId, 'artifacts'),
        creation_timestamp_ms: now, last_updated_timestamp_ms: now, status: 'LOGGED_MODEL_PENDING', lifecycle_stage: 'active',
        model_type: req.model_type ?? null, source_run_id: req.source_run_id ?? null, status_message: null, creator_id: null,
      }).execute();
      if (req.tags?.length) await tx.insertInto('logged_model_tags').values(dedupeKeys(req.tags, 'last').map((t) => ({ model_id: modelId, ...t }))).execute();
      if (req.params?.length) await tx.insertInto('logged_model_params').values(dedupeKeys(req.params, 'last').map((p) => ({ model_id: modelId, key: p.key, value: p.value }))).execute();
    });
    return this.get(modelId);
  }

  private async loggedModelRow(db: Db, modelId: string) {
    const row = await db.selectFrom('logged_models').selectAll().where('model_id', '=', modelId).where('lifecycle_stage', '=', 'active').executeTakeFirst();
    if (!row) throw notFound(`Logged model with ID '${modelId}' not found.`);
    return row;
  }

  async get(modelId: string): Promise<LoggedModel> {
    const [model] = await this.load([modelId]);
    if (!model) throw notFound(`Logged model with ID '${modelId}' not found.`);
    return model;
  }

  private async load(ids: string[]): Promise<LoggedModel[]> {
    if (!ids.length) return [];
    const rows = await this.db.selectFrom('logged_models').selectAll().where('model_id', 'in', ids).where('lifecycle_stage', '=', 'active').execute();
    const tags = await this.db.selectFrom('logged_model_tags').selectAll().where('model_id', 'in', ids).orderBy('key').execute();
    const params = await this.db.selectFrom('logged_model_params').selectAll().where('model_id', 'in', ids).orderBy('key').execute();
    const byId = new Map(rows.map((r) => [r.model_id, r]));
    const tagsById = groupBy(tags, (t) => t.model_id);
    const paramsById = groupBy(params, (p) => p.model_id);
    return ids.flatMap((id) => {
      const row = byId.get(id);
      return row ? [loggedModelFromRow(row, keyValues(tagsById.get(id)), keyValues(paramsById.get(id)))] : [];
    });
  }

  async finalize(modelId: string, status: LoggedModelStatus): Promise<LoggedModel> {
    await this.loggedModelRow(this.db, modelId);
    await this.db.updateTable('logged_models').set({ status, last_updated_timestamp_ms: nowMs() }).where('model_id', '=', modelId).execute();
    return this.get(modelId);
  }

  async delete(modelId: string): Promise<void> {
    await this.loggedModelRow(this.db, modelId);
    await this.db.updateTable('logged_models').set({ lifecycle_stage: 'deleted', last_updated_timestamp_ms: nowMs() }).where('model_id', '=', modelId).execute();
  }

  async search(req: SearchLoggedModelsRequest): Promise<Page<LoggedModel>> {
    const { ids, nextPageToken } = await searchLoggedModelIds(this.db, this.dialect, req);
    return { items: await this.load(ids), next_page_token: nextPageToken };
  }

  async setTags(modelId: string, tags: KeyValue[]): Promise<LoggedModel> {
    const checked = tags.map(checkRunTag);
    await this.db.transaction().execute(async (tx) => {
      await this.loggedModelRow(tx, modelId);
      if (checked.length) {
        await tx.insertInto('logged_model_tags').values(dedupeKeys(checked, 'last').map((t) => ({ model_id: modelId, ...t })))
          .onConflict((oc) => oc.columns(['model_id', 'key']).doUpdateSet({ value: (eb) => eb.ref('excluded.value') }))
          .execute();
      }
      await tx.updateTable('logged_models').set({ last_updated_timestamp_ms: nowMs() }).where('model_id', '=', modelId).execute();
    });
    return this.get(modelId);
  }

  async deleteTag(modelId: string, key: string): Promise<void> {
    await this.loggedModelRow(this.db, modelId);
    const res = await this.db.deleteFrom('logged_model_tags').where('model_id', '=', modelId).where('key', '=', key).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw notFound(`No tag with key '${key}' found for logged model '${modelId}'.`);
  }

  async logParams(modelId: string, params: KeyValue[]): Promise<void> {
    const checked = params.map(checkParam);
    await this.db.transaction().execute(async (tx) => {
      await this.loggedModelRow(tx, modelId);
      if (checked.length) {
        await tx.insertInto('logged_model_params').values(dedupeKeys(checked, 'last').map((p) => ({ model_id: modelId, ...p })))
          .onConflict((oc) => oc.columns(['model_id', 'key']).doUpdateSet({ value: (eb) => eb.ref('excluded.value') }))
          .execute();
      }
    });
  }
}

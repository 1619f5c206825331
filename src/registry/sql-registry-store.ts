import type { Kysely } from 'kysely';
import { alreadyExists, invalidParameter, notFound, nowMs } from '../core/index.js';
import type { ArtifactUriClass } from '../artifacts/uri.js';
import type { Store } from '../store/index.js';
import type { Database } from '../store/schema.js';
import type { KeyValue, Page, TrackingService } from '../tracking/index.js';
import { STAGES, type ModelVersion, type ModelVersionLineage, type PromotionEvent, type RegisteredModel } from './entities.js';
import type { Actor, CreateModelVersionRequest, RegistryService, SearchRequest } from './service.js';
import { resolveModelSource } from './source-validation.js';
import { lastAliasEvent, listPromotions, recordPromotion } from './sql-promotions.js';
import { latestVersions, loadVersionRow, modelsFromRows, versionsFromRows, type Db } from './sql-registry-rows.js';
import { searchModelVersionKeys, searchRegisteredModelNames } from './sql-registry-search.js';
import { canonicalStage, checkAlias, checkModelName, checkTag, parseVersion } from './validation.js';

/** Deleted versions keep their row (so a number is never handed out twice), as MLflow's SQL store does. */
export const DELETED_STAGE = 'Deleted_Internal';

export interface SqlRegistryStoreOptions {
  tracking: Pick<TrackingService, 'getRun' | 'getLoggedModel'>;
  /** The artifact store's URI classifier (with its root). */
  classify?: (uri: string) => ArtifactUriClass;
}

const modelNotFound = (name: string) => notFound(`Registered Model with name=${name} not found`);
const versionNotFound = (name: string, version: number | string) => notFound(`Model Version (name=${name}, version=${version}) not found`);

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === '23505' || (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT_PRIMARYKEY')) || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** The model registry over the relational store; the same code for SQLite and PostgreSQL. */
export class SqlRegistryStore implements RegistryService {
  readonly db: Kysely<Database>;
  constructor(
    readonly store: Store,
    readonly options: SqlRegistryStoreOptions,
  ) {
    this.db = store.db;
  }

  /** Reads the model row, locking it on PostgreSQL so changes to one model's versions/aliases serialise. */
  private async lockModel(tx: Db, name: string) {
    let q = tx.selectFrom('registered_models').selectAll().where('name', '=', name);
    if (this.store.dialect === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) throw modelNotFound(name);
    return row;
  }

  private async liveVersion(tx: Db, name: string, version: number) {
    const row = await loadVersionRow(tx, name, version);
    if (!row || row.current_stage === DELETED_STAGE) throw versionNotFound(name, version);
    return row;
  }

  private touchModel(tx: Db, name: string, now: number) {
    return tx.updateTable('registered_models').set({ last_updated_timestamp: now }).where('name', '=', name).execute();
  }

  // ---- registered models ----

  async createRegisteredModel(req: { name: string; description?: string; tags?: KeyValue[]; user_id?: string }): Promise<RegisteredModel> {
    const name = checkModelName(req.name);
    for (const t of req.tags ?? []) checkTag(t.key, t.value);
    const now = nowMs();
    try {
      await this.db.transaction().execute(async (tx) => {
        const existing = await tx.selectFrom('registered_models').select('name').where('name', '=', name).executeTakeFirst();
        if (existing) throw alreadyExists(`Registered Model (name=${name}) already exists.`);
        await tx
          .insertInto('registered_models')
          .values({ name, creation_timestamp: now, last_updated_timestamp: now, description: req.description ?? null, user_id: req.user_id || null })
          .execute();
        const tags = new Map((req.tags ?? []).map((t) => [t.key, t.value]));
        if (tags.size) await tx.insertInto('registered_model_tags').values([...tags].map(([key, value]) => ({ name, key, value }))).execute();
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw alreadyExists(`Registered Model (name=${name}) already exists.`);
      throw e;
    }
    return this.getRegisteredModel(name);
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    const row = await this.db.selectFrom('registered_models').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw modelNotFound(name);
    return (await modelsFromRows(this.db, [row]))[0];
  }

  async renameRegisteredModel(name: string, newName: string): Promise<RegisteredModel> {
    checkModelName(newName, 'new_name');
    try {
      await this.db.transaction().execute(async (tx) => {
        await this.lockModel(tx, name);
        if (newName !== name) {
          const taken = await tx.selectFrom('registered_models').select('name').where('name', '=', newName).executeTakeFirst();
          if (taken) throw alreadyExists(`Registered Model (name=${newName}) already exists.`);
        }
        // Versions, tags and aliases follow by ON UPDATE CASCADE; the history follows explicitly.
        await tx.updateTable('registered_models').set({ name: newName, last_updated_timestamp: nowMs() }).where('name', '=', name).execute();
        await tx.updateTable('promotion_events').set({ name: newName }).where('name', '=', name).execute();
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw alreadyExists(`Registered Model (name=${newName}) already exists.`);
      throw e;
    }
    return this.getRegisteredModel(newName);
  }

  async updateRegisteredModel(name: string, description: string | undefined): Promise<RegisteredModel> {
    const res = await this.db
      .updateTable('registered_models')
      .set({ description: description ?? null, last_updated_timestamp: nowMs() })
      .where('name', '=', name)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) throw modelNotFound(name);
    return this.getRegisteredModel(name);
  }

  async deleteRegisteredModel(name: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await this.lockModel(tx, name);
      await tx.deleteFrom('model_version_tags').where('name', '=', name).execute();
      await tx.deleteFrom('model_versions').where('name', '=', name).execute();
      await tx.deleteFrom('registered_model_tags').where('name', '=', name).execute();
      await tx.deleteFrom('registered_model_aliases').where('name', '=', name).execute();
      await tx.deleteFrom('promotion_events').where('name', '=', name).execute();
      await tx.deleteFrom('registered_models').where('name', '=', name).execute();
    });
  }

  async searchRegisteredModels(req: SearchRequest): Promise<Page<RegisteredModel>> {
    const { names, nextPageToken } = await searchRegisteredModelNames(this.db, this.store.dialect, req);
    if (names.length === 0) return { items: [], next_page_token: nextPageToken };
    const rows = await this.db.selectFrom('registered_models').selectAll().where('name', 'in', names).execute();
    const byName = new Map(rows.map((r) => [r.name, r]));
    const items = await modelsFromRows(this.db, names.flatMap((n) => (byName.has(n) ? [byName.get(n)!] : [])));
    return { items, next_page_token: nextPageToken };
  }

  async getLatestVersions(name: string, stages: string[]): Promise<ModelVersion[]> {
    const wanted = stages.length ? [...new Set(stages.map(canonicalStage))] : [...STAGES];
    await this.getModelRow(name);
    return latestVersions(this.db, name, wanted);
  }

  private async getModelRow(name: string) {
    const row = await this.db.selectFrom('registered_models').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw modelNotFound(name);
    return row;
  }

  async setRegisteredModelTag(name: string, key: string, value: string): Promise<void> {
    checkTag(key, value);
    await this.db.transaction().execute(async (tx) => {
      await this.lockModel(tx, name);
      await tx
        .insertInto('registered_model_tags')
        .values({ name, key, value })
        .onConflict((oc) => oc.columns(['name', 'key']).doUpdateSet({ value }))
        .execute();
    });
  }

  async deleteRegisteredModelTag(name: string, key: string): Promise<void> {
    await this.getModelRow(name);
    const res = await this.db.deleteFrom('registered_model_tags').where('name', '=', name).where('key', '=', key).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) {
      throw notFound(`No tag with name: ${key} in Registered Model with name=${name}`);
    }
  }

  // ---- aliases and promotion history ----

  async setAlias(name: string, alias: string, version: string, who: Actor = {}): Promise<void> {
    checkAlias(alias);
    const v = parseVersion(version);
    await this.db.transaction().execute(async (tx) => {
      await this.lockModel(tx, name);
      await this.liveVersion(tx, name, v);
      await this.moveAlias(tx, name, alias, v, who);
    });
  }

  /** Points an alias at a version (or removes it when `to` is null) and records the event, inside `tx`. */
  private async moveAlias(tx: Db, name: string, alias: string, to: number | null, who: Actor): Promise<void> {
    const current = await tx
      .selectFrom('registered_model_aliases')
      .select('version')
      .where('name', '=', name)
      .where('alias', '=', alias)
      .executeTakeFirst();
    const from = current ? Number(current.version) : null;
    if (to === null) {
      await tx.deleteFrom('registered_model_aliases').where('name', '=', name).where('alias', '=', alias).execute();
    } else if (current) {
      await tx.updateTable('registered_model_aliases').set({ version: to }).where('name', '=', name).where('alias', '=', alias).execute();
    } else {
      await tx.insertInto('registered_model_aliases').values({ name, alias, version: to }).execute();
    }
    const now = nowMs();
    await this.touchModel(tx, name, now);
    await recordPromotion(tx, { name, kind: 'alias', target: alias, from_version: from, to_version: to, actor: who.actor ?? '', reason: who.reason, timestamp: now });
  }

  async deleteAlias(name: string, alias: string, who: Actor = {}): Promise<void> {
    checkAlias(alias);
    await this.db.transaction().execute(async (tx) => {
      await this.lockModel(tx, name);
      // MLflow answers 200 for an alias that is not set; nothing changes, so nothing is recorded.
      const current = await tx.selectFrom('registered_model_aliases').select('version').where('name', '=', name).where('alias', '=', alias).executeTakeFirst();
      if (current) await this.moveAlias(tx, name, alias, null, who);
    });
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    await this.getModelRow(name);
    const row = await this.db.selectFrom('registered_model_aliases').select('version').where('name', '=', name).where('alias', '=', alias).executeTakeFirst();
    if (!row) throw notFound(`Registered model alias ${alias} not found.`);
    return this.getModelVersion(name, String(row.version));
  }

  /** Moves an alias back to the version it pointed at before its latest change (recorded as an event too). */
  async rollbackAlias(name: string, alias: string, who: Actor = {}): Promise<ModelVersion> {
    checkAlias(alias);
    const target = await this.db.transaction().execute(async (tx) => {
      await this.lockModel(tx, name);
      const last = await lastAliasEvent(tx, name, alias);
      if (!last) throw notFound(`No promotion history for alias '${alias}' of Registered Model with name=${name}.`);
      if (last.from_version === null) {
        throw invalidParameter(`Alias '${alias}' of Registered Model with name=${name} has no previous version to roll back to.`);
      }
      const to = Number(last.from_version);
      await this.liveVersion(tx, name, to);
      await this.moveAlias(tx, name, alias, to, { actor: who.actor, reason: who.reason || `rollback of event ${last.id}` });
      return to;
    });
    return this.getModelVersion(name, String(target));
  }

  async listPromotions(name: string): Promise<PromotionEvent[]> {
    await this.getModelRow(name);
    return listPromotions(this.db, name);
  }

  // ---- model versions ----

  async createModelVersion(req: CreateModelVersionRequest): Promise<ModelVersion> {
    const name = checkModelName(req.name);
    for (const t of req.tags ?? []) checkTag(t.key, t.value);
    const runId = req.run_id || undefined;
    if (runId) await this.options.tracking.getRun(runId);
    const resolved = await resolveModelSource(req.source, runId, {
      getRunArtifactUri: async (id) => (await this.options.tracking.getRun(id)).info.artifact_uri,
      getLoggedModelArtifactUri: async (id) => (await this.options.tracking.getLoggedModel(id)).info.artifact_uri,
      getRegisteredVersionArtifactUri: async (model, ref) => {
        const mv = await this.resolveRef(model, ref);
        return this.getModelVersionDownloadUri(model, mv.version);
      },
      classify: this.options.classify,
    });
    const now = nowMs();
    const version = await this.db.transaction().execute(async (tx) => {
      await this.lockModel(tx, name);
      const max = await tx.selectFrom('model_versions').select((eb) => eb.fn.max('version').as('v')).where('name', '=', name).executeTakeFirst();
      const v = Number(max?.v ?? 0) + 1;
      await tx
        .insertInto('model_versions')
        .values({
          name,
          version: v,
          creation_timestamp: now,
          last_updated_timestamp: now,
          user_id: req.user_id || null,
          current_stage: 'None',
          description: req.description ?? null,
          source: req.source,
          run_id: runId ?? resolved.sourceRunId ?? null,
          status: 'READY',
          status_message: null,
          run_link: req.run_link || null,
          storage_location: resolved.artifactUri,
        })
        .execute();
      const tags = new Map((req.tags ?? []).map((t) => [t.key, t.value]));
      if (tags.size) await tx.insertInto('model_version_tags').values([...tags].map(([key, value]) => ({ name, version: v, key, value }))).execute();
      await this.touchModel(tx, name, now);
      return v;
    });
    return this.getModelVersion(name, String(version));
  }

  /** The version a `models:/` reference names: a version number, a stage (or `latest`), or an alias. */
  private async resolveRef(name: string, ref: { version?: string; stage?: string; alias?: string }): Promise<ModelVersion> {
    if (ref.alias !== undefined) return this.getModelVersionByAlias(name, ref.alias);
    if (ref.version !== undefined) return this.getModelVersion(name, ref.version);
    const stage = ref.stage ?? 'latest';
    const versions = stage.toLowerCase() === 'latest' ? await this.getLatestVersions(name, []) : await this.getLatestVersions(name, [stage]);
    const newest = versions.sort((a, b) => Number(b.version) - Number(a.version))[0];
    if (!newest) throw notFound(`No versions of model '${name}' in stage '${stage}'`);
    return newest;
  }

  async getModelVersion(name: string, version: string): Promise<ModelVersion> {
    const v = parseVersion(version);
    const row = await this.liveVersion(this.db, name, v);
    return (await versionsFromRows(this.db, [row]))[0];
  }

  async updateModelVersion(name: string, version: string, description: string | undefined): Promise<ModelVersion> {
    const v = parseVersion(version);
    await this.liveVersion(this.db, name, v);
    await this.db
      .updateTable('model_versions')
      .set({ description: description ?? null, last_updated_timestamp: nowMs() })
      .where('name', '=', name)
      .where('version', '=', v)
      .execute();
    return this.getModelVersion(name, String(v));
  }

  async deleteModelVersion(name: string, version: string): Promise<void> {
    const v = parseVersion(version);
    await this.db.transaction().execute(async (tx) => {
      await this.lockModel(tx, name);
      await this.liveVersion(tx, name, v);
      const aliases = await tx.selectFrom('registered_model_aliases').select('alias').where('name', '=', name).where('version', '=', v).execute();
      for (const a of aliases) await this.moveAlias(tx, name, a.alias, null, { reason: `model version ${v} deleted` });
      await tx.deleteFrom('model_version_tags').where('name', '=', name).where('version', '=', v).execute();
      const now = nowMs();
      await tx
        .updateTable('model_versions')
        .set({ current_stage: DELETED_STAGE, last_updated_timestamp: now })
        .where('name', '=', name)
        .where('version', '=', v)
        .execute();
      await this.touchModel(tx, name, now);
    });
  }

  async searchModelVersions(req: SearchRequest): Promise<Page<ModelVersion>> {
    const { keys, nextPageToken } = await searchModelVersionKeys(this.db, this.store.dialect, req);
    if (keys.length === 0) return { items: [], next_page_token: nextPageToken };
    const names = [...new Set(keys.map((k) => k.name))];
    const rows = await this.db.selectFrom('model_versions').selectAll().where('name', 'in', names).execute();
    const byKey = new Map(rows.map((r) => [`${r.name}\u0000${Number(r.version)}`, r]));
    const ordered = keys.flatMap((k) => {
      const r = byKey.get(`${k.name}\u0000${k.version}`);
      return r ? [r] : [];
    });
    return { items: await versionsFromRows(this.db, ordered), next_page_token: nextPageToken };
  }

  async getModelVersionDownloadUri(name: string, version: string): Promise<string> {
    const row = await this.liveVersion(this.db, name, parseVersion(version));
    return row.storage_location || row.source;
  }

  async transitionStage(name: string, version: string, stage: string, archiveExisting: boolean, who: Actor = {}): Promise<ModelVersion> {
    const v = parseVersion(version);
    const target = canonicalStage(stage);
    await this.db.transaction().execute(async (tx) => {
      await this.lockModel(tx, name);
      const row = await this.liveVersion(tx, name, v);
      const now = nowMs();
      // from_version: the version that held the stage before (the latest one in it), if any.
      const prev = await tx
        .selectFrom('model_versions')
        .select((eb) => eb.fn.max('version').as('v'))
        .where('name', '=', name)
        .where('current_stage', '=', target)
        .where('version', '!=', v)
        .executeTakeFirst();
      const event = { name, kind: 'stage' as const, actor: who.actor ?? '', reason: who.reason, timestamp: now };
      if (archiveExisting && target !== 'None' && target !== 'Archived') {
        const others = await tx
          .selectFrom('model_versions')
          .select('version')
          .where('name', '=', name)
          .where('current_stage', '=', target)
          .where('version', '!=', v)
          .execute();
        for (const o of others) {
          await tx.updateTable('model_versions').set({ current_stage: 'Archived', last_updated_timestamp: now }).where('name', '=', name).where('version', '=', o.version).execute();
          await recordPromotion(tx, { ...event, target: 'Archived', from_version: null, to_version: Number(o.version), reason: who.reason || `archived: version ${v} moved to ${target}` });
        }
      }
      await tx.updateTable('model_versions').set({ current_stage: target, last_updated_timestamp: now }).where('name', '=', name).where('version', '=', v).execute();
      await recordPromotion(tx, { ...event, target, from_version: prev?.v == null ? null : Number(prev.v), to_version: v, reason: who.reason || (row.current_stage !== target ? `from stage ${row.current_stage}` : undefined) });
      await this.touchModel(tx, name, now);
    });
    return this.getModelVersion(name, String(v));
  }

  async setModelVersionTag(name: string, version: string, key: string, value: string): Promise<void> {
    const v = parseVersion(version);
    checkTag(key, value);
    await this.liveVersion(this.db, name, v);
    await this.db
      .insertInto('model_version_tags')
      .values({ name, version: v, key, value })
      .onConflict((oc) => oc.columns(['name', 'version', 'key']).doUpdateSet({ value }))
      .execute();
  }

  async deleteModelVersionTag(name: string, version: string, key: string): Promise<void> {
    const v = parseVersion(version);
    await this.liveVersion(this.db, name, v);
    const res = await this.db.deleteFrom('model_version_tags').where('name', '=', name).where('version', '=', v).where('key', '=', key).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw notFound(`No tag with name: ${key} in Model Version (name=${name}, version=${v})`);
  }

  // ---- lineage ----

  async lineage(name: string, version: string): Promise<ModelVersionLineage> {
    const mv = await this.getModelVersion(name, version);
    const row = (await loadVersionRow(this.db, name, Number(mv.version)))!;
    const out: ModelVersionLineage = { name, version: mv.version, source: mv.source, artifact_uri: row.storage_location || mv.source };
    const modelId = /^models:\/(m-[A-Za-z0-9]+)/i.exec(mv.source)?.[1];
    if (modelId) out.model_id = modelId;
    if (mv.run_id) {
      out.run_id = mv.run_id;
      try {
        const run = await this.options.tracking.getRun(mv.run_id);
        out.experiment_id = run.info.experiment_id;
        out.run_name = run.info.run_name;
        out.run_status = run.info.status;
        const datasets = (run.inputs.dataset_inputs ?? []).map(({ dataset, tags }) => {
          const context = tags?.find((t) => t.key === 'mlflow.data.context')?.value;
          const d = { name: dataset.name, digest: dataset.digest, source_type: dataset.source_type, source: dataset.source };
          return context ? { ...d, context } : d;
        });
        if (datasets.length) out.datasets = datasets;
      } catch {
        // the run may have been deleted since; the version still names it
      }
    }
    return out;
  }

  async modelVersionsOfRun(runId: string): Promise<ModelVersion[]> {
    await this.options.tracking.getRun(runId);
    const rows = await this.db
      .selectFrom('model_versions')
      .selectAll()
      .where('run_id', '=', runId)
      .where('current_stage', '!=', DELETED_STAGE)
      .orderBy('name')
      .orderBy('version')
      .execute();
    return versionsFromRows(this.db, rows);
  }
}

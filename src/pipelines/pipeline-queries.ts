import { sql } from 'kysely';
import { notFound } from '../core/errors.js';
import type { Store } from '../store/database.js';
import type { ArtifactVersionTable, PipelineRunTable, StepRunTable } from '../store/schema.js';
import type { Params } from './dsl.js';

/** How far lineage walks in either direction. */
export const LINEAGE_MAX_DEPTH = 50;

export interface Page {
  offset: number;
  limit: number;
}

export interface PipelineSummary {
  name: string;
  created: number;
  last_run?: PipelineRunView;
}

export interface PipelineRunView {
  id: string;
  pipeline_name: string;
  status: string;
  start_time: number;
  end_time: number | null;
  params: Params;
  tracking_run_id: string | null;
  error: string | null;
}

export interface StepRunView {
  id: string;
  pipeline_run_id: string;
  step_name: string;
  status: string;
  start_time: number;
  end_time: number | null;
  params: Params;
  code_hash: string | null;
  cache_key: string | null;
  cache_decision: unknown;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
  logs: string;
  error: string | null;
  tracking_run_id: string | null;
  attempts: number;
  /** Artifact versions this step run consumed. */
  input_artifact_version_ids: string[];
  /** Artifact versions this step run's outputs are (its own, or a cached run's it reused). */
  output_artifact_version_ids: string[];
}

export interface ArtifactVersionView {
  id: string;
  name: string;
  version: number;
  content_hash: string;
  type: string;
  materializer: string;
  size: number;
  uri: string;
  producer_step_run_id: string | null;
  metadata: unknown;
  created: number;
}

export interface ArtifactVersionDetail extends ArtifactVersionView {
  producer?: StepRunView;
  consumers: StepRunView[];
}

export interface Lineage {
  /** Artifact versions the producing step consumed, recursively; `depth` 1 = direct inputs. */
  upstream: { depth: number; artifact_version: ArtifactVersionView; consumed_by_step_run_id: string }[];
  /** Step runs that consumed the version, recursively, with the artifact versions they produced. */
  downstream: { depth: number; step_run: StepRunView; produced: ArtifactVersionView[] }[];
}

const parse = (s: string | null): unknown => (s === null ? null : (JSON.parse(s) as unknown));

function runView(r: PipelineRunTable): PipelineRunView {
  return {
    id: r.id,
    pipeline_name: r.pipeline_name,
    status: r.status,
    start_time: Number(r.start_time),
    end_time: r.end_time === null ? null : Number(r.end_time),
    params: JSON.parse(r.params) as Params,
    tracking_run_id: r.tracking_run_id,
    error: r.error,
  };
}

export function versionView(v: ArtifactVersionTable): ArtifactVersionView {
  return { ...v, version: Number(v.version), size: Number(v.size), created: Number(v.created), metadata: parse(v.metadata) };
}

/** `artifactVersionId`s named in a step run's outputs JSON. */
function outputVersionIds(outputs: Record<string, unknown> | null): string[] {
  const ids: string[] = [];
  for (const o of Object.values(outputs ?? {})) {
    const id = o && typeof o === 'object' ? (o as { artifactVersionId?: unknown }).artifactVersionId : undefined;
    if (typeof id === 'string') ids.push(id);
  }
  return ids;
}

/** Read-only views of pipelines, their runs, step runs and artifact versions, for the native API. */
export class PipelineQueries {
  constructor(readonly store: Store) {}

  private get db() {
    return this.store.db;
  }

  async listPipelines(page: Page): Promise<PipelineSummary[]> {
    const rows = await this.db.selectFrom('pipelines').selectAll().orderBy('name').offset(page.offset).limit(page.limit).execute();
    const out: PipelineSummary[] = [];
    for (const p of rows) {
      const last = await this.db
        .selectFrom('pipeline_runs')
        .selectAll()
        .where('pipeline_id', '=', p.id)
        .orderBy('start_time', 'desc')
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      out.push({ name: p.name, created: Number(p.created), ...(last ? { last_run: runView(last) } : {}) });
    }
    return out;
  }

  /** Newest first; all pipelines, or one by name. */
  async listPipelineRuns(pipeline: string | undefined, page: Page): Promise<PipelineRunView[]> {
    let q = this.db.selectFrom('pipeline_runs').selectAll();
    if (pipeline !== undefined) q = q.where('pipeline_name', '=', pipeline);
    const rows = await q.orderBy('start_time', 'desc').orderBy('id', 'desc').offset(page.offset).limit(page.limit).execute();
    return rows.map(runView);
  }

  async getPipelineRun(id: string): Promise<PipelineRunView & { step_runs: StepRunView[] }> {
    const row = await this.db.selectFrom('pipeline_runs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`Pipeline run '${id}' does not exist`);
    const steps = await this.db
      .selectFrom('step_runs')
      .selectAll()
      .where('pipeline_run_id', '=', id)
      .orderBy('start_time')
      .orderBy('step_name')
      .execute();
    return { ...runView(row), step_runs: await this.stepViews(steps) };
  }

  async getStepRun(id: string): Promise<StepRunView> {
    const row = await this.db.selectFrom('step_runs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`Step run '${id}' does not exist`);
    return (await this.stepViews([row]))[0];
  }

  private async stepViews(rows: StepRunTable[]): Promise<StepRunView[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const consumed = await this.db
      .selectFrom('artifact_consumers')
      .select(['step_run_id', 'artifact_version_id'])
      .where('step_run_id', 'in', ids)
      .orderBy('artifact_version_id')
      .execute();
    const produced = await this.db
      .selectFrom('artifact_versions')
      .select(['id', 'producer_step_run_id'])
      .where('producer_step_run_id', 'in', ids)
      .orderBy('id')
      .execute();
    // Outputs whose artifact version was pruned stay in the step run's record, marked `pruned: true`.
    const parsedOutputs = rows.map((r) => parse(r.outputs) as Record<string, unknown> | null);
    const referenced = [...new Set(parsedOutputs.flatMap(outputVersionIds))];
    const existing = new Set<string>();
    for (let i = 0; i < referenced.length; i += 500) {
      const found = await this.db.selectFrom('artifact_versions').select('id').where('id', 'in', referenced.slice(i, i + 500)).execute();
      for (const f of found) existing.add(f.id);
    }
    return rows.map((r, i) => {
      let outputs = parsedOutputs[i];
      if (outputs && outputVersionIds(outputs).some((id) => !existing.has(id))) {
        outputs = Object.fromEntries(
          Object.entries(outputs).map(([k, o]) => {
            const id = o && typeof o === 'object' ? (o as { artifactVersionId?: unknown }).artifactVersionId : undefined;
            return [k, typeof id === 'string' && !existing.has(id) ? { ...(o as object), pruned: true } : o];
          }),
        );
      }
      const outIds = new Set(outputVersionIds(outputs).filter((id) => existing.has(id)));
      for (const p of produced) if (p.producer_step_run_id === r.id) outIds.add(p.id);
      return {
        id: r.id,
        pipeline_run_id: r.pipeline_run_id,
        step_name: r.step_name,
        status: r.status,
        start_time: Number(r.start_time),
        end_time: r.end_time === null ? null : Number(r.end_time),
        params: JSON.parse(r.params) as Params,
        code_hash: r.code_hash,
        cache_key: r.cache_key,
        cache_decision: parse(r.cache_decision),
        inputs: JSON.parse(r.inputs) as Record<string, unknown>,
        outputs,
        logs: r.logs,
        error: r.error,
        tracking_run_id: r.tracking_run_id,
        attempts: Number(r.attempts),
        input_artifact_version_ids: consumed.filter((c) => c.step_run_id === r.id).map((c) => c.artifact_version_id),
        output_artifact_version_ids: [...outIds].sort(),
      };
    });
  }

  /** Distinct artifact names (optionally only those starting with `prefix`), each with its latest version. */
  async listArtifacts(page: Page, prefix?: string): Promise<{ name: string; latest_version: ArtifactVersionView; version_count: number }[]> {
    let q = this.db
      .selectFrom('artifact_versions')
      .select(['name'])
      .select((eb) => eb.fn.max('version').as('v'))
      .select((eb) => eb.fn.countAll().as('n'));
    if (prefix) q = q.where(sql<string>`substr(name, 1, ${prefix.length})`, '=', prefix);
    const names = await q
      .groupBy('name')
      .orderBy('name')
      .offset(page.offset)
      .limit(page.limit)
      .execute();
    const out: { name: string; latest_version: ArtifactVersionView; version_count: number }[] = [];
    for (const n of names) {
      const row = await this.db
        .selectFrom('artifact_versions')
        .selectAll()
        .where('name', '=', n.name)
        .where('version', '=', Number(n.v))
        .executeTakeFirstOrThrow();
      out.push({ name: n.name, latest_version: versionView(row), version_count: Number(n.n) });
    }
    return out;
  }

  /** Newest first; of one name, or of all. */
  async listArtifactVersions(name: string | undefined, page: Page): Promise<ArtifactVersionView[]> {
    let q = this.db.selectFrom('artifact_versions').selectAll();
    if (name !== undefined) q = q.where('name', '=', name);
    const rows = await q.orderBy('created', 'desc').orderBy('name').orderBy('version', 'desc').offset(page.offset).limit(page.limit).execute();
    return rows.map(versionView);
  }

  async getArtifactVersionRow(id: string): Promise<ArtifactVersionView> {
    const row = await this.db.selectFrom('artifact_versions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`Artifact version '${id}' does not exist`);
    return versionView(row);
  }

  async getArtifactVersion(id: string): Promise<ArtifactVersionDetail> {
    const v = await this.getArtifactVersionRow(id);
    const producer = v.producer_step_run_id
      ? await this.db.selectFrom('step_runs').selectAll().where('id', '=', v.producer_step_run_id).executeTakeFirst()
      : undefined;
    const consumers = await this.consumerRows([id]);
    return {
      ...v,
      ...(producer ? { producer: (await this.stepViews([producer]))[0] } : {}),
      consumers: await this.stepViews(consumers),
    };
  }

  private async consumerRows(versionIds: string[]): Promise<StepRunTable[]> {
    if (!versionIds.length) return [];
    return this.db
      .selectFrom('step_runs')
      .selectAll('step_runs')
      .where('id', 'in', (eb) =>
        eb.selectFrom('artifact_consumers').select('step_run_id').where('artifact_version_id', 'in', versionIds),
      )
      .orderBy('start_time')
      .orderBy('id')
      .execute();
  }

  private async versionsByIds(ids: string[]): Promise<ArtifactVersionView[]> {
    if (!ids.length) return [];
    const rows = await this.db.selectFrom('artifact_versions').selectAll().where('id', 'in', ids).orderBy('name').orderBy('version').execute();
    return rows.map(versionView);
  }

  /** Upstream and downstream of an artifact version, each walked breadth-first up to LINEAGE_MAX_DEPTH. */
  async lineage(id: string): Promise<Lineage> {
    const root = await this.getArtifactVersionRow(id);
    const upstream: Lineage['upstream'] = [];
    const seenVersions = new Set([root.id]);
    let frontier: ArtifactVersionView[] = [root];
    for (let depth = 1; depth <= LINEAGE_MAX_DEPTH && frontier.length; depth++) {
      const next: ArtifactVersionView[] = [];
      for (const v of frontier) {
        if (!v.producer_step_run_id) continue;
        const inputs = await this.db
          .selectFrom('artifact_consumers')
          .select('artifact_version_id')
          .where('step_run_id', '=', v.producer_step_run_id)
          .execute();
        const fresh = inputs.map((i) => i.artifact_version_id).filter((x) => !seenVersions.has(x));
        for (const u of await this.versionsByIds(fresh)) {
          seenVersions.add(u.id);
          upstream.push({ depth, artifact_version: u, consumed_by_step_run_id: v.producer_step_run_id });
          next.push(u);
        }
      }
      frontier = next;
    }

    const downstream: Lineage['downstream'] = [];
    const seenSteps = new Set<string>();
    const seenDown = new Set([root.id]);
    let versions = [root.id];
    for (let depth = 1; depth <= LINEAGE_MAX_DEPTH && versions.length; depth++) {
      const steps = (await this.consumerRows(versions)).filter((s) => !seenSteps.has(s.id));
      const next: string[] = [];
      for (const view of await this.stepViews(steps)) {
        seenSteps.add(view.id);
        const produced = await this.versionsByIds(view.output_artifact_version_ids);
        downstream.push({ depth, step_run: view, produced });
        for (const p of produced) {
          if (!seenDown.has(p.id)) {
            seenDown.add(p.id);
            next.push(p.id);
          }
        }
      }
      versions = next;
    }
    return { upstream, downstream };
  }
}

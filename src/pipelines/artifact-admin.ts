import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { ArtifactRepository } from '../artifacts/types.js';
import { FlywheelError, invalidParameter, notFound } from '../core/errors.js';
import type { Store } from '../store/database.js';
import type { ArtifactVersionTable } from '../store/schema.js';
import { insertArtifactVersion } from './artifact-output-store.js';
import { ContentAddressedStore } from './materializers/content-store.js';
import { loadFromDirectory, materializeToDirectory } from './materializers/output.js';
import type { MaterializerChoice } from './materializers/output-options.js';
import { MaterializerRegistry } from './materializers/registry.js';
import type { Visualization } from './materializers/types.js';
import { normalizeVisualizations, visualizationListSchema, type VisualizationInput } from './materializers/visualizations.js';
import { versionView, type ArtifactVersionView } from './pipeline-queries.js';

/** Names of artifacts saved outside pipelines: like pipeline outputs (`a/b/c`), no `:` (it separates a version). */
const ARTIFACT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-/]{0,199}$/;
/** User metadata, as JSON, at most. */
export const MAX_METADATA_BYTES = 64 * 1024;
/** Keys the artifact layer writes itself. */
const RESERVED_METADATA_KEYS = new Set(['visualizations', 'pipelineRunId', 'step', 'output']);
/** A pipeline run whose tracking run has this tag set to `true` is kept by `prune`, however old. */
export const TAG_KEEP = 'flywheel.keep';
/** Default of `prune`'s `keepLast`. */
export const DEFAULT_KEEP_LAST = 5;

export interface SaveArtifactOptions {
  /** A registered materializer's name or a Materializer; default: chosen by the value's type. */
  materializer?: MaterializerChoice;
  /** JSON object kept with the version (at most 64 KiB). */
  metadata?: Record<string, unknown>;
  /** Shown beside the artifact, after the materializer's own. */
  visualizations?: VisualizationInput[];
}

export function checkArtifactName(name: unknown): string {
  if (typeof name !== 'string' || !ARTIFACT_NAME.test(name) || name.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw invalidParameter(
      `Invalid artifact name '${String(name)}': use letters, digits, '_', '-', '.' and '/' (segments not empty, '.' or '..'; at most 200 characters)`,
    );
  }
  return name;
}

export const metadataSchema = z.record(z.string().min(1).max(250), z.unknown());

/** Checks user metadata: a JSON object, small, without the reserved keys. */
export function checkMetadata(metadata: unknown): Record<string, unknown> {
  if (metadata === undefined) return {};
  const parsed = metadataSchema.safeParse(metadata);
  if (!parsed.success || Array.isArray(metadata)) throw invalidParameter('metadata must be a JSON object with string keys');
  let text: string;
  try {
    text = JSON.stringify(parsed.data);
  } catch (e) {
    throw invalidParameter(`metadata is not JSON: ${(e as Error).message}`);
  }
  if (Buffer.byteLength(text) > MAX_METADATA_BYTES) throw invalidParameter(`metadata is larger than ${MAX_METADATA_BYTES} bytes as JSON`);
  const reserved = Object.keys(parsed.data).filter((k) => RESERVED_METADATA_KEYS.has(k));
  if (reserved.length) throw invalidParameter(`metadata keys ${reserved.map((k) => `'${k}'`).join(', ')} are reserved`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** `name:version` → its parts; anything else is a name or an id. */
export function parseArtifactRef(ref: string): { name: string; version?: number } {
  const m = /^(.+):(\d+)$/.exec(ref);
  return m ? { name: m[1], version: Number(m[2]) } : { name: ref };
}

/** What the upload endpoint (and a remote `saveArtifact`) sends before the files. */
export const uploadSpecSchema = z
  .object({
    name: z.string(),
    type: z.string().min(1).max(100),
    materializer: z.object({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/), version: z.string().min(1).max(50) }).strict(),
    metadata: metadataSchema.optional(),
    visualizations: visualizationListSchema.optional(),
    /** sha256 of the files as `hashDirectory` computes it: checked after the upload. */
    content_hash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    files: z.array(z.object({ path: z.string().min(1).max(4096), size: z.number().int().nonnegative() }).strict()).max(100_000),
  })
  .strict();
export type UploadSpec = z.infer<typeof uploadSpecSchema>;

/** One entry of `GET /api/v1/artifact-versions/{id}/visualizations`. */
export interface VisualizationEntry {
  index: number;
  kind: Visualization['kind'];
  title?: string;
  /** image: its type. */
  mime_type?: string;
  /** table and markdown come inline; images and HTML through `content`. */
  columns?: string[];
  rows?: unknown[][];
  total_rows?: number;
  markdown?: string;
  /** HTML is shown only in a sandboxed frame. */
  sandbox?: boolean;
  /** Relative to the API root: `artifact-versions/{id}/visualizations/{index}/content`. */
  content_path?: string;
}

export interface VisualizationContent {
  contentType: string;
  fileName: string;
  body: Buffer | Readable;
  size: number;
  /** HTML and SVG: served with `Content-Security-Policy: sandbox` and as an attachment. */
  active: boolean;
}

export interface PruneOptions {
  /** The latest N runs of each pipeline (and N versions of each saved artifact) are kept; default 5. */
  keepLast?: number;
  /** Only versions created more than this many ms ago are deleted. */
  olderThanMs?: number;
  /** Decide and report, change nothing. */
  dryRun?: boolean;
  now?: number;
}

export interface PruneEntry {
  id: string;
  name: string;
  version: number;
  content_hash: string;
  size: number;
  created: number;
  /** Why it is kept, or why it may go. */
  reasons: string[];
}

export interface PruneResult {
  dry_run: boolean;
  keep_last: number;
  deleted: PruneEntry[];
  kept: PruneEntry[];
  /** Content hashes whose stored files were (or would be) removed: no remaining version has them. */
  removed_blobs: string[];
  freed_bytes: number;
}

const shortHash = (h: string) => h.slice(0, 12);
const CHUNK = 500;
function chunks<T>(xs: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}

/**
 * Artifact versions outside the orchestrator: saving a value as a new version of a name, resolving and
 * loading by name/version/id, the visualizations of a version, and pruning. Used by the embedded SDK and
 * by the server's endpoints (which the remote SDK calls).
 */
export class ArtifactAdmin {
  readonly cas: ContentAddressedStore;

  constructor(
    readonly store: Store,
    readonly repository: ArtifactRepository,
    readonly registry: MaterializerRegistry = new MaterializerRegistry(),
  ) {
    this.cas = new ContentAddressedStore(repository);
  }

  private get db() {
    return this.store.db;
  }

  async getVersion(id: string): Promise<ArtifactVersionView> {
    const row = await this.db.selectFrom('artifact_versions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(`Artifact version '${id}' does not exist`);
    return versionView(row);
  }

  /** Materializes `value`, stores it content-addressed (once per content) and records the next version of `name`. */
  async save(name: string, value: unknown, options: SaveArtifactOptions = {}): Promise<ArtifactVersionView> {
    checkArtifactName(name);
    const metadata = checkMetadata(options.metadata);
    const userViz = normalizeVisualizations(options.visualizations);
    const dir = await mkdtemp(join(tmpdir(), 'flywheel-save-'));
    try {
      const m = await materializeToDirectory(value, dir, {
        registry: this.registry,
        ...(options.materializer !== undefined ? { materializer: options.materializer } : {}),
      });
      return await this.storeDirectory(name, dir, { ...m, metadata, visualizations: [...m.visualizations, ...userViz] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Records a directory that already holds an artifact's files (an upload): stored content-addressed,
   * checked against `expectedHash` when given (DATA_LOSS if the upload was damaged).
   */
  async storeDirectory(
    name: string,
    dir: string,
    what: { type: string; materializer: { name: string; version: string }; metadata: Record<string, unknown>; visualizations: Visualization[]; expectedHash?: string },
  ): Promise<ArtifactVersionView> {
    checkArtifactName(name);
    const stored = await this.cas.put(dir);
    if (what.expectedHash && what.expectedHash !== stored.hash) {
      throw new FlywheelError('DATA_LOSS', `The uploaded files hash to ${stored.hash}, not to the announced ${what.expectedHash}`);
    }
    const manifest = await this.cas.manifest(stored.hash);
    const paths = new Set(manifest?.files.map((f) => f.path));
    for (const v of what.visualizations) {
      if ((v.kind === 'image' || v.kind === 'html') && v.path !== undefined && !paths.has(v.path)) {
        throw invalidParameter(`A ${v.kind} visualization names '${v.path}', which is not a file of the artifact`);
      }
    }
    const row = await insertArtifactVersion(this.store, {
      name,
      record: { hash: stored.hash, size: stored.size, uri: stored.uri, type: what.type, materializer: what.materializer, visualizations: what.visualizations },
      producerStepRunId: null,
      metadata: what.metadata,
      created: Date.now(),
    });
    return this.getVersion(row.id);
  }

  /**
   * The version a reference names: `version` of `ref` when given; else `name:version`; else an artifact
   * version id; else the latest version of the name `ref`.
   */
  async resolve(ref: string, version?: number | string): Promise<ArtifactVersionView> {
    if (typeof ref !== 'string' || ref === '') throw invalidParameter('An artifact name or artifact version id is required');
    let name = ref;
    let v: number | undefined;
    if (version !== undefined && version !== null && version !== '') {
      v = Number(version);
      if (!Number.isSafeInteger(v) || v < 1) throw invalidParameter(`Invalid artifact version '${String(version)}': a positive integer`);
    } else {
      const parsed = parseArtifactRef(ref);
      name = parsed.name;
      v = parsed.version;
      if (v === undefined) {
        const byId = await this.db.selectFrom('artifact_versions').selectAll().where('id', '=', ref).executeTakeFirst();
        if (byId) return versionView(byId);
      }
    }
    let q = this.db.selectFrom('artifact_versions').selectAll().where('name', '=', name);
    q = v === undefined ? q.orderBy('version', 'desc').limit(1) : q.where('version', '=', v);
    const row = await q.executeTakeFirst();
    if (row) return versionView(row);
    const any = await this.db.selectFrom('artifact_versions').select('version').where('name', '=', name).limit(1).executeTakeFirst();
    if (any && v !== undefined) throw notFound(`Artifact '${name}' has no version ${v}`);
    throw notFound(`No artifact named '${name}'${version === undefined && parseArtifactRef(ref).version === undefined ? ' and no artifact version with that id' : ''}`);
  }

  /**
   * The value of a version, loaded with the materializer that saved it (downloaded and checked against its
   * content hash). File, directory and model values point into `destDir` (default: a new temp directory the
   * caller then owns).
   */
  async load<T = unknown>(ref: string, version?: number | string, options: { destDir?: string } = {}): Promise<T> {
    const v = await this.resolve(ref, version);
    const dir = options.destDir ?? (await mkdtemp(join(tmpdir(), 'flywheel-artifact-')));
    let keep = false;
    try {
      await this.cas.get(v.content_hash, dir);
      const loaded = await loadFromDirectory<T>(materializerOf(v), dir, this.registry);
      keep = loaded.keepsFiles;
      return loaded.value;
    } finally {
      if (options.destDir === undefined && !keep) await rm(dir, { recursive: true, force: true });
    }
  }

  /** The files of a version (its manifest). */
  async files(id: string): Promise<{ content_hash: string; size: number; files: { path: string; size: number }[] }> {
    const v = await this.getVersion(id);
    const manifest = await this.cas.manifest(v.content_hash);
    if (!manifest) throw notFound(`The files of artifact version '${v.id}' are not stored`);
    return { content_hash: v.content_hash, size: manifest.size, files: manifest.files };
  }

  async visualizations(id: string): Promise<VisualizationEntry[]> {
    const v = await this.getVersion(id);
    return visualizationsOf(v).map((viz, index) => {
      const base = { index, kind: viz.kind, ...(viz.title !== undefined ? { title: viz.title } : {}) };
      const content_path = `artifact-versions/${v.id}/visualizations/${index}/content`;
      switch (viz.kind) {
        case 'table':
          return { ...base, columns: viz.columns, rows: viz.rows, total_rows: viz.totalRows };
        case 'markdown':
          return { ...base, markdown: viz.markdown, content_path };
        case 'image':
          return { ...base, mime_type: viz.mimeType, content_path };
        case 'html':
          return { ...base, sandbox: true, content_path };
      }
    });
  }

  /** The bytes of one visualization: an image, HTML, markdown or a table as JSON. */
  async visualizationContent(id: string, index: number): Promise<VisualizationContent> {
    const v = await this.getVersion(id);
    const viz = visualizationsOf(v)[index];
    if (!Number.isInteger(index) || !viz) throw notFound(`Artifact version '${id}' has no visualization ${index}`);
    const fromFile = async (path: string, contentType: string, active: boolean): Promise<VisualizationContent> => {
      const manifest = await this.cas.manifest(v.content_hash);
      const file = manifest?.files.find((f) => f.path === path);
      if (!file) throw notFound(`The file '${path}' of artifact version '${id}' is not stored`);
      const { stream, size } = await this.repository.read(`${v.uri}/${file.path}`);
      return { contentType, fileName: path.slice(path.lastIndexOf('/') + 1), body: stream, size, active };
    };
    const inline = (text: string | Buffer, contentType: string, fileName: string, active: boolean): VisualizationContent => {
      const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
      return { contentType, fileName, body, size: body.length, active };
    };
    switch (viz.kind) {
      case 'image': {
        const svg = viz.mimeType === 'image/svg+xml';
        if (viz.path !== undefined) return fromFile(viz.path, viz.mimeType, svg);
        const ext = viz.mimeType.split('/')[1].replace('+xml', '');
        return inline(Buffer.from(viz.data ?? '', 'base64'), viz.mimeType, `visualization-${index}.${ext}`, svg);
      }
      case 'html':
        if (viz.path !== undefined) return fromFile(viz.path, 'text/html; charset=utf-8', true);
        return inline(viz.html ?? '', 'text/html; charset=utf-8', `visualization-${index}.html`, true);
      case 'markdown':
        return inline(viz.markdown, 'text/markdown; charset=utf-8', `visualization-${index}.md`, false);
      case 'table':
        return inline(JSON.stringify({ columns: viz.columns, rows: viz.rows, totalRows: viz.totalRows }), 'application/json', `visualization-${index}.json`, false);
    }
  }

  /**
   * Deletes artifact versions nothing needs, with their stored files when no remaining version shares them.
   * Kept: versions a registered model version uses (its source or storage location inside the version's
   * stored directory; its run a step's tracking run: what that step produced, consumed or reused; its run a
   * pipeline run's tracking run: that run) and everything upstream of those (lineage); versions produced,
   * consumed or reused (cache hits) by a kept pipeline run — the latest `keepLast` runs of each pipeline,
   * every run still RUNNING, and runs marked kept (tag `flywheel.keep` = `true` on the run's tracking run,
   * see `Flywheel.keepPipelineRun`); the latest `keepLast` versions of each artifact saved outside
   * pipelines; versions newer than `olderThanMs`. A later cache lookup finds a pruned output no longer
   * recorded, and the step runs again.
   */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    const keepLast = options.keepLast ?? DEFAULT_KEEP_LAST;
    if (!Number.isSafeInteger(keepLast) || keepLast < 0) throw invalidParameter(`keep_last must be a non-negative integer, got ${keepLast}`);
    if (options.olderThanMs !== undefined && !(Number.isFinite(options.olderThanMs) && options.olderThanMs >= 0)) {
      throw invalidParameter('older_than must be a non-negative duration');
    }
    const now = options.now ?? Date.now();
    const db = this.db;
    const versions = await db.selectFrom('artifact_versions').selectAll().orderBy('name').orderBy('version').execute();
    const reasons = new Map<string, string[]>(versions.map((v) => [v.id, []]));
    const keep = (id: string, why: string) => {
      const r = reasons.get(id);
      if (r && !r.includes(why)) r.push(why);
    };

    // Kept pipeline runs: the latest N of each pipeline, and any still running.
    const runs = await db
      .selectFrom('pipeline_runs')
      .select(['id', 'pipeline_id', 'pipeline_name', 'status', 'start_time'])
      .orderBy('pipeline_id')
      .orderBy('start_time', 'desc')
      .orderBy('id', 'desc')
      .execute();
    const keptRuns = new Map<string, string>();
    const seen = new Map<string, number>();
    for (const r of runs) {
      const n = (seen.get(r.pipeline_id) ?? 0) + 1;
      seen.set(r.pipeline_id, n);
      if (n <= keepLast) keptRuns.set(r.id, `used by run ${r.id} of pipeline '${r.pipeline_name}' (one of its latest ${keepLast})`);
      else if (r.status === 'RUNNING') keptRuns.set(r.id, `used by run ${r.id} of pipeline '${r.pipeline_name}', still running`);
    }
    const models = await db.selectFrom('model_versions').select(['name', 'version', 'source', 'storage_location', 'run_id']).execute();
    const byRun = new Map<string, string[]>();
    for (const mv of models) if (mv.run_id) byRun.set(mv.run_id, [...(byRun.get(mv.run_id) ?? []), `'${mv.name}' version ${mv.version}`]);
    const trackingIds = new Map<string, { id: string; pipeline_name: string }>();
    if (runs.some((r) => !keptRuns.has(r.id))) {
      const rows = await db.selectFrom('pipeline_runs').select(['id', 'pipeline_name', 'tracking_run_id']).where('tracking_run_id', 'is not', null).execute();
      for (const r of rows) if (!keptRuns.has(r.id)) trackingIds.set(r.tracking_run_id!, r);
    }
    // A model registered with a pipeline run's own tracking run as its run keeps that whole run.
    for (const [trackingRunId, r] of trackingIds) {
      const regs = byRun.get(trackingRunId);
      if (regs) keptRuns.set(r.id, `used by run ${r.id} of pipeline '${r.pipeline_name}', whose run registered model ${regs.join(', ')}`);
    }
    for (const ids of chunks([...trackingIds.keys()])) {
      const tags = await db.selectFrom('tags').select('run_uuid').where('key', '=', TAG_KEEP).where('value', '=', 'true').where('run_uuid', 'in', ids).execute();
      for (const t of tags) {
        const r = trackingIds.get(t.run_uuid)!;
        keptRuns.set(r.id, `used by run ${r.id} of pipeline '${r.pipeline_name}', marked kept (${TAG_KEEP})`);
      }
    }
    const stepOfRun = new Map<string, string>();
    for (const ids of chunks([...keptRuns.keys()])) {
      const steps = await db.selectFrom('step_runs').select(['id', 'pipeline_run_id', 'outputs']).where('pipeline_run_id', 'in', ids).execute();
      for (const s of steps) {
        stepOfRun.set(s.id, s.pipeline_run_id);
        const outputs = s.outputs ? (JSON.parse(s.outputs) as Record<string, { artifactVersionId?: unknown }>) : {};
        for (const o of Object.values(outputs)) {
          if (o && typeof o.artifactVersionId === 'string') keep(o.artifactVersionId, keptRuns.get(s.pipeline_run_id)!);
        }
      }
    }
    for (const v of versions) {
      const run = v.producer_step_run_id ? stepOfRun.get(v.producer_step_run_id) : undefined;
      if (run) keep(v.id, keptRuns.get(run)!);
    }
    for (const ids of chunks([...stepOfRun.keys()])) {
      const consumed = await db.selectFrom('artifact_consumers').selectAll().where('step_run_id', 'in', ids).execute();
      for (const c of consumed) keep(c.artifact_version_id, keptRuns.get(stepOfRun.get(c.step_run_id)!)!);
    }

    // Registered model versions: by location (a source or storage location inside a version's stored files),
    // and by run (a version registered with a step's tracking run as its run: the versions that step produced,
    // consumed or reused — the model a register step took, the outputs of a training step).
    const modelKept = new Set<string>();
    const keepModel = (id: string, why: string) => {
      keep(id, why);
      modelKept.add(id);
    };
    if (models.length) {
      for (const v of versions) {
        for (const mv of models) {
          if (pointsInto(mv.source, v) || pointsInto(mv.storage_location, v)) {
            keepModel(v.id, `used by registered model '${mv.name}' version ${mv.version} (its source is this artifact's content)`);
          }
        }
      }
      const modelSteps = new Map<string, string>();
      for (const ids of chunks([...byRun.keys()])) {
        const steps = await db.selectFrom('step_runs').select(['id', 'step_name', 'tracking_run_id', 'outputs']).where('tracking_run_id', 'in', ids).execute();
        for (const st of steps) {
          const why = `used by registered model ${byRun.get(st.tracking_run_id!)!.join(', ')} (registered from the run ${st.tracking_run_id} of step '${st.step_name}')`;
          modelSteps.set(st.id, why);
          const outputs = st.outputs ? (JSON.parse(st.outputs) as Record<string, { artifactVersionId?: unknown }>) : {};
          for (const o of Object.values(outputs)) if (o && typeof o.artifactVersionId === 'string') keepModel(o.artifactVersionId, why);
        }
      }
      for (const v of versions) {
        const why = v.producer_step_run_id ? modelSteps.get(v.producer_step_run_id) : undefined;
        if (why) keepModel(v.id, why);
      }
      for (const ids of chunks([...modelSteps.keys()])) {
        const consumed = await db.selectFrom('artifact_consumers').selectAll().where('step_run_id', 'in', ids).execute();
        for (const c of consumed) keepModel(c.artifact_version_id, modelSteps.get(c.step_run_id)!);
      }
    }

    // The lineage of what registered models use stays queryable: everything upstream of it is kept too.
    const byId = new Map(versions.map((v) => [v.id, v]));
    const seenUp = new Set(modelKept);
    let frontier = [...modelKept];
    for (let depth = 0; depth < 50 && frontier.length; depth++) {
      const producers = new Map<string, string[]>();
      for (const id of frontier) {
        const p = byId.get(id)?.producer_step_run_id;
        if (p) producers.set(p, [...(producers.get(p) ?? []), id]);
      }
      const next: string[] = [];
      for (const ids of chunks([...producers.keys()])) {
        const consumed = await db.selectFrom('artifact_consumers').selectAll().where('step_run_id', 'in', ids).execute();
        for (const c of consumed) {
          if (seenUp.has(c.artifact_version_id)) continue;
          seenUp.add(c.artifact_version_id);
          const down = byId.get(producers.get(c.step_run_id)![0]);
          keep(c.artifact_version_id, `upstream of ${down ? `${down.name}:${down.version}` : 'an artifact'}, which a registered model uses (lineage)`);
          next.push(c.artifact_version_id);
        }
      }
      frontier = next;
    }

    // Saved outside pipelines: the latest N versions of each name.
    const standalone = new Map<string, ArtifactVersionTable[]>();
    for (const v of versions) if (!v.producer_step_run_id) standalone.set(v.name, [...(standalone.get(v.name) ?? []), v]);
    for (const list of standalone.values()) {
      list.sort((a, b) => Number(b.version) - Number(a.version));
      list.slice(0, keepLast).forEach((v) => keep(v.id, `one of the latest ${keepLast} versions of '${v.name}'`));
    }
    if (options.olderThanMs !== undefined) {
      for (const v of versions) if (now - Number(v.created) < options.olderThanMs) keep(v.id, `newer than ${formatDuration(options.olderThanMs)}`);
    }

    const entry = (v: ArtifactVersionTable, why: string[]): PruneEntry => ({
      id: v.id,
      name: v.name,
      version: Number(v.version),
      content_hash: v.content_hash,
      size: Number(v.size),
      created: Number(v.created),
      reasons: why,
    });
    const kept: PruneEntry[] = [];
    const deleted: PruneEntry[] = [];
    for (const v of versions) {
      const why = reasons.get(v.id)!;
      if (why.length) kept.push(entry(v, why));
      else deleted.push(entry(v, [v.producer_step_run_id ? 'no kept run or registered model uses it' : `older than the latest ${keepLast} versions and no registered model uses it`]));
    }
    const keptHashes = new Set(kept.map((k) => k.content_hash));
    const removed_blobs = [...new Set(deleted.map((d) => d.content_hash))].filter((h) => !keptHashes.has(h));
    const sizeOf = new Map(deleted.map((d) => [d.content_hash, d.size]));
    const freed_bytes = removed_blobs.reduce((n, h) => n + (sizeOf.get(h) ?? 0), 0);
    const result: PruneResult = { dry_run: options.dryRun === true, keep_last: keepLast, deleted, kept, removed_blobs, freed_bytes };
    if (options.dryRun || !deleted.length) return result;

    await db.transaction().execute(async (trx) => {
      for (const ids of chunks(deleted.map((d) => d.id))) {
        await trx.deleteFrom('artifact_consumers').where('artifact_version_id', 'in', ids).execute();
        await trx.deleteFrom('artifact_versions').where('id', 'in', ids).execute();
      }
    });
    // Files go after the records, and only when no version (including one recorded meanwhile) has the hash.
    const removed: string[] = [];
    for (const hash of removed_blobs) {
      const still = await db.selectFrom('artifact_versions').select('id').where('content_hash', '=', hash).limit(1).executeTakeFirst();
      if (still) continue;
      await this.cas.remove(hash);
      removed.push(hash);
    }
    return { ...result, removed_blobs: removed, freed_bytes: removed.reduce((n, h) => n + (sizeOf.get(h) ?? 0), 0) };
  }
}

/** Does a model version's source/storage location lie inside the artifact's stored directory? */
function pointsInto(location: string | null, v: ArtifactVersionTable): boolean {
  if (!location) return false;
  const clean = location.replace(/\\/g, '/');
  const at = clean.indexOf(v.uri);
  if (at < 0) return clean.includes(v.content_hash);
  const after = clean.charAt(at + v.uri.length);
  return after === '' || after === '/';
}

function materializerOf(v: ArtifactVersionView): { name: string; version: string } {
  const at = v.materializer.lastIndexOf('@');
  return at < 0 ? { name: v.materializer, version: '1' } : { name: v.materializer.slice(0, at), version: v.materializer.slice(at + 1) };
}

export { materializerOf };

function visualizationsOf(v: ArtifactVersionView): Visualization[] {
  const list = (v.metadata as { visualizations?: unknown } | null)?.visualizations;
  return Array.isArray(list) ? (list as Visualization[]) : [];
}

/** `30d`, `12h`, `45m`, `10s`, `500ms`, `2w` (or a sum: `1d12h`) → milliseconds. */
export function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  const t = text.trim();
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * units[m[2]];
    matched = re.lastIndex;
  }
  if (!t || matched !== t.length) throw invalidParameter(`Invalid duration '${text}': use e.g. 30d, 12h, 45m, 1d12h`);
  return total;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export { shortHash as shortContentHash };

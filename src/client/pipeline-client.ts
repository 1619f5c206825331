import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactRepository } from '../artifacts/types.js';
import { FlywheelError } from '../core/errors.js';
import {
  ArtifactAdmin,
  checkArtifactName,
  checkMetadata,
  materializerOf,
  type PruneOptions,
  type PruneResult,
  type SaveArtifactOptions,
  type VisualizationEntry,
} from '../pipelines/artifact-admin.js';
import { ContentAddressedStore, hashDirectory, type StoredFile } from '../pipelines/materializers/content-store.js';
import { loadFromDirectory, materializeToDirectory } from '../pipelines/materializers/output.js';
import { MaterializerRegistry } from '../pipelines/materializers/registry.js';
import { normalizeVisualizations } from '../pipelines/materializers/visualizations.js';
import { encodeUpload, UPLOAD_CONTENT_TYPE } from '../pipelines/materializers/upload-stream.js';
import {
  PipelineQueries,
  type ArtifactVersionDetail,
  type ArtifactVersionView,
  type PipelineRunView,
  type StepRunView,
} from '../pipelines/pipeline-queries.js';
import type { Store } from '../store/database.js';
import type { HttpTransport } from './http-transport.js';

export type PipelineRunDetail = PipelineRunView & { step_runs: StepRunView[] };
export type ArtifactSummary = { name: string; latest_version: ArtifactVersionView; version_count: number };

export interface LoadArtifactOptions {
  /**
   * Where the files go. Default: a new temp directory, removed after loading unless the value refers to its
   * files (file, directory, model), which the caller then owns.
   */
  destDir?: string;
}

export interface DownloadedArtifact {
  artifact_version: ArtifactVersionView;
  /** The directory the files were written to. */
  dir: string;
  files: StoredFile[];
}

/**
 * Pipelines and artifact versions from the SDK: the same calls on a store opened in this process (through
 * `ArtifactAdmin` and `PipelineQueries`) and on a server (`/api/v1`).
 */
export interface PipelineClient {
  saveArtifact(name: string, value: unknown, options?: SaveArtifactOptions): Promise<ArtifactVersionView>;
  loadArtifact<T = unknown>(nameOrId: string, version?: number | string, options?: LoadArtifactOptions): Promise<T>;
  /** The version with its producer and consumers. */
  getArtifactVersion(nameOrId: string, version?: number | string): Promise<ArtifactVersionDetail>;
  listArtifacts(options?: { prefix?: string }): Promise<ArtifactSummary[]>;
  listArtifactVersions(name: string): Promise<ArtifactVersionView[]>;
  visualizations(artifactVersionId: string): Promise<VisualizationEntry[]>;
  downloadArtifact(nameOrId: string, version: number | string | undefined, destDir: string): Promise<DownloadedArtifact>;
  pruneArtifacts(options?: PruneOptions): Promise<PruneResult>;
  getPipelineRun(id: string): Promise<PipelineRunDetail>;
}

const PAGE = 1000;

async function allPages<T>(fetch: (offset: number, limit: number) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ; offset += PAGE) {
    const rows = await fetch(offset, PAGE);
    out.push(...rows);
    if (rows.length < PAGE) return out;
  }
}

/** On a store opened in this process; artifact files in `repository` (the artifacts root, as the server's). */
export class EmbeddedPipelineClient implements PipelineClient {
  readonly admin: ArtifactAdmin;
  readonly queries: PipelineQueries;

  constructor(store: Store, repository: ArtifactRepository, registry: MaterializerRegistry) {
    this.admin = new ArtifactAdmin(store, repository, registry);
    this.queries = new PipelineQueries(store);
  }

  saveArtifact(name: string, value: unknown, options: SaveArtifactOptions = {}) {
    return this.admin.save(name, value, options);
  }
  loadArtifact<T>(nameOrId: string, version?: number | string, options: LoadArtifactOptions = {}) {
    return this.admin.load<T>(nameOrId, version, options);
  }
  async getArtifactVersion(nameOrId: string, version?: number | string) {
    return this.queries.getArtifactVersion((await this.admin.resolve(nameOrId, version)).id);
  }
  listArtifacts(options: { prefix?: string } = {}) {
    return allPages((offset, limit) => this.queries.listArtifacts({ offset, limit }, options.prefix));
  }
  listArtifactVersions(name: string) {
    return allPages((offset, limit) => this.queries.listArtifactVersions(name, { offset, limit }));
  }
  visualizations(id: string) {
    return this.admin.visualizations(id);
  }
  async downloadArtifact(nameOrId: string, version: number | string | undefined, destDir: string): Promise<DownloadedArtifact> {
    const v = await this.admin.resolve(nameOrId, version);
    const dir = resolve(destDir);
    const manifest = await new ContentAddressedStore(this.admin.repository).get(v.content_hash, dir);
    return { artifact_version: v, dir, files: manifest.files };
  }
  pruneArtifacts(options: PruneOptions = {}) {
    return this.admin.prune(options);
  }
  getPipelineRun(id: string) {
    return this.queries.getPipelineRun(id);
  }
}

/**
 * On a server. Values are materialized here (so custom materializers need not exist on the server), then
 * their files are uploaded in one streamed request (`upload-stream.ts`): JSON, strings and bytes as one
 * file, Arrow tables as Parquet, files, directories and models file by file. Loading downloads the files,
 * checks them against the content hash and loads them here with the materializer that saved them.
 */
export class RemotePipelineClient implements PipelineClient {
  /**
   * `transport` for the JSON calls; `content` (default: the same) for uploads and downloads, which may
   * take long (its per-attempt timeout covers the whole body).
   */
  constructor(
    private readonly transport: HttpTransport,
    private readonly registry: MaterializerRegistry,
    private readonly content: HttpTransport = transport,
  ) {}

  private get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    return this.transport.json<T>('GET', path, { query, idempotent: true });
  }

  private async resolveVersion(nameOrId: string, version?: number | string): Promise<ArtifactVersionView> {
    const query = { ref: nameOrId, ...(version !== undefined ? { version: String(version) } : {}) };
    return (await this.get<{ artifact_version: ArtifactVersionView }>('/api/v1/artifact-versions/resolve', query)).artifact_version;
  }

  async saveArtifact(name: string, value: unknown, options: SaveArtifactOptions = {}): Promise<ArtifactVersionView> {
    // Checked here too, so a bad call fails before anything is materialized or sent.
    checkArtifactName(name);
    const metadata = checkMetadata(options.metadata);
    const userViz = normalizeVisualizations(options.visualizations);
    const dir = await mkdtemp(join(tmpdir(), 'flywheel-upload-'));
    try {
      const m = await materializeToDirectory(value, dir, {
        registry: this.registry,
        ...(options.materializer !== undefined ? { materializer: options.materializer } : {}),
      });
      const { hash, files } = await hashDirectory(dir);
      const spec = {
        name,
        type: m.type,
        materializer: m.materializer,
        metadata,
        visualizations: [...m.visualizations, ...userViz],
        content_hash: hash,
        files,
      };
      const res = await this.content.json<{ artifact_version: ArtifactVersionView }>('POST', '/api/v1/artifact-versions', {
        body: () => Readable.from(encodeUpload(spec, dir)),
        contentType: UPLOAD_CONTENT_TYPE,
        // A repeated upload would record a second version.
        idempotent: false,
      });
      return res.artifact_version;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Downloads every file of `v` into `dir` and checks the content hash (DATA_LOSS if it differs). */
  private async fetchFiles(v: ArtifactVersionView, dir: string): Promise<StoredFile[]> {
    const { files } = await this.get<{ files: StoredFile[] }>(`/api/v1/artifact-versions/${encodeURIComponent(v.id)}/files`);
    await mkdir(dir, { recursive: true });
    for (const f of files) {
      const target = join(dir, ...f.path.split('/'));
      if (!target.startsWith(resolve(dir))) throw new FlywheelError('DATA_LOSS', `Artifact version ${v.id} lists an invalid path '${f.path}'`);
      await mkdir(dirname(target), { recursive: true });
      const res = await this.content.request('GET', `/api/v1/artifact-versions/${encodeURIComponent(v.id)}/download`, {
        query: { path: f.path },
        idempotent: true,
      });
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(target));
    }
    const got = await hashDirectory(dir);
    if (got.hash !== v.content_hash) {
      throw new FlywheelError('DATA_LOSS', `Artifact version ${v.id} (${v.name} v${v.version}) arrived damaged: its files hash to ${got.hash}, not ${v.content_hash}`);
    }
    return files;
  }

  async loadArtifact<T>(nameOrId: string, version?: number | string, options: LoadArtifactOptions = {}): Promise<T> {
    const v = await this.resolveVersion(nameOrId, version);
    const dir = options.destDir ? resolve(options.destDir) : await mkdtemp(join(tmpdir(), 'flywheel-artifact-'));
    let keep = false;
    try {
      await this.fetchFiles(v, dir);
      const loaded = await loadFromDirectory<T>(materializerOf(v), dir, this.registry);
      keep = loaded.keepsFiles;
      return loaded.value;
    } finally {
      if (!options.destDir && !keep) await rm(dir, { recursive: true, force: true });
    }
  }

  async getArtifactVersion(nameOrId: string, version?: number | string): Promise<ArtifactVersionDetail> {
    const v = await this.resolveVersion(nameOrId, version);
    return (await this.get<{ artifact_version: ArtifactVersionDetail }>(`/api/v1/artifact-versions/${encodeURIComponent(v.id)}`)).artifact_version;
  }

  async listArtifacts(options: { prefix?: string } = {}): Promise<ArtifactSummary[]> {
    return this.paged<ArtifactSummary>('/api/v1/artifacts', 'artifacts', { prefix: options.prefix });
  }

  async listArtifactVersions(name: string): Promise<ArtifactVersionView[]> {
    return this.paged<ArtifactVersionView>('/api/v1/artifact-versions', 'artifact_versions', { name });
  }

  private async paged<T>(path: string, key: string, query: Record<string, string | undefined>): Promise<T[]> {
    const out: T[] = [];
    let token: string | undefined;
    do {
      const page = await this.get<Record<string, unknown>>(path, { ...query, max_results: PAGE, page_token: token });
      out.push(...((page[key] as T[] | undefined) ?? []));
      token = page.next_page_token as string | undefined;
    } while (token);
    return out;
  }

  async visualizations(id: string): Promise<VisualizationEntry[]> {
    return (await this.get<{ visualizations: VisualizationEntry[] }>(`/api/v1/artifact-versions/${encodeURIComponent(id)}/visualizations`)).visualizations;
  }

  async downloadArtifact(nameOrId: string, version: number | string | undefined, destDir: string): Promise<DownloadedArtifact> {
    const v = await this.resolveVersion(nameOrId, version);
    const dir = resolve(destDir);
    const files = await this.fetchFiles(v, dir);
    return { artifact_version: v, dir, files };
  }

  async pruneArtifacts(options: PruneOptions = {}): Promise<PruneResult> {
    if (options.now !== undefined) throw new FlywheelError('INVALID_PARAMETER_VALUE', 'A server prunes as of its own clock');
    return this.transport.json<PruneResult>('POST', '/api/v1/artifact-versions/prune', {
      json: {
        ...(options.keepLast !== undefined ? { keep_last: options.keepLast } : {}),
        ...(options.olderThanMs !== undefined ? { older_than: `${options.olderThanMs}ms` } : {}),
        dry_run: options.dryRun === true,
      },
      idempotent: options.dryRun === true,
    });
  }

  async getPipelineRun(id: string): Promise<PipelineRunDetail> {
    return (await this.get<{ pipeline_run: PipelineRunDetail }>(`/api/v1/pipeline-runs/${encodeURIComponent(id)}`)).pipeline_run;
  }
}

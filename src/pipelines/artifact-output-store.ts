import type { ArtifactRepository } from '../artifacts/types.js';
import { FlywheelError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import { sql, type Transaction } from 'kysely';
import type { Store } from '../store/database.js';
import type { Database } from '../store/schema.js';
import { shortHash } from './cache/canonical.js';
import { ContentAddressedStore } from './materializers/content-store.js';
import { loadOutput, saveOutput, type OutputRecord } from './materializers/output.js';
import { takeOutputOptions } from './materializers/output-options.js';
import { normalizeVisualizations } from './materializers/visualizations.js';
import { MaterializerRegistry } from './materializers/registry.js';
import { SmallValueCache } from './materializers/small-value-cache.js';
import type { CachingOutputStore, OutputRef, StoredOutput } from './output-store.js';

/** What `ArtifactOutputStore.save` returns (recorded in `step_runs.outputs`). */
export interface ArtifactStoredOutput extends StoredOutput {
  artifactVersionId: string;
  /** `<pipeline>/<step>/<output>`. */
  name: string;
  version: number;
  contentHash: string;
  type: string;
  materializer: { name: string; version: string };
  size: number;
  uri: string;
}

export interface ArtifactOutputStoreOptions {
  /** Where `artifact_versions` rows go (the same store the recorder writes step runs to). */
  store: Store;
  /** Where the materialized files go, content-addressed under `cas/`. */
  repository: ArtifactRepository;
  /** Default: the built-in materializers. */
  registry?: MaterializerRegistry;
  now?: () => number;
  /**
   * Sync each `artifact_versions` row to disk by its own commit. Default false: `save` is called by the
   * orchestrator inside a step, whose end commit (synced, and recording the outputs that refer to the row)
   * follows before the step is reported done and covers it, the log being sequential (the recorder's step
   * start commit relies on the same). The content itself is always fsynced before the row is written.
   */
  syncVersionRows?: boolean;
}

/**
 * Every step output becomes an artifact version: materialized (`saveOutput`), stored content-addressed in
 * the repository, and recorded in `artifact_versions` as `<pipeline>/<step>/<output>` with the next version
 * number for that name and the producing step run. Inputs are loaded back with `loadOutput`.
 */
export class ArtifactOutputStore implements CachingOutputStore {
  readonly registry: MaterializerRegistry;
  readonly cas: ContentAddressedStore;
  /** Small outputs just saved or loaded, so a consumer step's input load reads no file (see SmallValueCache). */
  readonly recentValues = new SmallValueCache();

  constructor(readonly options: ArtifactOutputStoreOptions) {
    this.registry = options.registry ?? new MaterializerRegistry();
    this.cas = new ContentAddressedStore(options.repository);
  }

  async save(ref: OutputRef, value: unknown): Promise<ArtifactStoredOutput> {
    const options = takeOutputOptions(ref.stepRunId, ref.output);
    const userVisualizations = normalizeVisualizations(options?.visualizations);
    let rec: OutputRecord;
    try {
      rec = await saveOutput(value, {
        repo: this.options.repository,
        registry: this.registry,
        cache: this.recentValues,
        ...(options?.materializer !== undefined ? { materializer: options.materializer } : {}),
      });
    } catch (e) {
      if (options?.materializer === undefined || !(e instanceof FlywheelError)) throw e;
      const chosen = typeof options.materializer === 'string' ? options.materializer : options.materializer.name;
      throw new FlywheelError(e.code, `output '${ref.output}' of step '${ref.step}' (materializer '${chosen}' chosen by the step): ${e.message}`, { cause: e });
    }
    const row = await insertArtifactVersion(this.options.store, {
      name: `${ref.pipeline ?? 'pipeline'}/${ref.step}/${ref.output}`,
      record: { ...rec, visualizations: [...rec.visualizations, ...userVisualizations] },
      producerStepRunId: ref.stepRunId,
      metadata: { pipelineRunId: ref.pipelineRunId, step: ref.step, output: ref.output },
      created: this.options.now ? this.options.now() : Date.now(),
      synced: this.options.syncVersionRows === true,
    });
    return {
      artifactVersionId: row.id,
      name: row.name,
      version: row.version,
      contentHash: rec.hash,
      type: rec.type,
      materializer: rec.materializer,
      size: rec.size,
      uri: rec.uri,
    };
  }

  async load(_ref: OutputRef, stored: StoredOutput): Promise<unknown> {
    const s = stored as Partial<ArtifactStoredOutput>;
    if (typeof s.contentHash !== 'string' || !s.materializer) {
      throw new Error(`output '${_ref.output}' of step '${_ref.step}' was not stored as an artifact version`);
    }
    return loadOutput({ hash: s.contentHash, materializer: s.materializer }, this.options.repository, { registry: this.registry, cache: this.recentValues });
  }

  contentHash(stored: StoredOutput): string | undefined {
    const h = (stored as Partial<ArtifactStoredOutput>).contentHash;
    return typeof h === 'string' ? h : undefined;
  }

  materializerKey(stored: StoredOutput): string | undefined {
    const m = (stored as Partial<ArtifactStoredOutput>).materializer;
    if (!m) return undefined;
    const current = this.registry.find(m.name);
    return `${m.name}@${current ? current.version : 'unregistered'}`;
  }

  async check(stored: StoredOutput): Promise<string | null> {
    const s = stored as Partial<ArtifactStoredOutput>;
    const what = s.name ? `${s.name} v${s.version}` : 'output';
    if (typeof s.contentHash !== 'string') return `${what} has no content hash`;
    if (s.artifactVersionId) {
      const row = await this.options.store.db
        .selectFrom('artifact_versions')
        .select('id')
        .where('id', '=', s.artifactVersionId)
        .executeTakeFirst();
      if (!row) return `${what} (${shortHash(s.contentHash)}) is no longer recorded`;
    }
    if (!(await this.cas.verify(s.contentHash))) return `${what} (${shortHash(s.contentHash)}) is missing or corrupt in the repository`;
    return null;
  }
}

/** What `insertArtifactVersion` records. */
export interface NewArtifactVersion {
  name: string;
  record: Pick<OutputRecord, 'hash' | 'size' | 'type' | 'materializer' | 'uri' | 'visualizations'>;
  /** Null for an artifact saved outside a pipeline (`saveArtifact`). */
  producerStepRunId: string | null;
  /** Stored as the `metadata` JSON, with `visualizations` added. */
  metadata: Record<string, unknown>;
  created: number;
  /**
   * False: the commit is not synced to disk on its own (SQLite `synchronous = NORMAL` for it, PostgreSQL
   * `synchronous_commit = off`); for callers whose next synced commit follows before anyone is told. Default true.
   */
  synced?: boolean;
}

/**
 * Inserts an `artifact_versions` row with version = max + 1 for its name. A concurrent writer of the same
 * name makes the insert fail on the unique (name, version): it is retried with the next number.
 */
export async function insertArtifactVersion(store: Store, v: NewArtifactVersion): Promise<{ id: string; name: string; version: number }> {
  const id = newRunId();
  let lastError: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const version = await inTransaction(store, v.synced !== false, async (tx) => {
        const row = await tx
          .selectFrom('artifact_versions')
          .select((eb) => eb.fn.max('version').as('v'))
          .where('name', '=', v.name)
          .executeTakeFirst();
        const next = Number(row?.v ?? 0) + 1;
        await tx
          .insertInto('artifact_versions')
          .values({
            id,
            name: v.name,
            version: next,
            content_hash: v.record.hash,
            type: v.record.type,
            materializer: `${v.record.materializer.name}@${v.record.materializer.version}`,
            size: v.record.size,
            uri: v.record.uri,
            producer_step_run_id: v.producerStepRunId,
            metadata: JSON.stringify({ ...v.metadata, visualizations: v.record.visualizations }),
            created: v.created,
          })
          .execute();
        return next;
      });
      return { id, name: v.name, version };
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError;
}

type Tx = Transaction<Database>;

/** Runs `fn` in one transaction, its commit synced to disk or not (see `NewArtifactVersion.synced`). */
async function inTransaction<T>(store: Store, synced: boolean, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const db = store.db;
  if (synced) return db.transaction().execute(fn);
  if (store.dialect === 'postgres') {
    return db.transaction().execute(async (tx) => {
      await sql`SET LOCAL synchronous_commit = off`.execute(tx);
      return fn(tx);
    });
  }
  const sqlite = store.sqlite;
  if (!sqlite) return db.transaction().execute(fn);
  // Kysely holds the single connection for the callback, so the pragma applies to this commit only (and
  // the level read here is not another writer's temporary one).
  return db.connection().execute(async (conn) => {
    const level = Number(sqlite.pragma('synchronous', { simple: true }));
    if (level < 2) return conn.transaction().execute(fn);
    sqlite.pragma('synchronous = NORMAL');
    try {
      return await conn.transaction().execute(fn);
    } finally {
      sqlite.pragma(`synchronous = ${level}`);
    }
  });
}

/** Which output of which step run. */
export interface OutputRef {
  /** The pipeline's name (set by the orchestrator). */
  pipeline?: string;
  pipelineRunId: string;
  stepRunId: string;
  step: string;
  output: string;
}

/** What a save returns; recorded in `step_runs.outputs` and handed back to `load`. */
export interface StoredOutput {
  /** Set when the output became an artifact version (the consumer link is then recorded). */
  artifactVersionId?: string;
  uri?: string;
  [key: string]: unknown;
}

/**
 * The seam between the orchestrator and artifact storage: the orchestrator saves every output a step
 * returns and loads every input a step takes through it. The materializer layer implements it over
 * artifact versions; `InMemoryOutputStore` keeps values in memory for one process.
 */
export interface OutputStore {
  save(ref: OutputRef, value: unknown): Promise<StoredOutput>;
  load(ref: OutputRef, stored: StoredOutput): Promise<unknown>;
}

/**
 * An output store whose outputs outlive the run and are content-addressed: what step caching needs.
 * The orchestrator caches steps only with such a store (`ArtifactOutputStore`).
 */
export interface CachingOutputStore extends OutputStore {
  /** The content hash of a stored output (part of consuming steps' cache keys). */
  contentHash(stored: StoredOutput): string | undefined;
  /** `name@version` of the materializer that would load this output now (part of the cache key). */
  materializerKey(stored: StoredOutput): string | undefined;
  /** Null when the stored output still exists and is intact; else what is wrong with it. */
  check(stored: StoredOutput): Promise<string | null>;
}

export function isCachingOutputStore(s: OutputStore): s is CachingOutputStore {
  const c = s as Partial<CachingOutputStore>;
  return typeof c.contentHash === 'function' && typeof c.materializerKey === 'function' && typeof c.check === 'function';
}

export class InMemoryOutputStore implements OutputStore {
  readonly #values = new Map<string, unknown>();

  async save(ref: OutputRef, value: unknown): Promise<StoredOutput> {
    const uri = `memory:${ref.stepRunId}/${ref.output}`;
    this.#values.set(uri, value);
    return { uri };
  }

  async load(ref: OutputRef, stored: StoredOutput): Promise<unknown> {
    if (!stored.uri || !this.#values.has(stored.uri)) {
      throw new Error(`output '${ref.output}' of step '${ref.step}' is not in this in-memory output store`);
    }
    return this.#values.get(stored.uri);
  }
}

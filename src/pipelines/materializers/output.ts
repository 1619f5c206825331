import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlywheelError, type ErrorCode } from '../../core/errors.js';
import type { ArtifactRepository } from '../../artifacts/types.js';
import { ContentAddressedStore } from './content-store.js';
import { describeValue, MaterializerRegistry } from './registry.js';
import type { SmallValueCache } from './small-value-cache.js';
import type { Materializer, Visualization } from './types.js';

/** What is recorded about one stored step output; enough to load it again. */
export interface OutputRecord {
  hash: string;
  size: number;
  /** The artifact type (`json`, `table`, `model`, ...). */
  type: string;
  materializer: { name: string; version: string };
  /** Repository path of the stored directory (`cas/<hash[0:2]>/<hash>`). */
  uri: string;
  visualizations: Visualization[];
}

export interface SaveOutputOptions {
  repo: ArtifactRepository;
  /** A registered materializer's name, or a materializer to use directly; else chosen by `canHandle`. */
  materializer?: string | Materializer<any>;
  /** Defaults to a registry with only the built-ins. */
  registry?: MaterializerRegistry;
  /** Keeps the bytes of small values saved in memory, for a later `loadOutput` with the same cache. */
  cache?: SmallValueCache;
}

export interface LoadOutputOptions {
  registry?: MaterializerRegistry;
  /**
   * Where the files are downloaded. Defaults to a new temp directory, removed after loading unless the
   * materializer's value refers to its files (`keepsFiles`: file, directory, model), which the caller then owns.
   * Values of materializers with `inMemory` are loaded without any directory unless `destDir` is given.
   */
  destDir?: string;
  /** Small values' bytes already read or written and checked against their hash (see SmallValueCache). */
  cache?: SmallValueCache;
}

const defaultRegistry = new MaterializerRegistry();

function describe(m: Materializer<any>): string {
  return `'${m.name}' (version ${m.version})`;
}

/** Re-raises an error from a materializer with its name and the failed step in the message. */
function materializerFailure(m: Materializer<any>, action: string, e: unknown): FlywheelError {
  const reason = e instanceof Error ? e.message : String(e);
  const code: ErrorCode = e instanceof FlywheelError ? e.code : 'INTERNAL_ERROR';
  return new FlywheelError(code, `Materializer ${describe(m)} failed to ${action}: ${reason}`, { cause: e });
}

/** A materializer given as an object is used only for values it accepts, as a named one is. */
function checkedMaterializer(m: Materializer<any>, value: unknown): Materializer<any> {
  let ok: boolean;
  try {
    ok = m.canHandle(value);
  } catch (e) {
    throw materializerFailure(m, 'check the value (canHandle)', e);
  }
  if (!ok) throw new FlywheelError('INVALID_PARAMETER_VALUE', `Materializer '${m.name}' cannot handle a value of type ${describeValue(value)}`);
  return m;
}

/** What `materializeToDirectory` wrote. */
export interface MaterializedValue {
  type: string;
  materializer: { name: string; version: string };
  visualizations: Visualization[];
}

/**
 * Writes `value` into `dir` (an existing empty directory) with its materializer (named, given, or chosen by
 * `canHandle`) and computes the materializer's visualizations. Nothing is stored.
 */
export async function materializeToDirectory(
  value: unknown,
  dir: string,
  options: Omit<SaveOutputOptions, 'repo'> = {},
): Promise<MaterializedValue> {
  const m = chooseMaterializer(value, options);
  try {
    await m.save(value, dir);
  } catch (e) {
    throw materializerFailure(m, `save a value of type ${describeValue(value)}`, e);
  }
  let visualizations: Visualization[] = [];
  if (m.visualize) {
    try {
      visualizations = await m.visualize(value, dir);
    } catch (e) {
      throw materializerFailure(m, 'visualize the value', e);
    }
  }
  return { type: m.type, materializer: { name: m.name, version: m.version }, visualizations };
}

function chooseMaterializer(value: unknown, options: Omit<SaveOutputOptions, 'repo'>): Materializer<any> {
  const registry = options.registry ?? defaultRegistry;
  return typeof options.materializer === 'object'
    ? checkedMaterializer(options.materializer, value)
    : registry.select(value, options.materializer);
}

/**
 * Stores `value` content-addressed in `repo` and describes it: serialized in memory when its materializer
 * has `inMemory` (hashed and written straight to its place), else materialized into a temp directory first.
 */
export async function saveOutput(value: unknown, options: SaveOutputOptions): Promise<OutputRecord> {
  const m = chooseMaterializer(value, options);
  if (m.inMemory) {
    let bytes: Buffer;
    try {
      bytes = m.inMemory.encode(value);
    } catch (e) {
      throw materializerFailure(m, `save a value of type ${describeValue(value)}`, e);
    }
    let visualizations: Visualization[] = [];
    if (m.visualize) {
      try {
        visualizations = await m.visualize(value, '');
      } catch (e) {
        throw materializerFailure(m, 'visualize the value', e);
      }
    }
    const stored = await new ContentAddressedStore(options.repo).putBytes([{ path: m.inMemory.file, bytes }]);
    options.cache?.set(stored.hash, bytes);
    return { hash: stored.hash, size: stored.size, uri: stored.uri, type: m.type, materializer: { name: m.name, version: m.version }, visualizations };
  }
  const dir = await mkdtemp(join(tmpdir(), 'flywheel-output-'));
  try {
    const described = await materializeToDirectory(value, dir, { ...options, materializer: m });
    const stored = await new ContentAddressedStore(options.repo).put(dir);
    return { hash: stored.hash, size: stored.size, uri: stored.uri, ...described };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Downloads a stored output (checking its hash) and loads it with the materializer that saved it. */
export async function loadOutput<T = unknown>(
  record: Pick<OutputRecord, 'hash' | 'materializer'>,
  repo: ArtifactRepository,
  options: LoadOutputOptions = {},
): Promise<T> {
  const registry = options.registry ?? defaultRegistry;
  const m = registry.get(record.materializer.name);
  if (major(m.version) !== major(record.materializer.version)) {
    throw new FlywheelError(
      'INVALID_STATE',
      `Artifact ${record.hash} was saved by materializer '${m.name}' version ${record.materializer.version}; ` +
        `the registered one is version ${m.version} and cannot read it`,
    );
  }
  if (m.inMemory && options.destDir === undefined) {
    const codec = m.inMemory;
    let bytes = options.cache?.get(record.hash);
    if (!bytes) {
      bytes = await new ContentAddressedStore(repo).readSingleFile(record.hash, codec.file);
      if (bytes) options.cache?.set(record.hash, bytes);
    }
    // Stored as other files than the codec's (a custom materializer's older layout): load from a directory.
    if (bytes) {
      try {
        return codec.decode(bytes) as T;
      } catch (e) {
        throw materializerFailure(m, `load artifact ${record.hash}`, e);
      }
    }
  }
  const dir = options.destDir ?? (await mkdtemp(join(tmpdir(), 'flywheel-input-')));
  const ownsDir = options.destDir === undefined;
  let keep = false;
  try {
    await new ContentAddressedStore(repo).get(record.hash, dir);
    let value: T;
    try {
      value = (await m.load(dir)) as T;
    } catch (e) {
      throw materializerFailure(m, `load artifact ${record.hash}`, e);
    }
    keep = m.keepsFiles === true;
    return value;
  } finally {
    if (ownsDir && !keep) await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Loads a value from a directory holding a stored artifact's files (already checked against its hash) with
 * the materializer that saved it.
 */
export async function loadFromDirectory<T = unknown>(
  materializer: { name: string; version: string },
  dir: string,
  registry: MaterializerRegistry = defaultRegistry,
): Promise<{ value: T; keepsFiles: boolean }> {
  const m = registry.get(materializer.name);
  if (major(m.version) !== major(materializer.version)) {
    throw new FlywheelError(
      'INVALID_STATE',
      `The artifact was saved by materializer '${m.name}' version ${materializer.version}; the registered one is version ${m.version} and cannot read it`,
    );
  }
  try {
    return { value: (await m.load(dir)) as T, keepsFiles: m.keepsFiles === true };
  } catch (e) {
    throw materializerFailure(m, `load the artifact in '${dir}'`, e);
  }
}

function major(version: string): string {
  return version.split('.')[0];
}

/**
 * Which model serves now, and hot swaps. A request leases the current model and returns the lease when
 * answered; a swap loads and warms the new version first, then replaces the current model in one
 * assignment (JavaScript runs it atomically), and the old model is closed only when its last lease returns.
 * So in-flight requests finish on the model they started on and no request fails during a switch.
 *
 * When the URI names a moving target (`models:/fraud@champion`, a stage, `latest`), the registry is polled;
 * a registry that is down or a version that fails to load is logged and retried at the next poll while the
 * last good model keeps serving.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { Flywheel } from '../client/flywheel.js';
import { parseModelUri, type ParsedModelUri } from '../client/model-uri.js';
import { FlywheelError } from '../core/index.js';
import type { ServingMetrics } from './metrics.js';
import type { ModelIdentity, ServingModel } from './serving-model.js';

/** Where models come from: a local directory, or any URI the SDK client resolves. */
export class ModelSource {
  readonly parsed: ParsedModelUri;
  private clientPromise: Promise<Flywheel> | undefined;

  constructor(readonly uri: string, private readonly clientOptions: { client?: Flywheel; trackingUri?: string }) {
    this.parsed = parseModelUri(uri);
  }

  /** True when the URI names a target that moves (alias, stage, latest). */
  get follows(): boolean {
    return this.parsed.kind === 'alias' || this.parsed.kind === 'stage' || this.parsed.kind === 'latest';
  }

  private client(): Promise<Flywheel> {
    if (this.clientOptions.client) return Promise.resolve(this.clientOptions.client);
    // A check that fails is retried at the next poll anyway: fail fast rather than back off for seconds.
    this.clientPromise ??= Promise.resolve(new Flywheel({ trackingUri: this.clientOptions.trackingUri, maxRetries: 1, timeoutMs: 30_000 }));
    return this.clientPromise;
  }

  /** A local model directory named by a plain path or a file: URI, if that is what the URI is. */
  private async localDir(): Promise<string | undefined> {
    if (this.parsed.kind !== 'artifact') return undefined;
    const uri = this.parsed.uri;
    const p = uri.startsWith('file:') ? fileURLToPath(uri) : /^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri) ? undefined : uri;
    if (!p) return undefined;
    const s = await stat(p).catch(() => undefined);
    return s?.isDirectory() ? path.resolve(p) : undefined;
  }

  /** The registered name and version the URI names now (a registry call for aliases, stages, latest). */
  async resolve(): Promise<{ name: string; version: string } | null> {
    const p = this.parsed;
    if (p.kind === 'version') return { name: p.name, version: p.version };
    if (p.kind !== 'alias' && p.kind !== 'stage' && p.kind !== 'latest') return null;
    const registry = await (await this.client()).registry();
    if (p.kind === 'alias') return { name: p.name, version: (await registry.getModelVersionByAlias(p.name, p.alias)).version };
    const versions = await registry.getLatestVersions(p.name, p.kind === 'stage' ? [p.stage] : []);
    const best = versions
      .filter((v) => p.kind !== 'stage' || v.current_stage.toLowerCase() === p.stage.toLowerCase())
      .sort((a, b) => Number(b.version) - Number(a.version))[0];
    if (!best) throw new FlywheelError('RESOURCE_DOES_NOT_EXIST', `Registered model '${p.name}' has no version ${p.kind === 'stage' ? `in stage '${p.stage}'` : 'at all'}.`);
    return { name: p.name, version: best.version };
  }

  /** The identity of a resolved version (or of the URI itself when it is not a registry URI). */
  identity(resolved: { name: string; version: string } | null): ModelIdentity {
    if (resolved) return { name: resolved.name, registeredName: resolved.name, version: resolved.version, uri: this.uri };
    const p = this.parsed;
    const base = p.kind === 'run' ? p.path.split('/').pop() || p.runId : p.kind === 'logged-model' ? p.modelId : path.basename(this.uri.replace(/\/+$/, ''));
    return { name: base || 'model', registeredName: null, version: null, uri: this.uri };
  }

  /** Downloads the model (the resolved version, so an alias moving meanwhile cannot mix versions). */
  async fetch(resolved: { name: string; version: string } | null): Promise<{ dir: string; cleanup(): Promise<void> }> {
    const local = resolved ? undefined : await this.localDir();
    if (local) return { dir: local, cleanup: async () => undefined };
    const tmp = await mkdtemp(path.join(tmpdir(), 'flywheel-serve-'));
    const cleanup = () => rm(tmp, { recursive: true, force: true });
    try {
      const uri = resolved ? `models:/${resolved.name}/${resolved.version}` : this.uri;
      const dir = await (await this.client()).downloadModel(uri, tmp);
      return { dir, cleanup };
    } catch (e) {
      await cleanup();
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.clientOptions.client || !this.clientPromise) return;
    await (await this.clientPromise).close();
  }
}

interface Slot {
  model: ServingModel;
  leases: number;
  retired: boolean;
}

export type LoadFn = (dir: string, identity: ModelIdentity) => Promise<ServingModel>;

export interface HolderEvents {
  swapped?(from: ModelIdentity, to: ModelIdentity): void;
}

export type CheckOutcome = 'unchanged' | 'swapped' | 'failed';

export class ModelHolder {
  private slot!: Slot;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<CheckOutcome> | undefined;
  private closed = false;
  /** The version that failed last, so repeated failures of the same version are logged once per change. */
  private lastFailure: string | undefined;

  private constructor(
    private readonly source: ModelSource,
    private readonly load: LoadFn,
    private readonly metrics: ServingMetrics,
    private readonly logger: Logger,
    private readonly events: HolderEvents,
  ) {}

  /** Loads the first model; any failure here is the caller's (the server does not start). */
  static async open(source: ModelSource, load: LoadFn, metrics: ServingMetrics, logger: Logger, events: HolderEvents = {}): Promise<ModelHolder> {
    const holder = new ModelHolder(source, load, metrics, logger, events);
    holder.slot = { model: await holder.loadVersion(await source.resolve()), leases: 0, retired: false };
    holder.metrics.modelInfo.set(holder.labels(holder.slot.model.identity), 1);
    return holder;
  }

  get current(): ServingModel {
    return this.slot.model;
  }

  get follows(): boolean {
    return this.source.follows;
  }

  private labels(id: ModelIdentity) {
    return { model_name: id.name, model_version: id.version ?? '' };
  }

  private async loadVersion(resolved: { name: string; version: string } | null): Promise<ServingModel> {
    const started = performance.now();
    const identity = this.source.identity(resolved);
    const { dir, cleanup } = await this.source.fetch(resolved);
    try {
      const model = await this.load(dir, identity);
      this.metrics.loadSeconds.set({ model_version: identity.version ?? '' }, (performance.now() - started) / 1000);
      return model;
    } finally {
      await cleanup();
    }
  }

  /** Leases the current model for one request; give it back with `release`. */
  acquire(): Slot {
    const slot = this.slot;
    slot.leases++;
    return slot;
  }

  release(slot: Slot): void {
    slot.leases--;
    if (slot.retired && slot.leases === 0) this.dispose(slot);
  }

  private dispose(slot: Slot): void {
    slot.model.close().then(
      () => this.logger.info({ model_version: slot.model.identity.version }, 'released the previous model version'),
      (e: unknown) => this.logger.warn({ err: e }, 'closing the previous model version failed'),
    );
  }

  /** Swaps in `next` (already loaded and warmed); the old model closes when its last request is answered. */
  swap(next: ServingModel): void {
    const old = this.slot;
    this.slot = { model: next, leases: 0, retired: false };
    old.retired = true;
    this.metrics.swaps.inc();
    this.metrics.modelInfo.set(this.labels(old.model.identity), 0);
    this.metrics.modelInfo.set(this.labels(next.identity), 1);
    if (old.leases === 0) this.dispose(old);
    this.events.swapped?.(old.model.identity, next.identity);
  }

  /** One registry check (and swap when the target moved). Concurrent calls share one check. */
  check(): Promise<CheckOutcome> {
    this.checking ??= this.checkOnce().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkOnce(): Promise<CheckOutcome> {
    if (!this.source.follows || this.closed) return 'unchanged';
    let resolved;
    try {
      resolved = await this.source.resolve();
    } catch (e) {
      this.metrics.pollErrors.inc();
      this.logger.warn({ err: (e as Error).message }, `registry check of ${this.source.uri} failed; still serving version ${this.current.identity.version}`);
      return 'failed';
    }
    if (!resolved || resolved.version === this.current.identity.version) return 'unchanged';
    const from = this.current.identity.version;
    this.logger.info({ from_version: from, to_version: resolved.version }, `${this.source.uri} moved to version ${resolved.version}; loading it`);
    let next: ServingModel;
    try {
      next = await this.loadVersion(resolved);
    } catch (e) {
      this.metrics.loadFailures.inc({ stage: 'swap' });
      const key = resolved.version;
      const level = this.lastFailure === key ? 'debug' : 'error';
      this.lastFailure = key;
      this.logger[level]({ err: (e as Error).message, model_version: resolved.version }, `version ${resolved.version} failed to load; still serving version ${from} (retrying at the next check)`);
      return 'failed';
    }
    if (this.closed) {
      await next.close();
      return 'unchanged';
    }
    this.lastFailure = undefined;
    this.swap(next);
    this.logger.info({ from_version: from, to_version: resolved.version }, `now serving version ${resolved.version}`);
    return 'swapped';
  }

  startPolling(intervalMs: number): void {
    if (!this.source.follows || this.timer || intervalMs <= 0) return;
    const tick = () => {
      this.timer = setTimeout(() => void this.check().finally(() => !this.closed && tick()), intervalMs);
      this.timer.unref();
    };
    tick();
  }

  /** Stops polling and closes the current model (call after the HTTP server has drained). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.checking?.catch(() => undefined);
    const slot = this.slot;
    slot.retired = true;
    if (slot.leases === 0) await slot.model.close().catch(() => undefined);
    await this.source.close();
  }
}

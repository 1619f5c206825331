/**
 * `detectDrift` on several cores and off the caller's event loop. A 1M-row × 30-feature window costs ≈ 2 s of
 * CPU: run synchronously in the server it would stall every request for that long. The pool keeps worker
 * threads; each call sends every worker a share of the numeric features (their columns are copied, ≈ 8 MB per
 * million values) and computes the rest, categorical features included (their string arrays are costly to
 * copy), on the calling thread. Results are the same as `detectDrift`'s, feature for feature.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FlywheelError } from '../core/errors.js';
import { columnsLength, type Columns } from './columns.js';
import { DRIFT_DEFAULTS, driftFeatures, summarizeDrift, validateOptions, type DriftOptions, type DriftReference, type DriftReport, type FeatureDrift } from './drift.js';
import type { DriftTask, DriftTaskResult } from './drift-worker.js';

export interface DriftWorkerPoolOptions {
  /** Worker threads besides the calling thread (default: cores − 1, at least 1). */
  workers?: number;
}

/**
 * Built, the worker is drift-worker.js. Run from TypeScript sources (tests, tsx) it is a .ts file, which a
 * worker can only load after registering tsx's loader itself (a worker does not inherit it), so a two-line
 * bootstrap module does that first.
 */
function workerEntry(): URL {
  if (!import.meta.url.endsWith('.ts')) return new URL('./drift-worker.js', import.meta.url);
  // The ESM build of tsx's API (require.resolve finds the CommonJS one, which cannot register from here).
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL('./drift-worker.ts', import.meta.url).href;
  const bootstrap = `import { register } from ${JSON.stringify(tsxApi)};\nregister();\nawait import(${JSON.stringify(entry)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}

/**
 * Posting a Float64Array to a worker serialises and copies it, slowly (≈ 1 s for 12 columns of 1M values on the
 * dev machine); one `set` into shared memory (not copied again when posted) is far cheaper. Columns already in
 * shared memory are passed as they are.
 */
function shareable(values: Columns[string]): Columns[string] {
  if (!(values instanceof Float64Array) || values.buffer instanceof SharedArrayBuffer) return values;
  const shared = new Float64Array(new SharedArrayBuffer(values.byteLength));
  shared.set(values);
  return shared;
}

export class DriftWorkerPool {
  readonly #workers: Worker[];
  readonly #pending = new Map<number, { worker: Worker; resolve: (f: FeatureDrift[]) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #closed = false;

  constructor(options: DriftWorkerPoolOptions = {}) {
    const count = Math.max(1, options.workers ?? availableParallelism() - 1);
    this.#workers = Array.from({ length: count }, () => {
      const worker = new Worker(workerEntry());
      worker.on('message', (result: DriftTaskResult) => this.#settle(result));
      worker.on('error', (e) => this.#failAll(e));
      // A worker that dies (out of memory, terminated) would leave later calls waiting forever: stop taking work.
      worker.on('exit', () => {
        this.#closed = true;
        this.#failAll(new FlywheelError('INTERNAL_ERROR', 'a drift worker thread exited'));
      });
      worker.unref(); // idle workers do not keep the process alive; a task in flight refs its worker
      return worker;
    });
  }

  /** Same contract as `detectDrift`. */
  async detect(reference: DriftReference, current: Columns, options: DriftOptions = {}): Promise<DriftReport> {
    if (this.#closed) throw new FlywheelError('INVALID_STATE', 'the drift worker pool is closed');
    validateOptions(options);
    const names = [...(options.features ?? Object.keys(reference.features).filter((n) => n !== options.prediction))];
    const currentRows = columnsLength(current);
    // Numeric features round-robin over [this thread, worker 1, …]; everything else stays here.
    const shares: string[][] = Array.from({ length: this.#workers.length + 1 }, () => []);
    let next = 0;
    for (const name of names) {
      const numeric = reference.features[name]?.type === 'numeric' && current[name] !== undefined;
      shares[numeric ? next++ % shares.length : 0].push(name);
    }
    const remote = this.#workers.map((worker, i) => this.#run(worker, reference, current, shares[i + 1], options, currentRows));
    const local = driftFeatures(reference, current, shares[0], options, currentRows);
    const prediction = options.prediction !== undefined ? driftFeatures(reference, current, [options.prediction], options, currentRows)[0] : undefined;
    const byName = new Map<string, FeatureDrift>(local.map((f) => [f.feature, f]));
    for (const features of await Promise.all(remote)) for (const f of features) byName.set(f.feature, f);
    const features = names.map((n) => byName.get(n) as FeatureDrift);
    return summarizeDrift(features, prediction, reference.rows, currentRows, options.driftShare ?? DRIFT_DEFAULTS.driftShare);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
    this.#failAll(new Error('the drift worker pool was closed'));
  }

  #run(worker: Worker, reference: DriftReference, current: Columns, names: string[], options: DriftOptions, currentRows: number): Promise<FeatureDrift[]> {
    if (!names.length) return Promise.resolve([]);
    const id = this.#nextId++;
    const task: DriftTask = {
      id,
      names,
      options,
      currentRows,
      reference: { rows: reference.rows, features: Object.fromEntries(names.filter((n) => reference.features[n]).map((n) => [n, reference.features[n]])) },
      current: Object.fromEntries(names.filter((n) => current[n] !== undefined).map((n) => [n, shareable(current[n])])),
    };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { worker, resolve, reject });
      worker.ref();
      worker.postMessage(task);
    });
  }

  #settle(result: DriftTaskResult): void {
    const pending = this.#pending.get(result.id);
    if (!pending) return;
    this.#pending.delete(result.id);
    if (![...this.#pending.values()].some((p) => p.worker === pending.worker)) pending.worker.unref();
    if ('error' in result) pending.reject(new FlywheelError('INTERNAL_ERROR', `drift worker failed: ${result.error}`));
    else pending.resolve(result.features);
  }

  #failAll(e: Error): void {
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(e);
    }
  }
}

import { availableParallelism } from 'node:os';
import { format } from 'node:util';
import { newRunId } from '../core/ids.js';
import type { PipelineRunStatus, StepRunStatus } from '../store/schema.js';
import type { PipelineConfig, StepConfig } from './config.js';
import {
  DEFAULT_OUTPUT,
  isStepOutput,
  topologicalOrder,
  upstreamOf,
  type Params,
  type Pipeline,
  type PipelineGraph,
  type StepContext,
  type StepHookInfo,
  type StepNode,
  type StepOutput,
} from './dsl.js';
import { PipelineDefinitionError, StepCancelledError, StepTimeoutError } from './errors.js';
import type { CacheExplanation } from './cache/key.js';
import { InMemoryOutputStore, isCachingOutputStore, type OutputStore, type StoredOutput } from './output-store.js';
import type { PipelineRecorder } from './sql-pipeline-store.js';
import { CacheHashes, finalDecision, lookupCache, type CacheDecision } from './step-cache.js';

/** failFast: after a step fails, start nothing new (running steps finish; the rest are SKIPPED).
 * continueOnFailure: only steps downstream of a failed step are SKIPPED. */
export type FailureMode = 'failFast' | 'continueOnFailure';

/** Run-wide hooks, called after each step's own hooks. A hook that throws is logged, not fatal. */
export interface RunHooks {
  onSuccess?: (info: StepHookInfo, output: unknown) => void | Promise<void>;
  onFailure?: (info: StepHookInfo, error: Error) => void | Promise<void>;
}

export interface LocalRunOptions {
  /** Pipeline parameter overrides (then `config.parameters` on top). */
  params?: Params;
  config?: PipelineConfig;
  /** Where runs are recorded (`SqlPipelineStore`); without one nothing is recorded. */
  recorder?: PipelineRecorder;
  /** Default: an InMemoryOutputStore. */
  outputStore?: OutputStore;
  /** Steps running at once (default: os.availableParallelism()). */
  concurrency?: number;
  /** Default 'failFast'. */
  mode?: FailureMode;
  hooks?: RunHooks;
  /** Aborting it cancels the run: running steps are CANCELLED, pending ones SKIPPED, the run CANCELLED. */
  signal?: AbortSignal;
  /**
   * Cancel on SIGINT/SIGTERM, record, then re-raise the signal so the process exits as it would have
   * (default false; the CLI turns it on).
   */
  handleSignals?: boolean;
  /** Sweep runs left RUNNING by dead processes on this host before starting (default true). */
  sweepInterrupted?: boolean;
  /**
   * Step caching (default true). Active only with an output store that keeps content-addressed outputs
   * (`ArtifactOutputStore`) and a recorder that can look runs up (`SqlPipelineStore`). With `false` every
   * step runs; keys and explanations are still recorded.
   */
  cache?: boolean;
  /**
   * Progress as it happens (for a live view): `run-started` with the DAG, then a `step` event each time a
   * step changes state, then `run-finished`. Called synchronously; a listener that throws is ignored.
   */
  onProgress?: (event: ProgressEvent) => void;
}

export type ProgressEvent =
  | {
      type: 'run-started';
      pipelineRunId: string;
      pipelineName: string;
      /** Steps in topological order, each with the steps it waits for. */
      steps: { name: string; upstream: string[] }[];
      at: number;
    }
  | {
      type: 'step';
      name: string;
      status: 'RUNNING' | StepRunStatus;
      /** ms epoch of this change. */
      at: number;
      /** For a finished step: how long it ran (0 for CACHED/SKIPPED). */
      durationMs?: number;
      attempt?: number;
      error?: string | null;
      cache?: CacheExplanation;
    }
  | { type: 'run-finished'; pipelineRunId: string; status: Exclude<PipelineRunStatus, 'RUNNING'>; error: string | null; at: number };

export interface StepResult {
  name: string;
  status: StepRunStatus;
  stepRunId: string | null;
  attempts: number;
  error: string | null;
  /** Why the step hit or missed the cache (set when caching is active). */
  cache?: CacheExplanation;
}

export interface PipelineRunResult {
  pipelineRunId: string;
  trackingRunId: string | null;
  status: Exclude<PipelineRunStatus, 'RUNNING'>;
  error: string | null;
  steps: Record<string, StepResult>;
  /** What the pipeline function returned (handles). */
  returned: unknown;
  /** Loads the value behind a handle of a completed step (from the output store). */
  value<T>(handle: StepOutput<T>): Promise<T>;
}

const DONE_OK = new Set<StepRunStatus>(['COMPLETED', 'CACHED']);

/**
 * Builds and runs a pipeline in this process: steps in dependency order, independent ones in parallel up
 * to `concurrency`, with per-step retries (exponential backoff), timeouts and hooks. Every pipeline run
 * and step run is recorded through `recorder` as it progresses.
 *
 * A pipeline that cannot be built (cycle, bad reference, unknown parameter or config key) is recorded as
 * a FAILED pipeline run with the error, then the PipelineDefinitionError is thrown. Step failures do not
 * throw: the result's status is FAILED and each step's error is in `steps`.
 */
export async function runLocal<P extends Params, R>(
  p: Pipeline<P, R>,
  options: LocalRunOptions = {},
): Promise<PipelineRunResult> {
  const recorder: PipelineRecorder = options.recorder ?? new NullRecorder();
  const outputStore = options.outputStore ?? new InMemoryOutputStore();
  const mode = options.mode ?? 'failFast';
  const concurrency = options.concurrency ?? availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new PipelineDefinitionError(`concurrency must be a positive integer, got ${concurrency}`);
  if (mode !== 'failFast' && mode !== 'continueOnFailure') throw new PipelineDefinitionError(`mode must be 'failFast' or 'continueOnFailure', got '${String(mode)}'`);
  if (options.sweepInterrupted !== false) await recorder.sweepInterrupted();

  const requested: Params = { ...(options.params ?? {}), ...(options.config?.parameters ?? {}) };
  let graph: PipelineGraph;
  let order: StepNode[];
  try {
    graph = p.build(requested);
    order = topologicalOrder(graph);
    for (const name of Object.keys(options.config?.steps ?? {})) {
      if (!graph.nodes.some((n) => n.name === name)) {
        throw new PipelineDefinitionError(
          `config names unknown step '${name}' (steps: ${graph.nodes.map((n) => n.name).join(', ')})`,
        );
      }
    }
  } catch (e) {
    const run = await recorder.startPipelineRun(p.pipelineName, requested);
    await recorder.finishPipelineRun(run.id, run.trackingRunId, 'FAILED', errorText(e));
    throw e;
  }

  const run = await recorder.startPipelineRun(graph.name, graph.params);
  const emit = (e: ProgressEvent) => {
    try {
      options.onProgress?.(e);
    } catch {
      // a progress listener never breaks a run
    }
  };
  emit({
    type: 'run-started',
    pipelineRunId: run.id,
    pipelineName: graph.name,
    steps: order.map((n) => ({ name: n.name, upstream: upstreamOf(n) })),
    at: Date.now(),
  });
  const cancel = new AbortController();
  const onExternalAbort = () => cancel.abort(options.signal?.reason ?? 'aborted');
  if (options.signal?.aborted) onExternalAbort();
  options.signal?.addEventListener('abort', onExternalAbort, { once: true });
  let receivedSignal: NodeJS.Signals | null = null;
  const signalHandlers: [NodeJS.Signals, () => void][] = [];
  if (options.handleSignals) {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = () => {
        receivedSignal ??= sig;
        cancel.abort(`received ${sig}`);
      };
      process.on(sig, h);
      signalHandlers.push([sig, h]);
    }
  }

  const results = new Map<string, StepResult>();
  const stored = new Map<string, Record<string, StoredOutput>>();
  let failedFastAt: string | null = null;
  let internalError: unknown = null;

  const stepConfig = (name: string): StepConfig => options.config?.steps?.[name] ?? {};
  const cachingStore = isCachingOutputStore(outputStore) ? outputStore : null;
  const findCandidates = recorder.findCacheCandidates?.bind(recorder);
  const cacheHashes = new CacheHashes();

  const skip = async (node: StepNode, reason: string) => {
    const params = { ...node.params, ...(stepConfig(node.name).params ?? {}) };
    const r = await recorder.startStepRun({
      pipelineRunId: run.id,
      parentTrackingRunId: run.trackingRunId,
      stepName: node.name,
      status: 'SKIPPED',
      params,
      codeHash: node.definition.codeHash,
      inputs: node.inputs,
      error: reason,
    });
    results.set(node.name, { name: node.name, status: 'SKIPPED', stepRunId: r.id, attempts: 0, error: reason });
    emit({ type: 'step', name: node.name, status: 'SKIPPED', at: Date.now(), durationMs: 0, error: reason });
  };

  const execute = async (node: StepNode): Promise<void> => {
    const def = node.definition;
    const cfg = stepConfig(node.name);
    const retries = cfg.retries ?? def.options.retries ?? 0;
    const backoff = cfg.retryBackoffMs ?? def.options.retryBackoffMs ?? 100;
    const timeoutMs = cfg.timeoutMs ?? def.options.timeoutMs;
    const params = { ...node.params, ...(cfg.params ?? {}) };
    const inputRecord: Record<string, unknown> = {};
    for (const [k, ref] of Object.entries(node.inputs)) {
      const s = stored.get(ref.step)?.[ref.output];
      inputRecord[k] = { step: ref.step, output: ref.output, ...(s?.artifactVersionId ? { artifactVersionId: s.artifactVersionId } : {}) };
    }
    const logs: string[] = [];
    const log = (line: string) => logs.push(`${new Date().toISOString()} ${line}`);
    let decision: CacheDecision | null = null;
    if (cachingStore && findCandidates) {
      try {
        const inputHashes: Record<string, string> = {};
        for (const [k, ref] of Object.entries(node.inputs)) {
          inputHashes[k] = cachingStore.contentHash(stored.get(ref.step)![ref.output]!) ?? 'unknown';
        }
        const disabled =
          options.cache === false
            ? 'the run has cache: false'
            : cfg.cache === false
              ? 'the config sets cache: false for this step'
              : cfg.cache === undefined && def.options.cache === false
                ? 'the step declares cache: false'
                : undefined;
        const lookup = await lookupCache({
          pipelineName: graph.name,
          node,
          params,
          inputHashes,
          disabled,
          find: findCandidates,
          outputStore: cachingStore,
          hashes: cacheHashes,
        });
        decision = lookup.decision;
        if (lookup.hit) {
          const r = await recorder.startStepRun({
            pipelineRunId: run.id,
            parentTrackingRunId: run.trackingRunId,
            stepName: node.name,
            status: 'CACHED',
            params,
            codeHash: def.codeHash,
            inputs: inputRecord,
            cacheKey: decision.key,
            cacheDecision: decision,
            outputs: lookup.outputs,
          });
          for (const ref of Object.values(node.inputs)) {
            const avId = stored.get(ref.step)![ref.output]!.artifactVersionId;
            if (avId) await recorder.recordConsumer(avId, r.id);
          }
          stored.set(node.name, lookup.outputs);
          results.set(node.name, { name: node.name, status: 'CACHED', stepRunId: r.id, attempts: 0, error: null, cache: explanationOf(decision) });
          emit({ type: 'step', name: node.name, status: 'CACHED', at: Date.now(), durationMs: 0, cache: explanationOf(decision) });
          return;
        }
      } catch (e) {
        if (results.has(node.name)) throw e;
        decision = null;
        log(`cache lookup failed (running the step): ${errorText(e)}`);
      }
    }
    let stepRunId: string | null = null;
    let trackingRunId: string | null = null;
    let attempts = 0;
    let error: Error | null = null;
    let outputs: Record<string, StoredOutput> | null = null;
    let value: unknown;
    let startedAt = Date.now();
    try {
      const started = await recorder.startStepRun({
        pipelineRunId: run.id,
        parentTrackingRunId: run.trackingRunId,
        stepName: node.name,
        status: 'RUNNING',
        params,
        codeHash: def.codeHash,
        inputs: inputRecord,
        ...(decision ? { cacheKey: decision.key, cacheDecision: decision } : {}),
      });
      stepRunId = started.id;
      trackingRunId = started.trackingRunId;
      startedAt = Date.now();
      emit({ type: 'step', name: node.name, status: 'RUNNING', at: startedAt, attempt: 1 });

      const inputs: Record<string, unknown> = {};
      for (const [k, ref] of Object.entries(node.inputs)) {
        const producer = results.get(ref.step)!;
        inputs[k] = await outputStore.load(
          { pipeline: graph.name, pipelineRunId: run.id, stepRunId: producer.stepRunId!, step: ref.step, output: ref.output },
          stored.get(ref.step)![ref.output]!,
        );
        const avId = stored.get(ref.step)![ref.output]!.artifactVersionId;
        if (avId) await recorder.recordConsumer(avId, stepRunId);
      }

      const maxAttempts = 1 + retries;
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        attempts = attempt;
        if (attempt > 1) emit({ type: 'step', name: node.name, status: 'RUNNING', at: Date.now(), attempt });
        const ctx: Omit<StepContext, 'signal'> = {
          stepName: node.name,
          params,
          attempt,
          pipelineRunId: run.id,
          stepRunId,
          trackingRunId,
          log: (...args: unknown[]) => log(format(...args)),
          logMetric: async (key, v, step = 0) => {
            if (trackingRunId) await recorder.logMetric(trackingRunId, key, v, step);
          },
        };
        try {
          value = await runAttempt(node, inputs, ctx, timeoutMs, cancel.signal);
          checkOutputs(node, value);
          error = null;
          break;
        } catch (e) {
          error = asError(e);
          log(`attempt ${attempt}/${maxAttempts} failed: ${error.stack ?? errorText(error)}`);
          if (cancel.signal.aborted) break;
          if (attempt < maxAttempts) {
            const wait = backoff * 2 ** (attempt - 1);
            log(`retrying in ${wait} ms`);
            await sleep(wait, cancel.signal).catch(() => undefined);
            if (cancel.signal.aborted) break;
          }
        }
      }
      if (!error) {
        outputs = {};
        const values: Record<string, unknown> = def.outputs ? (value as Record<string, unknown>) : { [DEFAULT_OUTPUT]: value };
        for (const name of def.outputs ?? [DEFAULT_OUTPUT]) {
          outputs[name] = await outputStore.save({ pipeline: graph.name, pipelineRunId: run.id, stepRunId, step: node.name, output: name }, values[name]);
        }
      }
    } catch (e) {
      error = asError(e);
      log(`step failed: ${error.stack ?? errorText(error)}`);
    }
    const cancelled = error !== null && cancel.signal.aborted;
    const status: StepRunStatus = error === null ? 'COMPLETED' : cancelled ? 'CANCELLED' : 'FAILED';
    const info: StepHookInfo = { stepName: node.name, stepRunId: stepRunId ?? '', pipelineRunId: run.id, attempts };
    if (status === 'COMPLETED') {
      await callHook('onSuccess', def.options.onSuccess, info, value, log);
      await callHook('onSuccess (run)', options.hooks?.onSuccess, info, value, log);
    } else if (status === 'FAILED') {
      await callHook('onFailure', def.options.onFailure, info, error!, log);
      await callHook('onFailure (run)', options.hooks?.onFailure, info, error!, log);
    }
    const errText = error ? errorText(error) : null;
    if (decision && outputs && cachingStore) decision = finalDecision(decision, outputs, cachingStore);
    if (stepRunId) {
      try {
        await recorder.finishStepRun(stepRunId, trackingRunId, {
          status,
          outputs,
          logs: logs.join('\n'),
          error: errText,
          attempts,
          ...(decision ? { cacheKey: decision.key, cacheDecision: decision } : {}),
        });
      } catch (e) {
        internalError ??= e;
      }
    }
    if (outputs) stored.set(node.name, outputs);
    results.set(node.name, { name: node.name, status, stepRunId, attempts, error: errText, ...(decision ? { cache: explanationOf(decision) } : {}) });
    const now = Date.now();
    emit({
      type: 'step',
      name: node.name,
      status,
      at: now,
      durationMs: now - startedAt,
      attempt: attempts,
      error: errText,
      ...(decision ? { cache: explanationOf(decision) } : {}),
    });
    if (status === 'FAILED' && mode === 'failFast') failedFastAt ??= node.name;
  };

  const pending = new Set(order.map((n) => n.name));
  const byName = new Map(order.map((n) => [n.name, n]));
  const running = new Map<string, Promise<void>>();
  try {
    while (pending.size > 0 || running.size > 0) {
      // `pending` keeps topological order, so one pass propagates skips downstream.
      for (const name of [...pending]) {
        const node = byName.get(name)!;
        const ups = upstreamOf(node);
        const stop = cancel.signal.aborted
          ? `run cancelled (${String(cancel.signal.reason)})`
          : failedFastAt
            ? `not started: step '${failedFastAt}' failed (failFast)`
            : internalError
              ? 'not started: the run failed'
              : null;
        const badUp = ups.find((u) => results.has(u) && !DONE_OK.has(results.get(u)!.status));
        if (stop || badUp) {
          pending.delete(name);
          await skip(node, stop ?? `upstream step '${badUp}' ${results.get(badUp!)!.status.toLowerCase()}`);
          continue;
        }
        if (running.size >= concurrency || !ups.every((u) => results.has(u))) continue;
        pending.delete(name);
        running.set(
          name,
          execute(node).finally(() => running.delete(name)),
        );
      }
      if (running.size > 0) await Promise.race(running.values());
    }
  } catch (e) {
    internalError ??= e;
    await Promise.allSettled(running.values());
  }

  const failed = [...results.values()].filter((r) => r.status === 'FAILED');
  let status: PipelineRunResult['status'];
  let error: string | null = null;
  if (internalError) {
    status = 'FAILED';
    error = `orchestrator error: ${errorText(internalError)}`;
  } else if (cancel.signal.aborted) {
    status = 'CANCELLED';
    error = `cancelled: ${String(cancel.signal.reason)}`;
  } else if (failed.length > 0) {
    status = 'FAILED';
    error = failed.map((f) => `step '${f.name}' failed: ${f.error}`).join('; ');
  } else {
    status = 'COMPLETED';
  }
  try {
    await recorder.finishPipelineRun(run.id, run.trackingRunId, status, error);
    emit({ type: 'run-finished', pipelineRunId: run.id, status, error, at: Date.now() });
  } finally {
    options.signal?.removeEventListener('abort', onExternalAbort);
    for (const [sig, h] of signalHandlers) process.off(sig, h);
    if (receivedSignal) process.kill(process.pid, receivedSignal);
  }

  return {
    pipelineRunId: run.id,
    trackingRunId: run.trackingRunId,
    status,
    error,
    steps: Object.fromEntries(order.map((n) => [n.name, results.get(n.name)!])),
    returned: graph.returned,
    async value<T>(handle: StepOutput<T>): Promise<T> {
      if (!isStepOutput(handle)) throw new PipelineDefinitionError('value() takes a step output handle');
      const r = results.get(handle.step);
      const s = stored.get(handle.step)?.[handle.output];
      if (!r || !s) throw new PipelineDefinitionError(`step '${handle.step}' has no output '${handle.output}' in this run (status ${r?.status ?? 'unknown'})`);
      return (await outputStore.load({ pipeline: graph.name, pipelineRunId: run.id, stepRunId: r.stepRunId!, step: handle.step, output: handle.output }, s)) as T;
    },
  };
}

function explanationOf(d: CacheDecision): CacheExplanation {
  const { parts: _parts, previousStepRunId: _prev, ...explanation } = d;
  return explanation;
}

/** One attempt: the step function raced against its timeout and the run's cancellation. */
function runAttempt(
  node: StepNode,
  inputs: Record<string, unknown>,
  ctx: Omit<StepContext, 'signal'>,
  timeoutMs: number | undefined,
  cancel: AbortSignal,
): Promise<unknown> {
  const ac = new AbortController();
  const onCancel = () => ac.abort(new StepCancelledError(node.name, String(cancel.reason)));
  let timer: NodeJS.Timeout | undefined;
  return new Promise<unknown>((resolve, reject) => {
    ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true });
    if (cancel.aborted) return onCancel();
    cancel.addEventListener('abort', onCancel, { once: true });
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => ac.abort(new StepTimeoutError(node.name, timeoutMs)), timeoutMs);
    }
    Promise.resolve()
      .then(() => node.definition.fn(inputs, { ...ctx, signal: ac.signal }))
      .then(resolve, reject);
  }).finally(() => {
    clearTimeout(timer);
    cancel.removeEventListener('abort', onCancel);
  });
}

function checkOutputs(node: StepNode, value: unknown): void {
  const names = node.definition.outputs;
  if (!names) return;
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`step '${node.name}' declares outputs [${names.join(', ')}] but returned ${value === null ? 'null' : typeof value}`);
  }
  const missing = names.filter((n) => !(n in value));
  if (missing.length) throw new TypeError(`step '${node.name}' returned no value for output(s) ${missing.map((m) => `'${m}'`).join(', ')}`);
}

async function callHook<A>(
  what: string,
  hook: ((info: StepHookInfo, a: A) => void | Promise<void>) | undefined,
  info: StepHookInfo,
  arg: A,
  log: (line: string) => void,
): Promise<void> {
  if (!hook) return;
  try {
    await hook(info, arg);
  } catch (e) {
    log(`${what} hook failed: ${errorText(e)}`);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(typeof e === 'string' ? e : format('%o', e));
}

function errorText(e: unknown): string {
  const err = asError(e);
  return `${err.name}: ${err.message}`;
}

/** Records nothing; used when runLocal is given no recorder. */
class NullRecorder implements PipelineRecorder {
  async sweepInterrupted() {
    return [];
  }
  async startPipelineRun() {
    return { id: newRunId(), trackingRunId: null };
  }
  async finishPipelineRun() {}
  async startStepRun() {
    return { id: newRunId(), trackingRunId: null };
  }
  async finishStepRun() {}
  async logMetric() {}
  async recordConsumer() {}
}

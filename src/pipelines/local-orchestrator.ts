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
import type { CacheCandidate, PipelineRecorder, StartStepRunRequest } from './sql-pipeline-store.js';
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
  /**
   * Before starting, sweep runs left RUNNING by dead processes on this host, and by any host whose
   * heartbeat is stale (default true; see `SqlPipelineStore.sweepInterrupted`).
   */
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
  /** How often the run's heartbeat is written while it runs (default 10 s; see SqlPipelineStore's `staleAfterMs`). */
  heartbeatMs?: number;
  /** How often a running step's new log lines are written to its step run (default 1 s; also every 100 lines). */
  logFlushMs?: number;
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

/** How a step ended, for `StepContextExtras.onStepEnd`. */
export interface StepEnd {
  /** Its outputs were saved into a store that copies them (content-addressed): files they named may go. */
  outputsCopied: boolean;
  failed: boolean;
}

/**
 * What `runLocal` adds to a step's context beyond `StepContext` (read by `commandStep`; other orchestrators
 * may not provide them).
 */
export interface StepContextExtras {
  /** The experiment of the step's tracking run (MLFLOW_EXPERIMENT_ID for command steps). */
  experimentId: string | null;
  /** Called once the step's outputs are stored, or it failed (e.g. to remove a work directory). */
  onStepEnd(fn: (end: StepEnd) => void | Promise<void>): void;
}

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
const DEFAULT_HEARTBEAT_MS = 10_000;
/** A running step's log lines are written out when this many wait (else every `logFlushMs`). */
const LOG_FLUSH_LINES = 100;
/** CACHED/SKIPPED step runs wait at most this many, or this long, for one commit. */
const BATCH_MAX = 256;
const BATCH_MAX_WAIT_MS = 250;
/** Cache lookups at once (at least `concurrency`). */
const LOOKUP_CONCURRENCY = 8;

/**
 * Builds and runs a pipeline in this process: steps in dependency order, independent ones in parallel up
 * to `concurrency`, with per-step retries (exponential backoff), timeouts and hooks. Every pipeline run
 * and step run is recorded through `recorder` as it progresses.
 *
 * A pipeline that cannot be built (cycle, bad reference, unknown parameter or config key) is recorded as
 * a FAILED pipeline run with the error, then the PipelineDefinitionError is thrown. Step failures do not
 * throw: the result's status is FAILED and each step's error is in `steps`.
 *
 * Scheduling is event-driven: a step starts when its last upstream step is done. Cache lookups run beside
 * executing steps (at most max(concurrency, 8) at once; they only read). CACHED and SKIPPED step runs are
 * recorded in batches (one commit for up to 256; written when a step finishes 250 ms after the batch began,
 * every `logFlushMs`, before any step executes, and at the end) and reported once committed. While it runs, the run's heartbeat is written every `heartbeatMs` and each
 * running step's new log lines every `logFlushMs`.
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
  // One read for the latest keyed run of every step (instead of one per step).
  let prefetched: { byStep: Map<string, CacheCandidate>; complete: boolean } | null = null;
  if (cachingStore && findCandidates && recorder.latestCacheCandidates) {
    try {
      prefetched = await recorder.latestCacheCandidates(graph.name);
    } catch {
      prefetched = null; // each step then asks for its own
    }
  }
  // A fully cached run spends its time checking that the artifacts it reuses are intact: start those checks
  // (of each step's latest run, in dependency order, a few at a time) ahead of the lookups that await them.
  // Stops at the first miss: what runs downstream of it has new inputs.
  let checkAhead = prefetched !== null && cachingStore !== null && options.cache !== false;
  if (checkAhead) {
    const queue = order.flatMap((n) => Object.values(prefetched!.byStep.get(n.name)?.outputs ?? {}) as StoredOutput[]);
    const worker = async () => {
      for (let next = queue.shift(); next && checkAhead; next = queue.shift()) await cacheHashes.check(cachingStore!, next).catch(() => undefined);
    };
    for (let i = 0; i < LOOKUP_CONCURRENCY; i++) void worker();
  }
  const find: typeof findCandidates =
    findCandidates &&
    (async (pipelineName, stepName, key) => {
      if (prefetched && pipelineName === graph.name) {
        const latest = prefetched.byStep.get(stepName) ?? null;
        // No keyed run of this step at all: nothing can match either.
        if (!latest && prefetched.complete) return { match: null, latest: null };
        if (latest && key === '') return { match: null, latest };
        if (latest && key === latest.cacheKey) return { match: latest, latest };
      }
      return findCandidates(pipelineName, stepName, key);
    });

  // CACHED and SKIPPED steps are recorded in batches (one commit each), then reported.
  const batch: { req: StartStepRunRequest; name: string; event: ProgressEvent }[] = [];
  let batchSince = 0;
  let flushing: Promise<void> = Promise.resolve();
  const flushBatch = (): Promise<void> => {
    if (batch.length === 0) return flushing;
    const items = batch.splice(0);
    flushing = flushing.then(async () => {
      const ids = recorder.startStepRuns
        ? await recorder.startStepRuns(items.map((i) => i.req))
        : await sequentially(items.map((i) => () => recorder.startStepRun(i.req)));
      items.forEach((item, k) => {
        const r = results.get(item.name);
        if (r) r.stepRunId = ids[k]!.id;
        emit(item.event);
      });
    });
    return flushing;
  };
  const record = (name: string, req: StartStepRunRequest, result: StepResult, event: ProgressEvent) => {
    if (batch.length === 0) batchSince = Date.now();
    req.id ??= newRunId();
    results.set(name, { ...result, stepRunId: req.id });
    batch.push({ req, name, event });
    if (batch.length >= BATCH_MAX || Date.now() - batchSince >= BATCH_MAX_WAIT_MS) void flushBatch().catch((e) => (internalError ??= e));
  };

  const paramsOf = (node: StepNode): Params => ({ ...node.params, ...(stepConfig(node.name).params ?? {}) });
  const consumedBy = (node: StepNode): string[] =>
    Object.values(node.inputs)
      .map((ref) => stored.get(ref.step)?.[ref.output]?.artifactVersionId)
      .filter((a): a is string => typeof a === 'string');

  const skip = (node: StepNode, reason: string, propagate = true) => {
    if (results.has(node.name)) return;
    state.set(node.name, 'done');
    record(
      node.name,
      {
        pipelineRunId: run.id,
        parentTrackingRunId: run.trackingRunId,
        stepName: node.name,
        status: 'SKIPPED',
        params: paramsOf(node),
        codeHash: node.definition.codeHash,
        inputs: node.inputs,
        error: reason,
      },
      { name: node.name, status: 'SKIPPED', stepRunId: null, attempts: 0, error: reason },
      { type: 'step', name: node.name, status: 'SKIPPED', at: Date.now(), durationMs: 0, error: reason },
    );
    if (propagate) onDone(node);
  };

  // Logs of running steps, streamed to their step runs every `logFlushMs` (or sooner when many lines wait).
  const live = new Map<string, { stepRunId: string; unflushed: string[]; chain: Promise<void> }>();
  const flushLogs = (name: string) => {
    const l = live.get(name);
    if (!l || l.unflushed.length === 0 || !recorder.appendStepLogs) return;
    const text = l.unflushed.splice(0).map((line) => `${line}\n`).join('');
    l.chain = l.chain.then(() => recorder.appendStepLogs!(l.stepRunId, text)).catch(() => undefined);
  };
  const logFlushMs = options.logFlushMs ?? 1000;
  const logTimer = setInterval(() => {
    for (const name of live.keys()) flushLogs(name);
    if (batch.length) void flushBatch().catch((e) => (internalError ??= e));
  }, logFlushMs);
  logTimer.unref();
  const heartbeatTimer = setInterval(() => {
    void recorder.heartbeat?.(run.id).catch(() => undefined);
  }, options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  heartbeatTimer.unref();

  const stopReason = (): string | null =>
    cancel.signal.aborted
      ? `run cancelled (${String(cancel.signal.reason)})`
      : failedFastAt
        ? `not started: step '${failedFastAt}' failed (failFast)`
        : internalError
          ? 'not started: the run failed'
          : null;

  /** Returns true when the step was served from the cache (and recorded). */
  const tryCache = async (node: StepNode, params: Params, inputRecord: Record<string, unknown>, log: (l: string) => void): Promise<CacheDecision | true | null> => {
    if (!cachingStore || !find) return null;
    const def = node.definition;
    const cfg = stepConfig(node.name);
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
        find,
        outputStore: cachingStore,
        hashes: cacheHashes,
      });
      const decision = lookup.decision;
      if (!lookup.hit) {
        checkAhead = false;
        return decision;
      }
      stored.set(node.name, lookup.outputs);
      const explanation = explanationOf(decision);
      record(
        node.name,
        {
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
          consumes: consumedBy(node),
        },
        { name: node.name, status: 'CACHED', stepRunId: null, attempts: 0, error: null, cache: explanation },
        { type: 'step', name: node.name, status: 'CACHED', at: Date.now(), durationMs: 0, cache: explanation },
      );
      return true;
    } catch (e) {
      log(`cache lookup failed (running the step): ${errorText(e)}`);
      return null;
    }
  };

  const execute = async (node: StepNode): Promise<void> => {
    const def = node.definition;
    const cfg = stepConfig(node.name);
    const retries = cfg.retries ?? def.options.retries ?? 0;
    const backoff = cfg.retryBackoffMs ?? def.options.retryBackoffMs ?? 100;
    const timeoutMs = cfg.timeoutMs ?? def.options.timeoutMs;
    const params = paramsOf(node);
    const inputRecord: Record<string, unknown> = {};
    for (const [k, ref] of Object.entries(node.inputs)) {
      const s = stored.get(ref.step)?.[ref.output];
      inputRecord[k] = { step: ref.step, output: ref.output, ...(s?.artifactVersionId ? { artifactVersionId: s.artifactVersionId } : {}) };
    }
    const logs: string[] = [];
    let streamed: { unflushed: string[] } | null = null;
    const log = (line: string) => {
      const entry = `${new Date().toISOString()} ${line}`;
      logs.push(entry);
      if (streamed) {
        streamed.unflushed.push(entry);
        if (streamed.unflushed.length >= LOG_FLUSH_LINES) flushLogs(node.name);
      }
    };

    let decision: CacheDecision | null = null;
    const cached = await lookups.run(async () => {
      const stop = stopReason();
      return stop ? stop : tryCache(node, params, inputRecord, log);
    });
    if (typeof cached === 'string') return skip(node, cached);
    if (cached === true) return onDone(node);
    decision = cached;

    await slots.acquire();
    try {
      const stop = stopReason();
      if (stop) return skip(node, stop);
      // Steps recorded in a batch (CACHED upstream) are written before anything downstream of them runs.
      await flushBatch();
      await runStep(node, { params, inputRecord, logs, log, decision, retries, backoff, timeoutMs, stream: (s) => (streamed = s) });
    } finally {
      slots.release();
    }
    onDone(node);
  };

  const runStep = async (
    node: StepNode,
    a: {
      params: Params;
      inputRecord: Record<string, unknown>;
      logs: string[];
      log: (line: string) => void;
      decision: CacheDecision | null;
      retries: number;
      backoff: number;
      timeoutMs: number | undefined;
      stream: (s: { unflushed: string[] }) => void;
    },
  ): Promise<void> => {
    const def = node.definition;
    const { params, log, logs } = a;
    let decision = a.decision;
    let stepRunId: string | null = null;
    let trackingRunId: string | null = null;
    let attempts = 0;
    let error: Error | null = null;
    let outputs: Record<string, StoredOutput> | null = null;
    let value: unknown;
    let startedAt = Date.now();
    const endCallbacks: ((end: StepEnd) => void | Promise<void>)[] = [];
    try {
      const started = await recorder.startStepRun({
        pipelineRunId: run.id,
        parentTrackingRunId: run.trackingRunId,
        stepName: node.name,
        status: 'RUNNING',
        params,
        codeHash: def.codeHash,
        inputs: a.inputRecord,
        consumes: consumedBy(node),
        ...(decision ? { cacheKey: decision.key, cacheDecision: decision } : {}),
      });
      stepRunId = started.id;
      trackingRunId = started.trackingRunId;
      const experimentId = started.experimentId ?? null;
      const entry = { stepRunId, unflushed: [...logs], chain: Promise.resolve() };
      live.set(node.name, entry);
      a.stream(entry);
      startedAt = Date.now();
      emit({ type: 'step', name: node.name, status: 'RUNNING', at: startedAt, attempt: 1 });

      // Inputs load a few at a time (a fan-in step may take hundreds).
      const inputs: Record<string, unknown> = {};
      const inputLoads = new Semaphore(LOOKUP_CONCURRENCY);
      await Promise.all(
        Object.entries(node.inputs).map(([k, ref]) =>
          inputLoads.run(async () => {
            const producer = results.get(ref.step)!;
            inputs[k] = await outputStore.load(
              { pipeline: graph.name, pipelineRunId: run.id, stepRunId: producer.stepRunId!, step: ref.step, output: ref.output },
              stored.get(ref.step)![ref.output]!,
            );
          }),
        ),
      );
      // In declaration order, as before.
      const ordered = Object.fromEntries(Object.keys(node.inputs).map((k) => [k, inputs[k]]));

      const maxAttempts = 1 + a.retries;
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        attempts = attempt;
        if (attempt > 1) emit({ type: 'step', name: node.name, status: 'RUNNING', at: Date.now(), attempt });
        const ctx: Omit<StepContext, 'signal'> & StepContextExtras = {
          stepName: node.name,
          params,
          attempt,
          pipelineRunId: run.id,
          stepRunId,
          trackingRunId,
          // The step's tracking run's experiment (command steps pass it on as MLFLOW_EXPERIMENT_ID).
          experimentId,
          onStepEnd: (fn) => void endCallbacks.push(fn),
          log: (...args: unknown[]) => log(format(...args)),
          logMetric: async (key, v, step = 0) => {
            if (trackingRunId) await recorder.logMetric(trackingRunId, key, v, step);
          },
        };
        try {
          value = await runAttempt(node, ordered, ctx, a.timeoutMs, cancel.signal);
          checkOutputs(node, value);
          error = null;
          break;
        } catch (e) {
          error = asError(e);
          log(`attempt ${attempt}/${maxAttempts} failed: ${error.stack ?? errorText(error)}`);
          if (cancel.signal.aborted) break;
          if (attempt < maxAttempts) {
            const wait = a.backoff * 2 ** (attempt - 1);
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
    for (const fn of endCallbacks.splice(0)) {
      try {
        await fn({ outputsCopied: error === null && cachingStore !== null, failed: error !== null });
      } catch (e) {
        log(`step end callback failed: ${errorText(e)}`);
      }
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
    const streaming = live.get(node.name);
    live.delete(node.name);
    if (stepRunId) {
      try {
        // Streamed appends end before the final write, which holds the whole log.
        await streaming?.chain;
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

  // Event-driven scheduling: a step starts when its last upstream step is done (indegree 0); a step that
  // ends not COMPLETED/CACHED skips its downstream at once, or everything not started when the run stops.
  const byName = new Map(order.map((n) => [n.name, n]));
  const topoIndex = new Map(order.map((n, i) => [n.name, i]));
  const waitingFor = new Map<string, number>();
  const downstream = new Map<string, string[]>(order.map((n) => [n.name, []]));
  for (const n of order) {
    const ups = upstreamOf(n);
    waitingFor.set(n.name, ups.length);
    for (const u of ups) downstream.get(u)!.push(n.name);
  }
  const state = new Map<string, 'waiting' | 'started' | 'done'>(order.map((n) => [n.name, 'waiting']));
  const slots = new Semaphore(concurrency);
  // Cache lookups only read: they may run alongside executing steps (bounded apart from `concurrency`).
  const lookups = new Semaphore(Math.max(concurrency, LOOKUP_CONCURRENCY));
  const tasks = new Set<Promise<void>>();
  let wake: () => void = () => undefined;

  const start = (name: string) => {
    state.set(name, 'started');
    const task: Promise<void> = execute(byName.get(name)!)
      .catch((e) => {
        internalError ??= e;
      })
      .finally(() => {
        tasks.delete(task);
        wake();
      });
    tasks.add(task);
  };
  function onDone(node: StepNode): void {
    state.set(node.name, 'done');
    const r = results.get(node.name)!;
    const ok = DONE_OK.has(r.status);
    const stop = stopReason();
    if (stop) {
      for (const n of order) if (state.get(n.name) === 'waiting') skip(n, stop, false);
      return;
    }
    const ready: string[] = [];
    for (const d of downstream.get(node.name)!) {
      if (state.get(d) !== 'waiting') continue;
      if (!ok) {
        skip(byName.get(d)!, `upstream step '${node.name}' ${r.status.toLowerCase()}`);
        continue;
      }
      const left = waitingFor.get(d)! - 1;
      waitingFor.set(d, left);
      if (left === 0) ready.push(d);
    }
    ready.sort((x, y) => topoIndex.get(x)! - topoIndex.get(y)!);
    for (const d of ready) start(d);
  }

  try {
    const stop = stopReason();
    for (const n of order) {
      if (stop) skip(n, stop, false);
      else if (state.get(n.name) === 'waiting' && waitingFor.get(n.name) === 0) start(n.name);
    }
    while (tasks.size > 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      if (batch.length && Date.now() - batchSince >= BATCH_MAX_WAIT_MS) await flushBatch();
    }
  } catch (e) {
    internalError ??= e;
    await Promise.allSettled(tasks);
  }
  try {
    // After an orchestrator error, steps left without a result are recorded as not started.
    for (const n of order) if (!results.has(n.name)) skip(n, stopReason() ?? 'not started: the run failed', false);
    await flushBatch();
  } catch (e) {
    internalError ??= e;
  } finally {
    checkAhead = false;
    clearInterval(logTimer);
    clearInterval(heartbeatTimer);
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

/** Counts free places; waiters get them first come, first served. */
class Semaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

async function sequentially<T>(fns: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  for (const fn of fns) out.push(await fn());
  return out;
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

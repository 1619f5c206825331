/**
 * Pipelines: what the local orchestrator costs per step beyond the step's own work. 1,000 trivial steps
 * run with the real recorder (SqlPipelineStore with tracking runs) and the real ArtifactOutputStore (every
 * output an artifact version in a content-addressed repository), on a temporary SQLite store (or
 * FLYWHEEL_BENCH_STORE). Two shapes: a chain (each step takes the previous one's output) and a fan-out/
 * fan-in (one source, 998 independent steps, one sink taking all of them). Target: < 5 ms per step.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalArtifactRepository } from '../src/artifacts/index.js';
import {
  ArtifactOutputStore,
  pipeline,
  runLocal,
  SqlPipelineStore,
  step,
  type Pipeline,
  type PipelineRunResult,
  type StepFn,
  type StepOutput,
} from '../src/pipelines/index.js';
import { migrateToLatest, openStore, type Store } from '../src/store/index.js';
import { SqlTrackingStore } from '../src/tracking/index.js';
import { progress, report, round } from './stats.js';

export const STEPS = 1000;

type Steps = {
  source: StepFn<{}, StepOutput<number>, {}>;
  inc: StepFn<{ x: number }, StepOutput<number>, {}>;
  sum: StepFn<Record<string, number>, StepOutput<number>, {}>;
};

/**
 * The steps live in a module of their own with no local imports, as in a user's pipeline file that imports
 * Flywheel as a package: their code hash covers that file alone, not this repository's sources (which
 * others may be editing while the benchmark runs, turning the cached run into misses).
 */
const STEPS_MODULE = `export function define(step) {
  return {
    source: step('source', () => 0),
    inc: step('inc', (i) => i.x + 1),
    sum: step('sum', (i) => Object.values(i).reduce((a, b) => a + b, 0)),
  };
}
`;
/** Writes the steps module into `dir` (which lives as long as the bench environment) and defines its steps. */
async function definedSteps(dir: string): Promise<Steps> {
  const file = join(dir, 'steps.mjs');
  writeFileSync(file, STEPS_MODULE);
  const mod = (await import(pathToFileURL(file).href)) as { define(s: typeof step): Steps };
  return mod.define(step);
}

/** Names are unique per call, so a reused PostgreSQL database never serves the first run from its cache. */
const unique = () => Math.random().toString(36).slice(2, 8);

export function chainPipeline(env: BenchEnv, steps = STEPS): Pipeline<{}, StepOutput<number>> {
  const { source, inc } = env.steps;
  return pipeline(`bench-chain-${unique()}`, () => {
    let x = source();
    for (let i = 1; i < steps; i++) x = inc({ x });
    return x;
  });
}

export function fanPipeline(env: BenchEnv, steps = STEPS): Pipeline<{}, StepOutput<number>> {
  const { source, inc, sum } = env.steps;
  return pipeline(`bench-fan-${unique()}`, () => {
    const s = source();
    const mids: Record<string, StepOutput<number>> = {};
    for (let i = 0; i < steps - 2; i++) mids[`x${i}`] = inc({ x: s });
    return sum(mids);
  });
}

export interface BenchEnv {
  store: Store;
  /** Milliseconds spent inside the artifact store (save/load/check) and the recorder, summed over calls. */
  spent: { artifactStore: number; recorder: number };
  recorder: SqlPipelineStore;
  outputStore: ArtifactOutputStore;
  /** Which store: 'sqlite' or 'postgres'. */
  dialect: string;
  steps: Steps;
  close(): Promise<void>;
}

/** A fresh store (temporary SQLite file, or FLYWHEEL_BENCH_STORE) with the recorder and artifact store a CLI run uses. */
export async function benchEnv(): Promise<BenchEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'flywheel-bench-pipe-'));
  const store = openStore(process.env.FLYWHEEL_BENCH_STORE || `sqlite:${join(dir, 'flywheel.db')}`);
  await migrateToLatest(store);
  const tracking = new SqlTrackingStore(store, { defaultArtifactRoot: 'mlflow-artifacts:/' });
  const spent = { artifactStore: 0, recorder: 0 };
  const recorder = new SqlPipelineStore(store, tracking);
  const outputStore = new ArtifactOutputStore({ store, repository: new LocalArtifactRepository(join(dir, 'artifacts')) });
  timeCalls(outputStore, ['save', 'load', 'check'], (ms) => (spent.artifactStore += ms));
  timeCalls(recorder, ['startPipelineRun', 'finishPipelineRun', 'startStepRun', 'startStepRuns', 'finishStepRun', 'findCacheCandidates', 'latestCacheCandidates', 'sweepInterrupted'], (ms) => (spent.recorder += ms));
  return {
    store,
    spent,
    recorder,
    outputStore,
    dialect: store.dialect,
    steps: await definedSteps(dir),
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Wraps async methods of `obj` to add each call's duration to a sum (where the time goes, reported beside the total). */
function timeCalls(obj: object, methods: string[], add: (ms: number) => void): void {
  const o = obj as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const m of methods) {
    if (typeof o[m] !== 'function') continue;
    const original = o[m].bind(obj);
    o[m] = async (...args) => {
      const t = performance.now();
      try {
        return await original(...args);
      } finally {
        add(performance.now() - t);
      }
    };
  }
}

/** Runs `p` once and returns the wall time; throws unless every step ended with `expected`. */
export async function timedRun(
  env: BenchEnv,
  p: Pipeline<{}, StepOutput<number>>,
  expected: 'COMPLETED' | 'CACHED',
): Promise<{ ms: number; result: PipelineRunResult }> {
  env.spent.artifactStore = 0;
  env.spent.recorder = 0;
  const t = performance.now();
  const result = await runLocal(p, { recorder: env.recorder, outputStore: env.outputStore });
  const ms = performance.now() - t;
  const wrong = Object.values(result.steps).filter((s) => s.status !== expected);
  if (result.status !== 'COMPLETED' || wrong.length) {
    throw new Error(`bench run ${result.status}: ${wrong.length} steps not ${expected} (first: ${JSON.stringify(wrong[0])}) ${result.error ?? ''}`);
  }
  return { ms, result };
}

export async function run(): Promise<void> {
  const steps = Number(process.env.FLYWHEEL_BENCH_PIPELINE_STEPS ?? STEPS);
  const env = await benchEnv();
  try {
    // Warm-up: module loading, statement preparation, the code hash of this file's import graph.
    await timedRun(env, chainPipeline(env, 20), 'COMPLETED');
    for (const [shape, make] of [['chain', chainPipeline], ['fan-out/fan-in', fanPipeline]] as const) {
      progress(`${shape}: ${steps} steps`);
      const { ms } = await timedRun(env, make(env, steps), 'COMPLETED');
      report({
        bench: 'pipeline-overhead',
        shape,
        store: env.dialect,
        steps,
        total_ms: round(ms, 0),
        ms_per_step: round(ms / steps, 2),
        // Summed over calls (steps running at once overlap): what the artifact store and the recorder cost.
        artifact_store_ms_per_step: round(env.spent.artifactStore / steps, 2),
        recorder_ms_per_step: round(env.spent.recorder / steps, 2),
        target_ms_per_step: 5,
      });
    }
  } finally {
    await env.close();
  }
}

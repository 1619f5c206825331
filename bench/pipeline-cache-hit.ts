/**
 * Pipelines: resolving a fully cached 1,000-step pipeline. The pipeline of `pipeline-overhead` runs once
 * (every step executes), then again untouched: every step's key is computed, its previous run found and
 * its artifacts verified, and it is recorded CACHED. The second run is timed. Target: < 2 s in total.
 */
import { benchEnv, chainPipeline, fanPipeline, STEPS, timedRun } from './pipeline-overhead.js';
import { progress, report, round } from './stats.js';

export async function run(): Promise<void> {
  const steps = Number(process.env.FLYWHEEL_BENCH_PIPELINE_STEPS ?? STEPS);
  const env = await benchEnv();
  try {
    for (const [shape, make] of [['chain', chainPipeline], ['fan-out/fan-in', fanPipeline]] as const) {
      const p = make(env, steps);
      progress(`${shape}: first run (${steps} steps execute)`);
      const first = await timedRun(env, p, 'COMPLETED');
      progress(`${shape}: second run (all cached)`);
      const { ms } = await timedRun(env, p, 'CACHED');
      report({
        bench: 'pipeline-cache-hit',
        shape,
        store: env.dialect,
        steps,
        first_run_ms: round(first.ms, 0),
        total_ms: round(ms, 0),
        ms_per_step: round(ms / steps, 2),
        artifact_store_ms: round(env.spent.artifactStore, 0),
        recorder_ms: round(env.spent.recorder, 0),
        target_total_ms: 2000,
      });
    }
  } finally {
    await env.close();
  }
}

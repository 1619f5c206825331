import { Flywheel, artifactLocation, step, type ModelDirectory } from 'flywheel';
import type { Evaluation } from './evaluate.js';

export type RegisterOutcome =
  | { registered: true; name: string; version: string; source: string; accuracy: number }
  | { registered: false; reason: string; accuracy: number };

/**
 * Registers the model when its accuracy reaches `threshold`. The version's source is the model artifact's own
 * location and its run is this step's tracking run, so the registry's lineage leads back into the pipeline.
 */
export const register = step(
  'register',
  async (inputs: { model: ModelDirectory; metrics: Evaluation }, ctx): Promise<RegisterOutcome> => {
    const { accuracy } = inputs.metrics;
    const { threshold, modelName } = ctx.params;
    if (!(accuracy >= threshold)) {
      const reason = `accuracy ${accuracy.toFixed(4)} is below the threshold ${threshold}: not registered`;
      ctx.log(reason);
      return { registered: false, reason, accuracy };
    }
    // `flywheel pipeline run` points FLYWHEEL_TRACKING_URI at its store (and the artifact root beside it).
    const fw = new Flywheel({ trackingUri: process.env.FLYWHEEL_TRACKING_URI });
    try {
      const source = await artifactLocation(inputs.model.path);
      const mv = await fw.registerModel(source, modelName, {
        ...(ctx.trackingRunId ? { runId: ctx.trackingRunId } : {}),
        description: `accuracy ${accuracy.toFixed(4)} (threshold ${threshold}), pipeline run ${ctx.pipelineRunId}`,
        tags: { 'flywheel.pipelineRunId': ctx.pipelineRunId, accuracy: String(accuracy) },
      });
      ctx.log(`registered ${modelName} version ${mv.version} from ${source}`);
      return { registered: true, name: modelName, version: mv.version, source, accuracy };
    } finally {
      await fw.close();
    }
  },
  { params: { threshold: 0.8, modelName: 'training-example' } },
);

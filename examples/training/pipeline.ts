/**
 * A training pipeline: load data → split → train → evaluate → register the model if it beats a threshold.
 *
 *   npx flywheel pipeline run examples/training/pipeline.ts
 *   npx flywheel pipeline run examples/training/pipeline.ts --param threshold=0.95 --explain-cache
 *
 * Each step lives in its own file so its cache key covers only the code it uses: editing model.ts re-runs
 * train, evaluate and register; load and split come from the cache.
 */
import { pipeline } from 'flywheel';
import { evaluate } from './steps/evaluate.js';
import { load } from './steps/load.js';
import { register } from './steps/register.js';
import { split } from './steps/split.js';
import { train } from './steps/train.js';

export default pipeline(
  'training',
  (p) => {
    const data = load({}, { params: { rows: p.rows, seed: p.seed } });
    const { train: trainRows, test } = split({ data }, { params: { testFraction: p.testFraction, seed: p.seed } });
    const model = train({ train: trainRows }, { params: { epochs: p.epochs, learningRate: p.learningRate } });
    const metrics = evaluate({ model, test });
    return register({ model, metrics }, { params: { threshold: p.threshold, modelName: p.modelName } });
  },
  {
    params: {
      rows: 800,
      seed: 42,
      testFraction: 0.25,
      epochs: 300,
      learningRate: 0.5,
      threshold: 0.8,
      modelName: 'training-example',
    },
  },
);

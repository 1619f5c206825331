import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLogisticRegressionOnnx, saveModel, ModelDirectory, step } from 'flywheel';
import type { Dataset } from '../data.js';
import { fitLogisticRegression } from '../model.js';

/** Fits the model (model.ts) and saves it as an ONNX model directory: the output is a `model` artifact. */
export const train = step(
  'train',
  async (inputs: { train: Dataset }, ctx) => {
    const { features, labels, columns } = inputs.train;
    const losses: number[] = [];
    const fitted = fitLogisticRegression(features, labels, {
      epochs: ctx.params.epochs,
      learningRate: ctx.params.learningRate,
      l2: ctx.params.l2,
      onEpoch: (_epoch, loss) => losses.push(loss),
    });
    // A loss curve of ~20 points in the step's tracking run, and the final loss.
    for (let e = 0; e < losses.length; e += Math.max(1, Math.floor(losses.length / 20))) await ctx.logMetric('train_loss', losses[e], e + 1);
    await ctx.logMetric('train_loss', losses[losses.length - 1], losses.length);
    const dir = join(await mkdtemp(join(tmpdir(), 'flywheel-example-model-')), 'model');
    await saveModel(
      dir,
      { flavor: 'onnx', onnx: buildLogisticRegressionOnnx({ coefficients: fitted.weights, intercept: fitted.bias }) },
      { signature: { inputs: columns.map((name) => ({ type: 'double' as const, name, required: true })) } },
    );
    ctx.log(`weights ${fitted.weights.map((w) => w.toFixed(3)).join(', ')}; bias ${fitted.bias.toFixed(3)}`);
    return new ModelDirectory(dir);
  },
  { params: { epochs: 300, learningRate: 0.5, l2: 0.001 } },
);

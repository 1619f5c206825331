import { loadModelFromDirectory, step, type ModelDirectory } from 'flywheel';
import type { Dataset } from '../data.js';

export interface Evaluation {
  accuracy: number;
  auc: number;
  n: number;
}

/** Area under the ROC curve: the chance a random positive scores above a random negative (ties count half). */
export function rocAuc(scores: number[], labels: number[]): number {
  const pairs = scores.map((s, i) => [s, labels[i]] as const).sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < pairs.length; ) {
    let j = i;
    while (j < pairs.length && pairs[j][0] === pairs[i][0]) j++;
    const meanRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (pairs[k][1] === 1) (rankSum += meanRank), positives++;
    i = j;
  }
  const negatives = pairs.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Scores the saved ONNX model (as it will be served) on the held-out rows; metrics go to the step's run. */
export const evaluate = step('evaluate', async (inputs: { model: ModelDirectory; test: Dataset }, ctx): Promise<Evaluation> => {
  const { test } = inputs;
  const model = await loadModelFromDirectory(inputs.model.path);
  try {
    const rows = test.features.map((x) => Object.fromEntries(test.columns.map((c, j) => [c, x[j]])));
    const predictions = (await model.predict(rows)) as { label: number; probabilities: number[] }[];
    const correct = predictions.filter((p, i) => Number(p.label) === test.labels[i]).length;
    const result: Evaluation = {
      accuracy: correct / test.labels.length,
      auc: rocAuc(predictions.map((p) => p.probabilities[1]), test.labels),
      n: test.labels.length,
    };
    await ctx.logMetric('accuracy', result.accuracy);
    await ctx.logMetric('auc', result.auc);
    ctx.log(`accuracy ${result.accuracy.toFixed(4)}, AUC ${result.auc.toFixed(4)} on ${result.n} rows`);
    return result;
  } finally {
    await model.close();
  }
});

/**
 * Binary logistic regression trained by batch gradient descent, in plain TypeScript. Only the train step
 * imports this module: edit it (say, the learning-rate schedule) and `flywheel pipeline run` re-runs train
 * and the steps after it, while load and split come from the cache.
 */
export interface LogisticModel {
  weights: number[];
  bias: number;
}

export interface FitOptions {
  epochs: number;
  learningRate: number;
  /** L2 penalty on the weights. */
  l2: number;
  /** Called after each epoch with the mean log loss (for metrics). */
  onEpoch?: (epoch: number, loss: number) => void;
}

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

export function predictProbability(model: LogisticModel, x: number[]): number {
  let z = model.bias;
  for (let j = 0; j < x.length; j++) z += model.weights[j] * x[j];
  return sigmoid(z);
}

export function fitLogisticRegression(X: number[][], y: number[], options: FitOptions): LogisticModel {
  const n = X.length;
  const d = X[0]?.length ?? 0;
  const model: LogisticModel = { weights: new Array<number>(d).fill(0), bias: 0 };
  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const gw = new Array<number>(d).fill(0);
    let gb = 0;
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const p = predictProbability(model, X[i]);
      const err = p - y[i];
      for (let j = 0; j < d; j++) gw[j] += err * X[i][j];
      gb += err;
      loss -= y[i] * Math.log(Math.max(p, 1e-12)) + (1 - y[i]) * Math.log(Math.max(1 - p, 1e-12));
    }
    for (let j = 0; j < d; j++) model.weights[j] -= options.learningRate * (gw[j] / n + options.l2 * model.weights[j]);
    model.bias -= options.learningRate * (gb / n);
    options.onEpoch?.(epoch, loss / n);
  }
  return model;
}
